package edge

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// rawRequest sends a request with exactly this target and Host header.
func rawRequest(t *testing.T, addr, target, host string) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, host)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestRedirectHTTPS(t *testing.T) {
	tests := []struct {
		name         string
		port         int
		target, host string
		wantStatus   int
		wantLocation string
	}{
		{"path and query kept", 443, "/a/b?x=1&y=2", "example.com", 308, "https://example.com/a/b?x=1&y=2"},
		{"port stripped, 443 omitted", 443, "/", "example.com:80", 308, "https://example.com/"},
		{"other https port", 8443, "/p", "example.com:8080", 308, "https://example.com:8443/p"},
		{"escaped path kept", 443, "/a%20b/%2F", "example.com", 308, "https://example.com/a%20b/%2F"},
		{"ipv6", 8443, "/", "[::1]:8080", 308, "https://[::1]:8443/"},
		{"double slash stays a path", 443, "//evil.com/x", "example.com", 308, "https://example.com//evil.com/x"},
		{"empty host", 443, "/", "", 400, ""},
		{"host with path", 443, "/", "evil.com/x", 400, ""},
		{"host with userinfo", 443, "/", "a@evil.com", 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(RedirectHTTPS(tt.port))
			defer srv.Close()
			resp := rawRequest(t, srv.Listener.Addr().String(), tt.target, tt.host)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d; want %d", resp.StatusCode, tt.wantStatus)
			}
			if got := resp.Header.Get("Location"); got != tt.wantLocation {
				t.Errorf("Location %q; want %q", got, tt.wantLocation)
			}
		})
	}
}

func TestHSTS(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	h := HSTS(ok, 365*24*time.Hour, true, true)
	want := "max-age=31536000; includeSubDomains; preload"

	tlsSrv := httptest.NewTLSServer(h)
	defer tlsSrv.Close()
	resp, err := tlsSrv.Client().Get(tlsSrv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Strict-Transport-Security"); got != want {
		t.Errorf("over TLS: %q; want %q", got, want)
	}

	plainSrv := httptest.NewServer(h)
	defer plainSrv.Close()
	resp, err = http.Get(plainSrv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Strict-Transport-Security"); got != "" {
		t.Errorf("over plain HTTP: %q; want none", got)
	}

	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	req.TLS = &tls.ConnectionState{}
	HSTS(ok, time.Hour, false, false).ServeHTTP(rec, req)
	if got := rec.Header().Get("Strict-Transport-Security"); got != "max-age=3600" {
		t.Errorf("plain policy: %q", got)
	}
}
