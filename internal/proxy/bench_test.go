package proxy

import (
	"io"
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
