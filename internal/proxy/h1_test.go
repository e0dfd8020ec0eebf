package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/config"
)

// bothPaths runs f with the lean transport and with plain http.Transport:
// the edge cases below must come out the same either way.
func bothPaths(t *testing.T, f func(t *testing.T, tr *Transport)) {
	t.Helper()
	for _, lean := range []bool{true, false} {
		name := "lean"
		if !lean {
			name = "std"
		}
		t.Run(name, func(t *testing.T) {
			tr := NewTransport()
			tr.SetLeanH1(lean)
			t.Cleanup(tr.CloseIdleConnections)
			f(t, tr)
		})
	}
}

// idleConns counts the lean path's idle connections.
func idleConns(tr *Transport) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	for _, p := range tr.pools {
		p.mu.Lock()
		for _, l := range p.idle {
			n += len(l)
		}
		p.mu.Unlock()
	}
	return n
}

// rawBackend accepts connections on a local port and runs serve on each;
// it returns the upstream URL and the number of connections accepted.
func rawBackend(t *testing.T, serve func(c net.Conn, br *bufio.Reader)) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				serve(c, bufio.NewReader(c))
			}()
		}
	}()
	return "http://" + ln.Addr().String(), &accepted
}

// countingBackend is an http.Server backend that counts connections.
func countingBackend(t *testing.T, h http.HandlerFunc) (string, *atomic.Int64) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	var conns atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL, &conns
}

func get(t *testing.T, c *http.Client, method, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, string(body)
}

// TestLeanStaleConnection: the upstream closes a pooled connection while
// it is idle; the next request must not fail, whatever its method.
func TestLeanStaleConnection(t *testing.T) {
	up, accepted := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		// Keep-alive as far as the headers go, then hang up.
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	bothPaths(t, func(t *testing.T, tr *Transport) {
		srv := frontend(t, Options{Upstreams: []string{up}, Transport: tr})
		before := accepted.Load()
		for i, method := range []string{"GET", "POST", "DELETE", "GET"} {
			if i > 0 {
				time.Sleep(20 * time.Millisecond) // let the FIN arrive
			}
			resp, body := get(t, srv.Client(), method, srv.URL+"/")
			if resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("%s #%d: %d %q", method, i, resp.StatusCode, body)
			}
		}
		if n := accepted.Load() - before; n != 4 {
			t.Errorf("%d upstream connections; want 4", n)
		}
	})
}

// TestLeanRetryAfterSilentClose: a pooled connection takes the request and
// is closed without an answer. A GET is sent again on a new connection; a
// POST may have been acted on and is not.
func TestLeanRetryAfterSilentClose(t *testing.T) {
	up, accepted := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		for i := 0; ; i++ {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			if i == 1 {
				return // the second request on a connection gets no answer
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	for _, tc := range []struct {
		method string
		want   int
	}{{"GET", 200}, {"POST", 502}} {
		t.Run(tc.method, func(t *testing.T) {
			bothPaths(t, func(t *testing.T, tr *Transport) {
				srv := frontend(t, Options{Upstreams: []string{up}, Transport: tr})
				c := srv.Client()
				if resp, _ := get(t, c, tc.method, srv.URL+"/"); resp.StatusCode != 200 {
					t.Fatalf("first %s: %d", tc.method, resp.StatusCode)
				}
				before := accepted.Load()
				resp, body := get(t, c, tc.method, srv.URL+"/")
				if resp.StatusCode != tc.want {
					t.Errorf("%s on a connection closed silently: %d %q; want %d", tc.method, resp.StatusCode, body, tc.want)
				}
				if strings.Contains(body, "EOF") {
					t.Errorf("Go error in the answer: %q", body)
				}
				if tc.want == 200 && accepted.Load() != before+1 {
					t.Errorf("the retry did not use a new connection")
				}
			})
		})
	}
}

// TestLeanBodiesAndReuse: responses without a body, chunked, large and
// close-delimited ones arrive whole, and the connection is reused exactly
// when the upstream allows it.
func TestLeanBodiesAndReuse(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	h := func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/head":
			w.Header().Set("Content-Length", "1000")
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.WriteHeader(http.StatusNotModified)
		case "/chunked":
			w.Header().Set("Trailer", "X-Sum")
			for i := range 3 {
				fmt.Fprintf(w, "part %d\n", i)
				w.(http.Flusher).Flush()
			}
			w.Header().Set("X-Sum", "3")
		case "/big":
			w.Write(big)
		case "/bigchunked":
			for off := 0; off < len(big); off += 1 << 20 {
				w.Write(big[off : off+1<<20])
				w.(http.Flusher).Flush()
			}
		case "/close":
			w.Header().Set("Connection", "close")
			io.WriteString(w, "bye")
		default:
			io.WriteString(w, "ok")
		}
	}
	up, conns := countingBackend(t, h)
	sum := sha256.Sum256(big)
	bothPaths(t, func(t *testing.T, tr *Transport) {
		srv := frontend(t, Options{Upstreams: []string{up}, Transport: tr})
		c := srv.Client()
		for _, tc := range []struct {
			method, path string
			status       int
			check        func(*http.Response, string) string
			newConn      bool // the next request needs a new upstream connection
		}{
			{"GET", "/", 200, nil, false},
			{"HEAD", "/head", 200, func(r *http.Response, b string) string {
				if r.ContentLength != 1000 || b != "" {
					return fmt.Sprintf("HEAD: length %d, body %q", r.ContentLength, b)
				}
				return ""
			}, false},
			{"GET", "/204", 204, nil, false},
			{"GET", "/304", 304, nil, false},
			{"GET", "/chunked", 200, func(r *http.Response, b string) string {
				if b != "part 0\npart 1\npart 2\n" || r.Trailer.Get("X-Sum") != "3" {
					return fmt.Sprintf("chunked: %q, trailer %v", b, r.Trailer)
				}
				return ""
			}, false},
			{"GET", "/big", 200, bigCheck(sum), false},
			{"GET", "/bigchunked", 200, bigCheck(sum), false},
			{"GET", "/close", 200, nil, true},
			{"GET", "/", 200, nil, false},
		} {
			before := conns.Load()
			resp, body := get(t, c, tc.method, srv.URL+tc.path)
			if resp.StatusCode != tc.status {
				t.Fatalf("%s %s: status %d; want %d", tc.method, tc.path, resp.StatusCode, tc.status)
			}
			if tc.check != nil {
				if msg := tc.check(resp, body); msg != "" {
					t.Error(msg)
				}
			}
			// The next request reuses the connection, unless the upstream
			// said Connection: close.
			get(t, c, "GET", srv.URL+"/")
			want := int64(0)
			if tc.newConn {
				want = 1
			}
			// http.Transport returns a connection to its pool on another
			// goroutine and may dial while that happens; only the lean
			// path's reuse is exact.
			if grew := conns.Load() - before; tr.LeanH1() && before > 0 && grew != want {
				t.Errorf("%s %s and a GET: %d new upstream connections; want %d", tc.method, tc.path, grew, want)
			}
		}
	})
}

