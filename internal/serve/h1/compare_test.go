package h1_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/serve"
)

// handler answers by path, covering what a ResponseWriter does.
func handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/small", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>hi</html>") })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, strings.Repeat("x", 10000))
	})
	mux.HandleFunc("/cl", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		io.WriteString(w, "hello")
	})
	mux.HandleFunc("/late", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/x-early")
		w.WriteHeader(202)
		w.Header().Set("X-Late", "1")
		w.Header().Set("Content-Type", "text/x-late")
		io.WriteString(w, "late")
	})
	mux.HandleFunc("/hijack", func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			w.WriteHeader(500)
			return
		}
		defer c.Close()
		line, _ := brw.ReadString('\n')
		fmt.Fprintf(brw, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(line), line)
		brw.Flush()
	})
	mux.HandleFunc("/bigsniff", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<html>")
		w.Write([]byte(strings.Repeat("x", 5000)))
		io.WriteString(w, strings.Repeat("y", 3000))
	})
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	mux.HandleFunc("/notmodified", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(304)
	})
	mux.HandleFunc("/trailer", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		io.WriteString(w, "body")
		w.Header().Set("X-Sum", "42")
		w.Header().Set(http.TrailerPrefix+"X-Late", "7")
	})
	mux.HandleFunc("/early", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(103)
		w.WriteHeader(201)
		io.WriteString(w, "made")
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(400)
			return
		}
		w.Header().Set("X-Method", r.Method)
		w.Header().Set("X-Host", r.Host)
		w.Header().Set("X-URI", r.RequestURI)
		w.Header().Set("X-CL", strings.Repeat("n", int(min(r.ContentLength+1, 10))))
		w.Header().Set("X-Trailer", r.Trailer.Get("T"))
		w.Write(b)
	})
	mux.HandleFunc("/flush", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a")
		w.(http.Flusher).Flush()
		io.WriteString(w, "b")
	})
	mux.HandleFunc("/close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})
	mux.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) })
	return mux
}

type answer struct {
	status  int
	headers map[string]string
	body    string
	trailer string
}

// exchange sends raw to a server and reads every response on the
// connection until it closes.
func exchange(t *testing.T, addr, raw string) []answer {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	if cw, ok := c.(*net.TCPConn); ok {
		cw.CloseWrite()
	}
	br := bufio.NewReader(c)
	var out []answer
	for {
		req, _ := http.NewRequest("GET", "/", nil)
		if strings.HasPrefix(raw, "HEAD") {
			req.Method = "HEAD"
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return out
		}
		b, _ := io.ReadAll(resp.Body)
		a := answer{status: resp.StatusCode, body: string(b), headers: map[string]string{}}
		for _, k := range []string{"Content-Type", "Content-Length", "Transfer-Encoding", "Connection", "Link", "X-Method", "X-Host", "X-URI", "X-CL", "X-Trailer", "X-Late"} {
			if v := resp.Header.Get(k); v != "" {
				a.headers[k] = v
			}
		}
		if len(resp.TransferEncoding) > 0 {
			a.headers["Transfer-Encoding"] = resp.TransferEncoding[0]
		}
		if resp.Trailer != nil {
			a.trailer = resp.Trailer.Get("X-Sum") + "," + resp.Trailer.Get("X-Late")
		}
		out = append(out, a)
	}
}

type srv interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

