package serve_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/serve"
)

// states records ConnState calls per connection.
type states struct {
	mu  sync.Mutex
	got map[net.Conn][]http.ConnState
}

func (s *states) record(c net.Conn, st http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got[c] = append(s.got[c], st)
}

// closed returns the connections seen, once every one has ended.
func (s *states) waitAllClosed(t *testing.T, n int) [][]http.ConnState {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		var out [][]http.ConnState
		done := 0
		for _, v := range s.got {
			out = append(out, v)
			if last := v[len(v)-1]; last == http.StateClosed || last == http.StateHijacked {
				done++
			}
		}
		s.mu.Unlock()
		if len(out) == n && done == n {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("connection states %v; want %d connections ended", out, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func tlsServer(t *testing.T, h http.Handler, st *states) (string, *serve.Server) {
	t.Helper()
	cert := httptest.NewTLSServer(nil) // only for its certificate
	certs := cert.TLS.Certificates
	cert.Close()
	s := &serve.Server{
		Handler:           h,
		TLSConfig:         &tls.Config{Certificates: certs, NextProtos: []string{"h2", "http/1.1"}},
		ReadHeaderTimeout: 2 * time.Second,
		ConnState:         st.record,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String(), s
}

// TestTLSProtocolsAndStates: h1 and h2 over TLS, and a failed handshake,
// each reported New once and Closed once, as net/http does.
func TestTLSProtocolsAndStates(t *testing.T) {
	st := &states{got: map[net.Conn][]http.ConnState{}}
	addr, _ := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); !ok {
			w.WriteHeader(500)
		}
		io.WriteString(w, r.Proto)
	}), st)
	for _, h2 := range []bool{false, true} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		resp, err := (&http.Client{Transport: tr}).Get("https://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := map[bool]string{false: "HTTP/1.1", true: "HTTP/2.0"}[h2]
		if resp.StatusCode != 200 || string(b) != want {
			t.Errorf("h2 %v: %d %q; want 200 %q", h2, resp.StatusCode, b, want)
		}
		tr.CloseIdleConnections()
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	b, _ := io.ReadAll(c)
	c.Close()
	if want := "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"; string(b) != want {
		t.Errorf("plain HTTP to the TLS port: %q; want %q", b, want)
	}
	for _, v := range st.waitAllClosed(t, 3) {
		if v[0] != http.StateNew || v[len(v)-1] != http.StateClosed {
			t.Errorf("states %v; want New first and Closed last", v)
		}
		n := 0
		for _, s := range v {
			if s == http.StateNew || s == http.StateClosed {
				n++
			}
		}
		if n != 2 {
			t.Errorf("states %v; want New and Closed once each", v)
		}
	}
}

// TestShutdownWaitsForRequest: Shutdown lets a running request finish,
// and the idle connection beside it is closed at once.
func TestShutdownWaitsForRequest(t *testing.T) {
	st := &states{got: map[net.Conn][]http.ConnState{}}
	release := make(chan struct{})
	running := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(running)
			<-release
		}
		io.WriteString(w, "done")
	})
	addr, s := tlsServer(t, h, st)
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	if resp, err := client.Get("https://" + addr + "/"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	got := make(chan string, 1)
	go func() {
		tr2 := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
		defer tr2.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr2}).Get("https://" + addr + "/slow")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-running
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	st.waitClosedCount(t, 1) // the idle one
	close(release)
	if b := <-got; b != "done" {
		t.Errorf("request in flight at Shutdown: %q; want done", b)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func (s *states) waitClosedCount(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		c := 0
		for _, v := range s.got {
			if v[len(v)-1] == http.StateClosed {
				c++
			}
		}
		s.mu.Unlock()
		if c >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections closed; want %d", c, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCutUpstreamBodyAborts: a ReverseProxy whose upstream breaks off in
// the middle of a body must not let the client take the rest as complete:
// over HTTP/1.1 and HTTP/2 the client's read fails, as with net/http.
func TestCutUpstreamBodyAborts(t *testing.T) {
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	go func() {
		for {
			c, err := up.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				c.Read(buf)
				// Chunked, and no last chunk: the body is cut short.
				io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
			}()
		}
	}()
	target, _ := url.Parse("http://" + up.Addr().String())
	rp := &httputil.ReverseProxy{
		Rewrite:  func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		ErrorLog: log.New(io.Discard, "", 0),
	}
	addr, _ := tlsServer(t, rp, &states{got: map[net.Conn][]http.ConnState{}})
	for _, h2 := range []bool{false, true} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + addr + "/")
		if err != nil {
			t.Fatalf("h2 %v: %v", h2, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Errorf("h2 %v: the cut body %q read as complete; want a read error", h2, b)
		}
		tr.CloseIdleConnections()
	}
}
