package h1_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/serve/h1"
)

// memConn is a connection whose peer sent in and then closed its side;
// what the server writes is kept in out.
type memConn struct {
	in     *bytes.Reader
	mu     sync.Mutex
	out    bytes.Buffer
	closed chan struct{}
	once   sync.Once
}

func newMemConn(in []byte) *memConn {
	return &memConn{in: bytes.NewReader(in), closed: make(chan struct{})}
}

func (c *memConn) Read(p []byte) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	return c.in.Read(p)
}

func (c *memConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(p)
}

func (c *memConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *memConn) output() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.out.Bytes())
}

func (c *memConn) LocalAddr() net.Addr                { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 443} }
func (c *memConn) RemoteAddr() net.Addr               { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000} }
func (c *memConn) SetDeadline(t time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(t time.Time) error { return nil }

// oneConnListener hands out one connection, then waits to be closed.
type oneConnListener struct {
	c    chan net.Conn
	done chan struct{}
	once sync.Once
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.c:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}
func (l *oneConnListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *oneConnListener) Addr() net.Addr { return &net.TCPAddr{} }

func fuzzHandler(w http.ResponseWriter, r *http.Request) {
	n, err := io.Copy(io.Discard, r.Body)
	if err != nil {
		w.WriteHeader(299)
		return
	}
	w.Header().Set("X-Read", r.Method+" "+r.Host+" "+r.RequestURI)
	io.WriteString(w, r.Proto)
	_ = n
}

// statuses reads every response in out.
func statuses(out []byte) []int {
	br := bufio.NewReader(bytes.NewReader(out))
	var got []int
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return got
		}
		io.Copy(io.Discard, resp.Body)
		got = append(got, resp.StatusCode)
	}
}

func serveOwn(in []byte) []byte {
	c := newMemConn(in)
	h1.NewConn(c, &h1.Options{Handler: http.HandlerFunc(fuzzHandler), MaxHeaderBytes: 4096}).Serve(context.Background())
	return c.output()
}

func serveStd(in []byte) []byte {
	c := newMemConn(in)
	closed := make(chan struct{})
	ln := &oneConnListener{c: make(chan net.Conn, 1), done: make(chan struct{})}
	ln.c <- c
	s := &http.Server{Handler: http.HandlerFunc(fuzzHandler), MaxHeaderBytes: 4096,
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateClosed {
				close(closed)
			}
		}}
	go s.Serve(ln)
	<-closed
	ln.Close()
	return c.output()
}

// FuzzRequest feeds the same bytes to net/http's server and to h1 and
// wants the same sequence of answer statuses (and never a panic).
func FuzzRequest(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX: y\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
		"GET http://b/x HTTP/1.1\r\nHost: a\r\n\r\n",
		"CONNECT a:443 HTTP/1.1\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		own, std := statuses(serveOwn(in)), statuses(serveStd(in))
		if len(own) != len(std) {
			t.Fatalf("statuses %v; net/http %v", own, std)
		}
		for i := range own {
			if own[i] != std[i] {
				t.Fatalf("statuses %v; net/http %v", own, std)
			}
		}
	})
}