func bigCheck(sum [32]byte) func(*http.Response, string) string {
	return func(_ *http.Response, b string) string {
		if sha256.Sum256([]byte(b)) != sum {
			return fmt.Sprintf("large body: %d bytes, checksum differs", len(b))
		}
		return ""
	}
}

// TestLeanCloseDelimited: an HTTP/1.0-style answer without a length ends
// when the upstream closes, and that connection is not pooled.
func TestLeanCloseDelimited(t *testing.T) {
	up, accepted := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close")
	})
	bothPaths(t, func(t *testing.T, tr *Transport) {
		srv := frontend(t, Options{Upstreams: []string{up}, Transport: tr})
		before := accepted.Load()
		for range 2 {
			if resp, body := get(t, srv.Client(), "GET", srv.URL+"/"); resp.StatusCode != 200 || body != "until close" {
				t.Fatalf("%d %q", resp.StatusCode, body)
			}
		}
		if n := accepted.Load() - before; n != 2 {
			t.Errorf("%d upstream connections; want 2", n)
		}
		if n := idleConns(tr); n != 0 {
			t.Errorf("%d idle connections; want 0", n)
		}
	})
}

// TestLeanEarlyHints: 103 reaches the client before the final answer.
func TestLeanEarlyHints(t *testing.T) {
	up := echoBackendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</app.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		io.WriteString(w, "ok")
	})
	bothPaths(t, func(t *testing.T, tr *Transport) {
		srv := frontend(t, Options{Upstreams: []string{up}, Transport: tr})
		var hints []string
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			hints = append(hints, fmt.Sprint(code, " ", h.Get("Link")))
			return nil
		}}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), "GET", srv.URL+"/", nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "ok" || len(hints) != 1 || hints[0] != "103 </app.css>; rel=preload" {
			t.Errorf("got %d %q, hints %q", resp.StatusCode, body, hints)
		}
	})
}

// TestLeanUnsolicitedUpgrade: a 101 nobody asked for is a bad gateway.
func TestLeanUnsolicitedUpgrade(t *testing.T) {
	up, _ := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		io.Copy(io.Discard, c)
	})
	bothPaths(t, func(t *testing.T, tr *Transport) {
		srv := frontend(t, Options{Upstreams: []string{up}, Transport: tr})
		if resp, body := get(t, srv.Client(), "GET", srv.URL+"/"); resp.StatusCode != 502 || body != string(badGatewayBody) {
			t.Errorf("%d %q; want 502", resp.StatusCode, body)
		}
	})
}

