package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

// FuzzLeanResponse feeds arbitrary upstream bytes to the lean h1 path,
// through the route's ReverseProxy: never a panic, and a connection goes
// back to the pool only when what was read from it is exactly one
// keep-alive response (after any 1xx) with nothing after it. Bytes that
// arrive after the response are the checkout's business (peerClosed).
//
// The fake upstream writes the input and then closes its side for writing,
// so a body that runs until the connection closes ends at the input's end;
// the header timeout and the request's deadline bound the rest.
func FuzzLeanResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Trailer: 1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 204 No Content\r\n\r\nbody",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\n\r\nuntil close",
		"HTTP/1.0 200 OK\r\n\r\nbody",
		"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
		"HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n",
		"garbage\r\n\r\n",
		"",
	} {
		f.Add([]byte(s))
	}
	var answer atomic.Pointer[[]byte]
	up := closingBackend(f, &answer)
	tr, std := NewTransport(), NewTransport()
	std.SetLeanH1(false) // http.Transport: the same bytes must not panic there either
	f.Cleanup(tr.CloseIdleConnections)
	f.Cleanup(std.CloseIdleConnections)
	h, err := New(Options{Upstreams: []string{up}, Transport: tr, ResponseHeaderTimeout: 2 * time.Second})
	if err != nil {
		f.Fatal(err)
	}
	hStd, err := New(Options{Upstreams: []string{up}, Transport: std, ResponseHeaderTimeout: 2 * time.Second})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		answer.Store(&data)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// A HEAD's response has no body whatever its headers say: the
		// same bytes frame differently.
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			req := httptest.NewRequestWithContext(ctx, method, "http://app.test/", nil)
			serve(h, httptest.NewRecorder(), req)
			for _, n := range idleConsumed(tr) {
				if n > int64(len(data)) || !oneCleanResponse(data[:n], method) {
					t.Fatalf("%s: connection pooled after reading %d bytes that are not one clean response: %q", method, n, data)
				}
			}
			tr.CloseIdleConnections()
		}
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, "http://app.test/", nil)
		serve(hStd, httptest.NewRecorder(), req)
		std.CloseIdleConnections()
	})
}

// serve runs h like net/http's server does, which recovers the
// http.ErrAbortHandler that ReverseProxy panics with when a body breaks
// off after the headers went out. Any other panic is a finding.
func serve(h http.Handler, w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if err, ok := v.(error); !ok || !errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
		}
	}()
	h.ServeHTTP(w, r)
}

// idleConsumed returns, for each idle connection of the lean path, how
// many bytes its last exchange read from the upstream.
func idleConsumed(tr *Transport) []int64 {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []int64
	for _, p := range tr.pools {
		p.mu.Lock()
		for _, l := range p.idle {
			for _, c := range l {
				out = append(out, c.cr.n)
			}
		}
		p.mu.Unlock()
	}
	return out
}

// oneCleanResponse reports whether data is exactly one keep-alive response
// to a request with this method (after any 1xx but 101) with nothing after it.
func oneCleanResponse(data []byte, method string) bool {
	br := bufio.NewReader(bytes.NewReader(data))
	for {
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			return false
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			return false
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 {
			continue
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil || resp.Close {
			return false
		}
		return br.Buffered() == 0
	}
}

// closingBackend is a fake upstream for a fuzz target: on each connection
// it reads one request, writes *answer, and closes its writing side, so
// the proxy reads EOF after the answer; it keeps reading until the proxy
// closes the connection.
func closingBackend(f *testing.F, answer *atomic.Pointer[[]byte]) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(c)
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				c.Write(*answer.Load())
				c.(*net.TCPConn).CloseWrite()
				io.Copy(io.Discard, br)
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// FuzzAppendRequest: whatever method, URI, Host and header a request
// carries, the lean writer either leaves it to net/http or writes exactly
// one request — nothing an upstream could read as a second, smuggled one —
// that parses to what net/http's own writer sends.
func FuzzAppendRequest(f *testing.F) {
	f.Add("GET", "/a/b?x=1", "app.test", "X-Multi", "a")
	f.Add("POST", "/p", "h:8443", "User-Agent", "curl/8")
	f.Add("GET", "/a%2Fb/c%20d?", "[::1]:80", "X-Bad", "a\r\nInjected: 1")
	f.Add("GET", "/", "app.test\r\nX: y", "X", "v\r\n\r\nGET /smuggled HTTP/1.1")
	f.Add("PUT", "/x", "b\u00fccher.example", "Transfer-Encoding", "chunked")
	f.Add("OPTIONS", "*", "", "Content-Length", "5")
	f.Add("GET", "/", "app.test", "content-length", "5")
	f.Add("GET", "/", "app.test", "transfer-ENCODING", "chunked")
	f.Fuzz(func(t *testing.T, method, uri, host, hk, hv string) {
		u, err := url.ParseRequestURI(uri)
		if err != nil {
			return
		}
		u.Scheme, u.Host = "http", "upstream.test"
		req := &http.Request{Method: method, URL: u, Host: host, Header: http.Header{hk: {hv}}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
		b, ok := appendRequest(nil, req)
		if !ok {
			return
		}
		br := bufio.NewReader(bytes.NewReader(b))
		got, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("lean wrote %q, which does not parse: %v", b, err)
		}
		if br.Buffered() != 0 {
			t.Fatalf("lean wrote %q: %d bytes after the request", b, br.Buffered())
		}
		if got.ContentLength != 0 || len(got.TransferEncoding) != 0 {
			t.Fatalf("lean wrote %q: a bodyless request with body framing", b)
		}
		var std bytes.Buffer
		if err := req.Write(&std); err != nil {
			t.Fatalf("lean wrote %q; net/http refuses the request: %v", b, err)
		}
		if framing(hk) && http.CanonicalHeaderKey(hk) != hk {
			return // net/http writes "content-length", "hOST"... as they are; the lean writer drops them
		}
		stdBytes := std.String()
		want, err := http.ReadRequest(bufio.NewReader(&std))
		if err != nil || want.ContentLength > 0 || len(want.TransferEncoding) != 0 {
			return
		}
		if got.Method != want.Method || got.RequestURI != want.RequestURI || got.Host != want.Host ||
			got.ContentLength != want.ContentLength || !sameHeader(got.Header, want.Header) {
			t.Fatalf("lean:\n%q\nnet/http:\n%q", b, stdBytes)
		}
	})
}

// sameHeader compares headers as sets of values per name.
func sameHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb := b[k]
		if len(va) != len(vb) {
			return false
		}
		for i := range va {
			if va[i] != vb[i] {
				return false
			}
		}
	}
	return true
}
