package edge

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestWriteTimeout: a client that stops reading makes the handler's write
// fail soon after the timeout, over HTTP/1.1 and HTTP/2; one that reads a
// response that is slow to come (a pause longer than the timeout between
// two writes) gets all of it.
func TestWriteTimeout(t *testing.T) {
	const d = 200 * time.Millisecond
	chunk := make([]byte, 32<<10)
	for _, h2 := range []bool{false, true} {
		proto := map[bool]string{false: "h1", true: "h2"}[h2]
		t.Run(proto+"/client stops reading", func(t *testing.T) {
			failed := make(chan error, 1)
			srv := timeoutServer(t, h2, WriteTimeout(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for range 4096 { // 128 MiB: more than any socket buffer and window
					if _, err := w.Write(chunk); err != nil {
						failed <- err
						return
					}
				}
				failed <- nil
			}), d))
			if h2 {
				resp, err := srv.Client().Get(srv.URL)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close() // never read: the window stays closed
			} else {
				c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n") // and never read
			}
			select {
			case err := <-failed:
				if err == nil {
					t.Fatal("the whole response was written to a client that reads nothing")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the handler's write still blocks 10s later")
			}
		})
		t.Run(proto+"/slow response", func(t *testing.T) {
			srv := timeoutServer(t, h2, WriteTimeout(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "first ")
				http.NewResponseController(w).Flush()
				time.Sleep(3 * d) // the upstream is slow, not the client
				io.WriteString(w, "second")
			}), d))
			resp, err := srv.Client().Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil || string(body) != "first second" {
				t.Fatalf("body %q, %v; want %q", body, err, "first second")
			}
		})
	}
}

func timeoutServer(t *testing.T, h2 bool, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	if h2 {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv
}
