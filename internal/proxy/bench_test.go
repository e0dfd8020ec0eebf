package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkProxyRoundTrip measures one small request end to end: client →
// proxy (real listener) → httptest backend, with keep-alive on both sides.
// Allocations include the client, the proxy and the backend.
func BenchmarkProxyRoundTrip(b *testing.B) {
	payload := []byte("hello, world\n")
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(payload)
	}))
	defer backend.Close()
	h, err := New(Options{Upstreams: []string{backend.URL}})
	if err != nil {
		b.Fatal(err)
	}
	// The same route with every request on http.Transport, for comparison.
	std := NewTransport()
	std.SetLeanH1(false)
	hStd, err := New(Options{Upstreams: []string{backend.URL}, Transport: std})
	if err != nil {
		b.Fatal(err)
	}

	b.Run("network", func(b *testing.B) {
		srv := httptest.NewServer(h)
		defer srv.Close()
		c := srv.Client()
		b.ReportAllocs()
		for b.Loop() {
			resp, err := c.Get(srv.URL + "/x")
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatal(resp.Status)
			}
		}
	})

	// The same route without the fast path: ReverseProxy over the lean client.
	hRP, err := New(Options{Upstreams: []string{backend.URL}})
	if err != nil {
		b.Fatal(err)
	}
	hRP.fast = nil

	// handler: the proxy's ServeHTTP called directly, so only the proxy,
	// its transport and the backend count (the fast path, fast.go);
	// handler-rp: ReverseProxy over the lean client; handler-std:
	// ReverseProxy over http.Transport (lean_h1: false).
	for name, h := range map[string]http.Handler{"handler": h, "handler-rp": hRP, "handler-std": hStd} {
		b.Run(name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "http://app.test/x", nil)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, req)
			}
		})
	}
}

// discardWriter is a ResponseWriter that keeps nothing.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkFastPath compares the fast path (fast.go) with ReverseProxy over
// the same lean client and the same raw upstream, which answers from a
// fixed byte string, so the figures are the proxy's own work plus two
// loopback syscalls. ServeHTTP is called directly.
func BenchmarkFastPath(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	answer := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nServer: raw\r\nContent-Length: 13\r\n\r\nhello, world\n")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadSlice('\n')
					if err != nil {
						return
					}
					if len(line) == 2 {
						if _, err := c.Write(answer); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	opts := Options{Upstreams: []string{"http://" + ln.Addr().String()}}
	fast, err := New(opts)
	if err != nil {
		b.Fatal(err)
	}
	rp, err := New(opts)
	if err != nil {
		b.Fatal(err)
	}
	rp.fast = nil
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{{"fast", fast}, {"reverseproxy", rp}} {
		b.Run(tc.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "http://app.test/x?q=1", nil)
			req.Header.Set("User-Agent", "h2load nghttp2/1.64.0")
			req.Header.Set("Accept", "*/*")
			req.Header.Set("Accept-Encoding", "gzip, deflate")
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				clear(w.h)
				tc.h.ServeHTTP(w, req)
			}
			// The process's CPU time (proxy and upstream, user and
			// system) per request: steadier than wall time on a busy
			// machine.
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
		})
	}
}
