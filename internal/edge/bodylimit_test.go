package edge

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// limitedProxy is a real reverse proxy behind BodyLimit, and a count of
// requests its backend read to the end.
func limitedProxy(t *testing.T, max int64, timeout time.Duration, h2 bool) (*httptest.Server, *atomic.Int32, *atomic.Int32) {
	t.Helper()
	var seen, complete atomic.Int32
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		if _, err := io.Copy(io.Discard, r.Body); err == nil {
			complete.Add(1)
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(backend.Close)
	u, _ := url.Parse(backend.URL)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) { w.WriteHeader(http.StatusBadGateway) }
	front := httptest.NewUnstartedServer(BodyLimit(rp, max, timeout))
	if h2 {
		front.EnableHTTP2 = true
		front.StartTLS()
	} else {
		front.Start()
	}
	t.Cleanup(front.Close)
	return front, &seen, &complete
}

func TestBodyLimit(t *testing.T) {
	const limit = 1 << 20
	for _, h2 := range []bool{false, true} {
		proto := map[bool]string{false: "h1", true: "h2"}[h2]
		tests := []struct {
			name     string
			size     int
			chunked  bool
			want     int
			complete int32 // requests the backend read whole
		}{
			{"under limit", limit / 2, false, 200, 1},
			{"at limit chunked", limit, true, 200, 1},
			// Content-Length says so: 413 before the upstream is contacted.
			{"content-length over", 2 * limit, false, 413, 0},
			// Chunked: cut at the limit, upstream request aborted.
			{"chunked over", 3 * limit, true, 413, 0},
		}
		for _, tt := range tests {
			t.Run(proto+"/"+tt.name, func(t *testing.T) {
				front, seen, complete := limitedProxy(t, limit, 0, h2)
				var body io.Reader = bytes.NewReader(make([]byte, tt.size))
				if tt.chunked {
					body = io.MultiReader(body) // hides the length
				}
				req, _ := http.NewRequest("POST", front.URL, body)
				resp, err := front.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tt.want {
					t.Fatalf("status = %d; want %d", resp.StatusCode, tt.want)
				}
				if got := complete.Load(); got != tt.complete {
					t.Fatalf("backend read %d whole bodies; want %d", got, tt.complete)
				}
				if !tt.chunked && tt.want == 413 && seen.Load() != 0 {
					t.Fatal("backend was contacted for a Content-Length over the limit")
				}
			})
		}
	}
}

// A client that sends part of a body and stalls gets 408.
func TestBodyReadTimeout(t *testing.T) {
	front, _, complete := limitedProxy(t, 0, 200*time.Millisecond, false)
	c, err := net.Dial("tcp", strings.TrimPrefix(front.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("status = %d; want 408", resp.StatusCode)
	}
	if complete.Load() != 0 {
		t.Fatal("backend read a whole body")
	}
}

// The same over HTTP/2, where the deadline is the stream's.
func TestBodyReadTimeoutH2(t *testing.T) {
	front, _, complete := limitedProxy(t, 0, 200*time.Millisecond, true)
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() { pw.Write([]byte("0123456789")) }()
	req, _ := http.NewRequest("POST", front.URL, pr)
	resp, err := front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout || resp.ProtoMajor != 2 {
		t.Fatalf("got %d over HTTP/%d; want 408 over HTTP/2", resp.StatusCode, resp.ProtoMajor)
	}
	if complete.Load() != 0 {
		t.Fatal("backend read a whole body")
	}
}

// A chunked body the client framed badly is the client's fault: 400, not
// the proxy's 502, and the backend never gets a whole body. Issue 16: the
// smuggling battery found these answered 502 "upstream did not answer".
func TestBodyMalformed(t *testing.T) {
	tests := []struct {
		name, body string
	}{
		{"chunk size not hex", "zz\r\nhello\r\n0\r\n\r\n"},
		{"chunk longer than its size", "3\r\nhello\r\n0\r\n\r\n"},
		{"bare LF after chunk size", "5\nhello\r\n0\r\n\r\n"},
		{"chunk line over the limit", "5;" + strings.Repeat("x", 8192) + "\r\nhello\r\n0\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// No size limit and no timeout: the answer does not depend on them.
			front, _, complete := limitedProxy(t, 0, 0, false)
			c, err := net.Dial("tcp", strings.TrimPrefix(front.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"+tt.body)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status = %d; want 400", resp.StatusCode)
			}
			if complete.Load() != 0 {
				t.Fatal("backend read a whole body")
			}
		})
	}
}