// TestLeanClientGoneClosesUpstream: when the client hangs up while the
// upstream is still working, the upstream connection is closed, so the
// upstream sees its request cancelled.
func TestLeanClientGoneClosesUpstream(t *testing.T) {
	for _, path := range []string{"/wait", "/stream"} {
		t.Run(path, func(t *testing.T) {
			got, gone := make(chan struct{}), make(chan struct{})
			up := echoBackendFunc(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/stream" {
					w.WriteHeader(200)
					w.(http.Flusher).Flush()
				}
				close(got)
				<-r.Context().Done()
				close(gone)
			})
			srv := frontend(t, Options{Upstreams: []string{up}, Transport: NewTransport()})
			ctx, cancel := context.WithCancel(t.Context())
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+path, nil)
			done := make(chan struct{})
			go func() {
				defer close(done)
				if resp, err := srv.Client().Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}()
			<-got
			cancel()
			select {
			case <-gone:
			case <-time.After(10 * time.Second):
				t.Fatal("the upstream request was not cancelled")
			}
			<-done
		})
	}
}

// TestLeanRequestBodies: requests with a body take the http.Transport
// path, including moving on from an upstream that refuses connections,
// and share the route with lean requests.
func TestLeanRequestBodies(t *testing.T) {
	live := echoBackend(t, "live")
	tr := NewTransport()
	t.Cleanup(tr.CloseIdleConnections)
	srv := frontend(t, Options{Upstreams: []string{deadUpstream(t), live.URL}, LB: config.LBFirst, Transport: tr})
	big := strings.Repeat("x", 1<<20)
	for i, body := range []string{"small", "", big, "again"} {
		method := "POST"
		if body == "" {
			method = "GET"
		}
		status, s, raw := do(t, srv.Client(), method, srv.URL+"/up", body, nil)
		if status != 200 || s.Name != "live" || s.Body != body || s.Method != method {
			t.Fatalf("request %d: %d %q from %q (%d body bytes)", i, status, raw[:min(len(raw), 80)], s.Name, len(s.Body))
		}
	}
}

// TestLeanUnixKeepAlive: unix socket upstreams use the lean path and keep
// their connection.
func TestLeanUnixKeepAlive(t *testing.T) {
	up := unixBackend(t, echoHandler("sock"))
	tr := NewTransport()
	t.Cleanup(tr.CloseIdleConnections)
	srv := frontend(t, Options{Upstreams: []string{up}, Transport: tr})
	for range 3 {
		if status, s, raw := do(t, srv.Client(), "GET", srv.URL+"/u", "", nil); status != 200 || s.Name != "sock" || s.URI != "/u" {
			t.Fatalf("%d %s", status, raw)
		}
		if n := idleConns(tr); n != 1 {
			t.Fatalf("%d idle connections; want 1", n)
		}
	}
}

