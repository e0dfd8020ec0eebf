package h1_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/serve"
)

// The benchmarks compare tlsgate's engine with net/http's server on the
// same handler over TLS on loopback (HTTP/1.1, keep-alive). The client is
// the same for both and runs in the process too, so ns/op and allocs/op
// include its share; the difference between the two is the servers'.
//
//	go test -run XXX -bench . -benchmem ./internal/serve/h1/

var benchBody = []byte("hello, world\n")

func benchHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	w.Write(benchBody)
}

func benchCerts(b testing.TB) []tls.Certificate {
	s := httptest.NewUnstartedServer(nil)
	s.StartTLS()
	defer s.Close()
	return s.TLS.Certificates
}

func benchServe(b testing.TB, own bool) (string, func()) {
	tc := &tls.Config{Certificates: benchCerts(b), NextProtos: []string{"http/1.1"}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var srv interface {
		Shutdown(context.Context) error
	}
	done := make(chan struct{})
	if own {
		s := &serve.Server{Handler: http.HandlerFunc(benchHandler), TLSConfig: tc}
		srv = s
		go func() { s.Serve(ln); close(done) }()
	} else {
		s := &http.Server{Handler: http.HandlerFunc(benchHandler), TLSConfig: tc}
		srv = s
		go func() { s.ServeTLS(ln, "", ""); close(done) }()
	}
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}
}

func dialTLS(b testing.TB, addr string) *tls.Conn {
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

var benchReq = []byte("GET /hello HTTP/1.1\r\nHost: a.test\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")

func benchRequests(b *testing.B, own bool) {
	addr, stop := benchServe(b, own)
	defer stop()
	c := dialTLS(b, addr)
	defer c.Close()
	br := bufio.NewReader(c)
	req, _ := http.NewRequest("GET", "/", nil)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := c.Write(benchReq); err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

func BenchmarkH1TLS(b *testing.B)      { benchRequests(b, true) }
func BenchmarkNetHTTPTLS(b *testing.B) { benchRequests(b, false) }

// idleBytes opens n TLS connections, answers one request on each, and
// reports the heap and stack they hold while idle, per connection (both
// ends: the client's *tls.Conn is counted too).
func idleBytes(b *testing.B, own bool) {
	const n = 300
	addr, stop := benchServe(b, own)
	defer stop()
	measure := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc + m.StackInuse
	}
	for b.Loop() {
		before := measure()
		conns := make([]*tls.Conn, 0, n)
		for range n {
			c := dialTLS(b, addr)
			c.Write(benchReq)
			resp, err := http.ReadResponse(bufio.NewReaderSize(c, 256), nil)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			conns = append(conns, c)
		}
		time.Sleep(100 * time.Millisecond) // let the servers park
		after := measure()
		b.ReportMetric(float64(after-before)/n, "B/idle-conn")
		for _, c := range conns {
			c.Close()
		}
	}
}

func BenchmarkH1IdleConn(b *testing.B)      { idleBytes(b, true) }
func BenchmarkNetHTTPIdleConn(b *testing.B) { idleBytes(b, false) }