func start(t *testing.T, s srv) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// TestSameAsNetHTTP sends the same bytes to net/http's server and to
// tlsgate's and wants the same answers.
func TestSameAsNetHTTP(t *testing.T) {
	std := start(t, &http.Server{Handler: handler(), MaxHeaderBytes: 1000})
	own := start(t, &serve.Server{Handler: handler(), MaxHeaderBytes: 1000})
	const h = "Host: a.test\r\n"
	for _, tt := range []struct{ name, raw string }{
		{"small", "GET /small HTTP/1.1\r\n" + h + "\r\n"},
		{"keep-alive pipelined", "GET /small HTTP/1.1\r\n" + h + "\r\nGET /cl HTTP/1.1\r\n" + h + "\r\nGET /big HTTP/1.1\r\n" + h + "\r\n"},
		{"big chunked", "GET /big HTTP/1.1\r\n" + h + "\r\n"},
		{"HTTP/1.0 big", "GET /big HTTP/1.0\r\n\r\n"},
		{"HTTP/1.0 keep-alive", "GET /cl HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /small HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"},
		{"HEAD", "HEAD /small HTTP/1.1\r\n" + h + "\r\n"},
		{"header changed after WriteHeader", "GET /late HTTP/1.1\r\n" + h + "\r\n"},
		{"hijack reads what was pipelined", "GET /hijack HTTP/1.1\r\n" + h + "\r\nping\n"},
		{"big first write sniffed", "GET /bigsniff HTTP/1.1\r\n" + h + "\r\n"},
		{"HTTP/1.0 big sniffed", "GET /bigsniff HTTP/1.0\r\n\r\n"},
		{"204", "GET /nocontent HTTP/1.1\r\n" + h + "\r\n"},
		{"304", "GET /notmodified HTTP/1.1\r\n" + h + "\r\n"},
		{"trailers", "GET /trailer HTTP/1.1\r\n" + h + "\r\n"},
		{"103 then 201", "GET /early HTTP/1.1\r\n" + h + "\r\n"},
		{"flush", "GET /flush HTTP/1.1\r\n" + h + "\r\n"},
		{"Connection: close", "GET /close HTTP/1.1\r\n" + h + "\r\nGET /small HTTP/1.1\r\n" + h + "\r\n"},
		{"client close", "GET /small HTTP/1.1\r\n" + h + "Connection: close\r\n\r\nGET /small HTTP/1.1\r\n" + h + "\r\n"},
		{"CL body", "POST /echo HTTP/1.1\r\n" + h + "Content-Length: 5\r\n\r\nhelloGET /small HTTP/1.1\r\n" + h + "\r\n"},
		{"chunked body with trailer", "POST /echo HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nT: v\r\n\r\n"},
		{"CL and TE", "POST /echo HTTP/1.1\r\n" + h + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		{"two CL differ", "POST /echo HTTP/1.1\r\n" + h + "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"},
		{"bad CL", "POST /echo HTTP/1.1\r\n" + h + "Content-Length: +3\r\n\r\nabc"},
		{"TE gzip", "POST /echo HTTP/1.1\r\n" + h + "Transfer-Encoding: gzip\r\n\r\n"},
		{"TE twice", "POST /echo HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"no Host", "GET /small HTTP/1.1\r\n\r\n"},
		{"two Hosts", "GET /small HTTP/1.1\r\n" + h + h + "\r\n"},
		{"bad Host", "GET /small HTTP/1.1\r\nHost: a b\r\n\r\n"},
		{"absolute-form", "GET http://b.test/echo?q HTTP/1.1\r\n" + h + "\r\n"},
		{"CONNECT", "CONNECT b.test:443 HTTP/1.1\r\n\r\n"},
		{"space before colon", "GET /small HTTP/1.1\r\n" + h + "X-A : 1\r\n\r\n"},
		{"obs-fold first line", "GET /small HTTP/1.1\r\n X-A: 1\r\n" + h + "\r\n"},
		{"bad method", "G(T /small HTTP/1.1\r\n" + h + "\r\n"},
		{"HTTP/2.0", "GET /small HTTP/2.0\r\n" + h + "\r\n"},
		{"HTTP/1.2", "GET /small HTTP/1.2\r\n" + h + "\r\n"},
		{"garbage", "hello\r\n\r\n"},
		{"header too large", "GET /small HTTP/1.1\r\n" + h + "X-Big: " + strings.Repeat("a", 6000) + "\r\n\r\n"},
		{"Expect unknown", "POST /echo HTTP/1.1\r\n" + h + "Expect: magic\r\nContent-Length: 1\r\n\r\nx"},
		{"Expect 100-continue", "POST /echo HTTP/1.1\r\n" + h + "Expect: 100-continue\r\nContent-Length: 2\r\n\r\nhi"},
		{"leading CRLF after POST", "POST /echo HTTP/1.1\r\n" + h + "Content-Length: 2\r\n\r\nhi\r\nGET /small HTTP/1.1\r\n" + h + "\r\n"},
		{"bare LF", "GET /small HTTP/1.1\n" + h[:len(h)-2] + "\n\n"},
		{"panic", "GET /panic HTTP/1.1\r\n" + h + "\r\nGET /small HTTP/1.1\r\n" + h + "\r\n"},
		{"unread body kept", "POST /small HTTP/1.1\r\n" + h + "Content-Length: 3\r\n\r\nabcGET /small HTTP/1.1\r\n" + h + "\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want := exchange(t, std, tt.raw)
			got := exchange(t, own, tt.raw)
			if len(got) != len(want) {
				t.Fatalf("%d answers %+v; net/http gives %d: %+v", len(got), got, len(want), want)
			}
			for i := range want {
				w, g := want[i], got[i]
				if w.status != g.status || w.body != g.body || w.trailer != g.trailer || len(w.headers) != len(g.headers) {
					t.Fatalf("answer %d: %+v; net/http: %+v", i, g, w)
				}
				for k, v := range w.headers {
					if g.headers[k] != v {
						t.Fatalf("answer %d: %s %q; net/http %q", i, k, g.headers[k], v)
					}
				}
			}
		})
	}
}

// TestTimeoutsAsNetHTTP: a header block that never ends and a connection
// left idle are closed after ReadHeaderTimeout and IdleTimeout.
func TestTimeoutsAsNetHTTP(t *testing.T) {
	const d = 200 * time.Millisecond
	for _, tt := range []struct {
		name string
		s    srv
	}{
		{"net/http", &http.Server{Handler: handler(), ReadHeaderTimeout: d, IdleTimeout: d}},
		{"tlsgate", &serve.Server{Handler: handler(), ReadHeaderTimeout: d, IdleTimeout: d}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := start(t, tt.s)
			for _, raw := range []string{
				"GET /small HTTP/1.1\r\nHost: a\r\nX-Slow: ", // never ends
				"GET /small HTTP/1.1\r\nHost: a\r\n\r\n",     // then idle
			} {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				c.SetDeadline(time.Now().Add(5 * time.Second))
				io.WriteString(c, raw)
				t0 := time.Now()
				io.Copy(io.Discard, c) // until the server closes
				if el := time.Since(t0); el > 3*time.Second {
					t.Errorf("%q: closed after %s; want about %s", raw, el, d)
				}
				c.Close()
			}
		})
	}
}
