package proxy

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// seen is what echoBackend reports about the request it received.
type seen struct {
	Name   string      `json:"name"`
	Host   string      `json:"host"`
	URI    string      `json:"uri"`
	Method string      `json:"method"`
	Body   string      `json:"body"`
	Header http.Header `json:"header"`
}

// echoHandler answers with a JSON description of the request.
func echoHandler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(seen{Name: name, Host: r.Host, URI: r.RequestURI, Method: r.Method, Body: string(body), Header: r.Header})
	})
}

// echoBackend starts an HTTP backend that reports what it received.
func echoBackend(t *testing.T, name string) *httptest.Server {
	t.Helper()
	return echoBackendHandler(t, echoHandler(name))
}

func echoBackendHandler(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// unixBackend serves h on a unix socket in a temporary directory and
// returns the "unix:" upstream for it.
func unixBackend(t *testing.T, h http.Handler) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "unix:" + path
}

// deadUpstream returns an http:// upstream on a local port nobody listens on.
func deadUpstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// frontend starts a plain HTTP server running a proxy built from opts.
func frontend(t *testing.T, opts Options) *httptest.Server {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// do sends a request through c and decodes the backend's report.
func do(t *testing.T, c *http.Client, method, url, body string, hdr map[string]string) (int, seen, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var s seen
	if resp.Header.Get("Content-Type") == "application/json" {
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatalf("decode %q: %v", raw, err)
		}
	}
	return resp.StatusCode, s, string(raw)
}
