package proxy

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// scriptUpstream is a raw HTTP/1.1 upstream: for every request it records
// the request head as sent and answers with the steps of script; a step
// "<wait>" waits until release is closed (or a few seconds), a step
// "<close>" closes the connection.
type scriptUpstream struct {
	ln      net.Listener
	mu      sync.Mutex
	heads   []string
	script  []string
	release chan struct{}
}

const (
	stepWait  = "<wait>"
	stepClose = "<close>"
)

func newScriptUpstream(t *testing.T) *scriptUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &scriptUpstream{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { u.serve(c) })
		}
	})
	return u
}

func (u *scriptUpstream) url() string { return "http://" + u.ln.Addr().String() }

func (u *scriptUpstream) set(script []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.script, u.heads, u.release = script, nil, make(chan struct{})
}

func (u *scriptUpstream) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var head strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			head.WriteString(line)
			if line == "\r\n" {
				break
			}
		}
		u.mu.Lock()
		u.heads = append(u.heads, head.String())
		script, release := u.script, u.release
		u.mu.Unlock()
		for _, step := range script {
			switch step {
			case stepWait:
				select {
				case <-release:
				case <-time.After(5 * time.Second):
				}
			case stepClose:
				return
			default:
				if _, err := io.WriteString(c, step); err != nil {
					return
				}
			}
		}
	}
}

// lastHead returns the last request head, its header lines sorted (the
// lean writer's header order is the map's).
func (u *scriptUpstream) lastHead() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.heads) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimSuffix(u.heads[len(u.heads)-1], "\r\n\r\n"), "\r\n")
	slices.Sort(lines[1:])
	return strings.Join(lines, "\n")
}

// clientAnswer is what a client saw, for comparing the two paths.
type clientAnswer struct {
	early   []string // 1xx: "103 Link=..."
	status  int
	header  http.Header
	body    string
	trailer http.Header
	err     bool // reading the body failed (the answer was cut short)
}

// TestFastPathMatchesReverseProxy sends the same requests through the fast
// path and through ReverseProxy (same options, same upstream script) and
// wants the same request bytes upstream and the same answer at the client.
func TestFastPathMatchesReverseProxy(t *testing.T) {
	up := newScriptUpstream(t)
	opts := Options{Upstreams: []string{up.url()}, StripPrefix: "/api", ResponseHeaderTimeout: 2 * time.Second, Logger: testLogger(t)}
	fast, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if fast.fast == nil {
		t.Fatal("no fast path on a plain http:// route")
	}
	ref, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ref.fast = nil // ReverseProxy for everything
	fastSrv, refSrv := httptest.NewServer(fast), httptest.NewServer(ref)
	t.Cleanup(fastSrv.Close)
	t.Cleanup(refSrv.Close)

	// Bodies of unknown length come with a Content-Type: without one,
	// whether ReverseProxy's client sees a sniffed one depends on a race
	// between its first flush timer and the first body write.
	const ok = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"
	cases := []struct {
		name, method, path string
		header             http.Header
		script             []string
	}{
		{name: "plain", method: "GET", path: "/api/x?a=1&b=%41", script: []string{ok},
			header: http.Header{"Accept": {"*/*"}, "Cookie": {"a=1", "b=2"}, "X-Forwarded-For": {"6.6.6.6"},
				"X_Real_Ip": {"6.6.6.6"}, "X-Forwarded-User": {"root"}, "Forwarded": {"for=6.6.6.6"},
				"X-Client-Cert-Subject": {"CN=evil"}, "User-Agent": {"curl/8"}}},
		{name: "no user agent", method: "GET", path: "/api/", header: http.Header{"User-Agent": {""}}, script: []string{ok}},
		{name: "connection-listed request headers", method: "GET", path: "/api/conn", script: []string{ok},
			header: http.Header{"Connection": {"X-A, x-forwarded-for"}, "X-A": {"1"}, "X-B": {"2"}, "Keep-Alive": {"300"},
				"Proxy-Authorization": {"Basic eA=="}, "X-Forwarded-For": {"6.6.6.6"}}},
		{name: "head", method: "HEAD", path: "/api/h", script: []string{"HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n"}},
		{name: "delete", method: "DELETE", path: "/api/d", script: []string{"HTTP/1.1 204 No Content\r\n\r\n"}},
		{name: "hop-by-hop response headers", method: "GET", path: "/api/hop", script: []string{
			"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\n" +
				"Upgrade: h2c\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-End: 1\r\nContent-Length: 2\r\n\r\nok"}},
		{name: "chunked with trailers", method: "GET", path: "/api/t", script: []string{
			"HTTP/1.1 200 OK\r\nContent-Type: text/x\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 42\r\nX-Late: 7\r\n\r\n"}},
		{name: "chunked, trailer announced", method: "GET", path: "/api/t2", script: []string{
			"HTTP/1.1 200 OK\r\nContent-Type: text/x\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n"}},
		{name: "early hints", method: "GET", path: "/api/e", script: []string{
			"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n", ok}},
		{name: "unsolicited upgrade", method: "GET", path: "/api/u", script: []string{
			"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"}},
		{name: "close delimited", method: "GET", path: "/api/c", script: []string{
			"HTTP/1.1 200 OK\r\nContent-Type: text/x\r\nConnection: close\r\n\r\nuntil the end", stepClose}},
		{name: "cut short", method: "GET", path: "/api/cut", script: []string{
			"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b", stepClose}},
		{name: "upstream error status", method: "GET", path: "/api/500", script: []string{
			"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops"}},
		{name: "bad response", method: "GET", path: "/api/bad", script: []string{"garbage\r\n\r\n", stepClose}},
		{name: "no answer", method: "GET", path: "/api/none", script: []string{stepClose}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var heads [2]string
			var answers [2]clientAnswer
			for i, srv := range []*httptest.Server{fastSrv, refSrv} {
				up.set(tc.script)
				answers[i] = ask(t, srv, tc.method, tc.path, tc.header)
				heads[i] = up.lastHead()
			}
			if heads[0] != heads[1] {
				t.Errorf("upstream request\nfast:\n%s\nReverseProxy:\n%s", heads[0], heads[1])
			}
			if f, r := answers[0], answers[1]; !sameAnswer(f, r) {
				t.Errorf("client answer\nfast:         %+v\nReverseProxy: %+v", f, r)
			}
		})
	}
}