// TestLeanIdleSweep: idle connections are closed after the idle timeout
// even when no request comes to notice.
func TestLeanIdleSweep(t *testing.T) {
	up, _ := countingBackend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	tr := NewTransport()
	tr.idleTimeout = 50 * time.Millisecond
	srv := frontend(t, Options{Upstreams: []string{up}, Transport: tr})
	get(t, srv.Client(), "GET", srv.URL+"/")
	if n := idleConns(tr); n != 1 {
		t.Fatalf("%d idle connections after a request; want 1", n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for idleConns(tr) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("idle connection never swept")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// And the pool still works afterwards.
	if resp, body := get(t, srv.Client(), "GET", srv.URL+"/"); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
}

// TestLeanNoGoroutineLeak: lean requests start no goroutine that outlives
// them, whether they end normally, early, or by cancellation.
func TestLeanNoGoroutineLeak(t *testing.T) {
	up := echoBackendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		io.WriteString(w, strings.Repeat("z", 100<<10))
	})
	tr := NewTransport()
	h, err := New(Options{Upstreams: []string{up}, Transport: tr, ResponseHeaderTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	run := func(n int) {
		for i := range n {
			path := "/"
			if i%5 == 4 {
				path = "/slow" // times out: 504
			}
			ctx, cancel := context.WithCancel(context.Background())
			if i%7 == 6 {
				cancel() // the client is already gone
			}
			req := httptest.NewRequestWithContext(ctx, "GET", "http://app.test"+path, nil)
			h.ServeHTTP(httptest.NewRecorder(), req)
			cancel()
		}
	}
	run(20) // warm up: pools, the sweep timer
	base := runtime.NumGoroutine()
	run(200)
	tr.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= base {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", n, base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAppendRequest: the lean writer's bytes parse to the same request as
// net/http's own.
func TestAppendRequest(t *testing.T) {
	mk := func(method, url string, hdr map[string][]string, host string) *http.Request {
		r, err := http.NewRequest(method, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			r.Header[k] = v
		}
		if host != "" {
			r.Host = host
		}
		return r
	}
	for _, tc := range []struct {
		name string
		req  *http.Request
		ok   bool
	}{
		{"get", mk("GET", "http://u/a/b?x=1&y", map[string][]string{"Accept": {"*/*"}, "X-Multi": {"a", "b"}}, "app.example.com"), true},
		{"no ua key", mk("GET", "http://u/", nil, ""), true},
		{"empty ua", mk("GET", "http://u/", map[string][]string{"User-Agent": {""}}, ""), true},
		{"post empty", mk("POST", "http://u/p", map[string][]string{"User-Agent": {"curl/8"}}, ""), true},
		{"escaped path", mk("GET", "http://u/a%2Fb/c%20d?q", nil, "h:8443"), true},
		{"force query", mk("GET", "http://u/x?", nil, "[::1]:80"), true},
		{"bad value", mk("GET", "http://u/", map[string][]string{"X-Bad": {"a\r\nInjected: 1"}}, ""), false},
		{"bad name", mk("GET", "http://u/", map[string][]string{"X Bad": {"v"}}, ""), false},
		{"unicode host", mk("GET", "http://u/", nil, "bücher.example"), false},
		{"zone", mk("GET", "http://u/", nil, "[fe80::1%25eth0]:80"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, ok := appendRequest(nil, tc.req)
			if ok != tc.ok {
				t.Fatalf("ok = %v; want %v (%q)", ok, tc.ok, b)
			}
			if !ok {
				return
			}
			var std bytes.Buffer
			if err := tc.req.Write(&std); err != nil {
				t.Fatal(err)
			}
			got, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
			if err != nil {
				t.Fatalf("parse %q: %v", b, err)
			}
			want, err := http.ReadRequest(bufio.NewReader(&std))
			if err != nil {
				t.Fatal(err)
			}
			if got.Method != want.Method || got.RequestURI != want.RequestURI || got.Host != want.Host ||
				got.ContentLength != want.ContentLength || fmt.Sprint(got.Header) != fmt.Sprint(want.Header) {
				t.Errorf("lean:\n%s\nnet/http:\n%s", b, std.String())
			}
		})
	}
}

// BenchmarkAppendRequest: the lean writer must not allocate.
func BenchmarkAppendRequest(b *testing.B) {
	req := httptest.NewRequest("GET", "http://app.test/api/v1/items?page=2", nil)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Forwarded-For", "192.0.2.1")
	req.Header.Set("User-Agent", "bench")
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = appendRequest(buf[:0], req)
	}
}

// TestLeanSweepDropsClosedConns: connections the upstream closed while idle
// are dropped by the sweep, not kept half-closed until the idle timeout.
func TestLeanSweepDropsClosedConns(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond) // overlap, so several connections open
		io.WriteString(w, "ok")
	}))
	srv.Config.IdleTimeout = 100 * time.Millisecond
	srv.Start()
	defer srv.Close()
	tr := NewTransport()
	tr.sweepInterval = 50 * time.Millisecond
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", srv.URL, nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		})
	}
	wg.Wait()
	if idleConns(tr) == 0 {
		t.Fatal("no connection was pooled")
	}
	deadline := time.Now().Add(3 * time.Second)
	for idleConns(tr) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d pooled connections the upstream closed are still held", idleConns(tr))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSetLeanH1: the kill switch (config key lean_h1) sends the next
// requests through http.Transport, and back; the lean pool is where its
// connections rest, so it tells which path a request took.
func TestSetLeanH1(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(up.Close)
	tr := NewTransport()
	t.Cleanup(tr.CloseIdleConnections)
	srv := frontend(t, Options{Upstreams: []string{up.URL}, Transport: tr})
	c := srv.Client()
	host := strings.TrimPrefix(up.URL, "http://")
	pool := tr.pool(0, 0)
	leanIdle := func() int {
		pool.mu.Lock()
		defer pool.mu.Unlock()
		return len(pool.idle[host])
	}
	for _, step := range []struct {
		on   bool
		want int // lean idle connections after the request
	}{{true, 1}, {false, 0}, {true, 1}} {
		tr.SetLeanH1(step.on)
		if tr.LeanH1() != step.on {
			t.Fatalf("LeanH1() = %v after SetLeanH1(%v)", tr.LeanH1(), step.on)
		}
		tr.CloseIdleConnections()
		get(t, c, "GET", srv.URL+"/")
		if got := leanIdle(); got != step.want {
			t.Errorf("lean_h1 %v: %d idle lean connections; want %d", step.on, got, step.want)
		}
	}
}