func sameAnswer(a, b clientAnswer) bool {
	return slices.Equal(a.early, b.early) && a.status == b.status && a.body == b.body && a.err == b.err &&
		headersEqual(a.header, b.header) && headersEqual(a.trailer, b.trailer)
}

// headersEqual compares headers, values in order, Date aside.
func headersEqual(a, b http.Header) bool {
	a, b = a.Clone(), b.Clone()
	a.Del("Date")
	b.Del("Date")
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// ask sends one request on a fresh connection and records the answer.
func ask(t *testing.T, srv *httptest.Server, method, path string, header http.Header) clientAnswer {
	t.Helper()
	var a clientAnswer
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		a.early = append(a.early, http.StatusText(code)+" "+strings.Join(h["Link"], ","))
		return nil
	}}
	ctx, cancel := context.WithTimeout(httptrace.WithClientTrace(context.Background(), trace), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "app.test" // the same on both frontends
	for k, v := range header {
		req.Header[k] = v
	}
	// Keep-alive on (DisableKeepAlives would send Connection: close), one
	// transport per request, so no connection is shared.
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	resp, err := c.Do(req)
	if err != nil {
		a.err = true // cut short before the headers
		return a
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	a.status, a.header, a.body, a.trailer, a.err = resp.StatusCode, resp.Header, string(body), resp.Trailer, err != nil
	return a
}

// TestFastPathFlushes: an event stream and a body of unknown length reach
// the client as they are written, before the upstream is done, on both
// paths.
func TestFastPathFlushes(t *testing.T) {
	up := newScriptUpstream(t)
	fast, err := New(Options{Upstreams: []string{up.url()}})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := New(Options{Upstreams: []string{up.url()}})
	if err != nil {
		t.Fatal(err)
	}
	ref.fast = nil
	for _, ct := range []string{"text/event-stream", "Text/Event-Stream; charset=utf-8", "application/octet-stream"} {
		for name, h := range map[string]*Handler{"fast": fast, "ReverseProxy": ref} {
			t.Run(ct+"/"+name, func(t *testing.T) {
				srv := httptest.NewServer(h)
				defer srv.Close()
				up.set([]string{"HTTP/1.1 200 OK\r\nContent-Type: " + ct + "\r\nTransfer-Encoding: chunked\r\n\r\n" +
					"e\r\ndata: first\n\n\r\n", stepWait, "e\r\ndata: later\n\n\r\n0\r\n\r\n"})
				up.mu.Lock()
				release := up.release
				up.mu.Unlock()
				defer close(release)
				resp, err := srv.Client().Get(srv.URL + "/events")
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				got := make([]byte, len("data: first\n\n"))
				done := make(chan error, 1)
				go func() { _, err := io.ReadFull(resp.Body, got); done <- err }()
				select {
				case err := <-done:
					if err != nil || string(got) != "data: first\n\n" {
						t.Fatalf("first event: %q, %v", got, err)
					}
				case <-time.After(3 * time.Second):
					t.Fatal("the first event was not flushed while the upstream waits")
				}
			})
		}
	}
}

// TestIsEventStream agrees with mime.ParseMediaType's reading of the
// header ReverseProxy uses.
func TestIsEventStream(t *testing.T) {
	for ct, want := range map[string]bool{
		"text/event-stream":                  true,
		" TEXT/event-stream ":                true,
		"text/event-stream;charset=utf-8":    true,
		"text/event-stream; charset":         false, // malformed parameter
		"text/event-stream-x":                false,
		"text/plain":                         false,
		"":                                   false,
		"text/event-stream; a=1; b=\"x;y\"":  true,
		"text/event-stream;;":                false,
		"text/event-stream ; charset=\"utf8": false,
	} {
		if got := isEventStream(ct); got != want {
			t.Errorf("isEventStream(%q) = %v, want %v", ct, got, want)
		}
	}
}

// TestFastEligible: the fast path takes plain bodyless requests and leaves
// to ReverseProxy what it would rewrite otherwise.
func TestFastEligible(t *testing.T) {
	cases := []struct {
		name string
		req  string
		want bool
	}{
		{"get", "GET /x HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n", true},
		{"head with query", "HEAD /x?a=%41 HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"post without body", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", true},
		{"body", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx", false},
		{"chunked", "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false},
		{"connection", "GET /x HTTP/1.1\r\nHost: a\r\nConnection: close, X-A\r\nKeep-Alive: 1\r\n\r\n", true},
		{"upgrade", "GET /x HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", false},
		{"te", "GET /x HTTP/1.1\r\nHost: a\r\nTE: trailers\r\n\r\n", false},
		{"expect", "GET /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", false},
		{"proxy authorization", "GET /x HTTP/1.1\r\nHost: a\r\nProxy-Authorization: x\r\n\r\n", true},
		{"semicolon query", "GET /x?a=1;b=2 HTTP/1.1\r\nHost: a\r\n\r\n", false},
		{"bad escape in query", "GET /x?a=%zz HTTP/1.1\r\nHost: a\r\n\r\n", false},
	}
	for _, tc := range cases {
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewBufferString(tc.req)))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := fastEligible(req); got != tc.want {
			t.Errorf("%s: fastEligible = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestFastPathOnlyForPlainRoutes: a route with an https:// or h2c://
// upstream goes through ReverseProxy for every request, and so does every
// request once the lean client is off (lean_h1: false).
func TestFastPathOnlyForPlainRoutes(t *testing.T) {
	for _, ups := range [][]string{{"https://127.0.0.1:1"}, {"http://127.0.0.1:1", "h2c://127.0.0.1:2"}} {
		h, err := New(Options{Upstreams: ups})
		if err != nil {
			t.Fatal(err)
		}
		if h.fast != nil {
			t.Errorf("%v: fast path on", ups)
		}
	}
	tr := NewTransport()
	h, err := New(Options{Upstreams: []string{"unix:/run/x.sock", "http://127.0.0.1:1"}, Transport: tr})
	if err != nil || h.fast == nil {
		t.Fatalf("unix: and http:// route: fast path %v, %v", h.fast, err)
	}
	// With the lean client off the route's requests reach http.Transport;
	// an informer would need the lean client, so the fast path is skipped
	// (ServeHTTP checks LeanH1 per request).
	tr.SetLeanH1(false)
	if h.fast.t.LeanH1() {
		t.Error("LeanH1 still on")
	}
}
