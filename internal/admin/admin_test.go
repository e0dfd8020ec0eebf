package admin

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tlsgate/tlsgate/internal/certs"
	"github.com/tlsgate/tlsgate/internal/events"
)

// stubBackend records what the admin API asked of it. The admin API is a
// thin layer; the real instance behind it is tested end to end in
// test/integration.
type stubBackend struct{ reloads int }

func (b *stubBackend) Status() Status                                         { return Status{Version: "yes"} }
func (b *stubBackend) Reload(context.Context) error                           { b.reloads++; return nil }
func (b *stubBackend) Certificates(context.Context) ([]certs.CertInfo, error) { return nil, nil }
func (b *stubBackend) Renew(context.Context, string, bool) (certs.CertInfo, error) {
	return certs.CertInfo{}, nil
}
func (b *stubBackend) Events() []events.Event  { return nil }
func (b *stubBackend) Emitter() events.Emitter { return events.Discard{} }

func TestLocalOnly(t *testing.T) {
	tests := []struct {
		name, host, origin string
		want               int
	}{
		{"cli over tcp", "127.0.0.1:2019", "", http.StatusOK},
		{"localhost", "localhost:2019", "", http.StatusOK},
		{"ipv6 loopback", "[::1]:2019", "", http.StatusOK},
		{"cli over unix socket", "unix", "", http.StatusOK},
		// A form on any web page POSTs with an Origin header.
		{"cross-site form", "127.0.0.1:2019", "https://evil.example", http.StatusForbidden},
		// A DNS-rebinding page reaches us under its own name.
		{"rebinding", "rebind.evil.example:2019", "", http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := &stubBackend{}
			req := httptest.NewRequest(http.MethodPost, "http://"+tc.host+"/reload", nil)
			req.Host = tc.host
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			rec := httptest.NewRecorder()
			Handler(b, "test").ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Errorf("POST /reload Host %q Origin %q: %d; want %d", tc.host, tc.origin, rec.Code, tc.want)
			}
			if tc.want != http.StatusOK && b.reloads != 0 {
				t.Error("a refused request reloaded")
			}
		})
	}
}

// The dashboard is served behind the same guard, with a policy that lets
// only its own inline script run.
func TestDashboard(t *testing.T) {
	tests := []struct {
		name, host string
		want       int
	}{
		{"loopback", "127.0.0.1:2019", http.StatusOK},
		{"rebinding", "rebind.evil.example:2019", http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "http://"+tc.host+"/", nil)
			rec := httptest.NewRecorder()
			Handler(&stubBackend{}, "test").ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("GET / Host %q: %d; want %d", tc.host, rec.Code, tc.want)
			}
			if tc.want != http.StatusOK {
				return
			}
			csp := rec.Header().Get("Content-Security-Policy")
			if !strings.Contains(csp, "script-src 'sha256-") || !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("CSP = %q; want the script's hash and nothing else by default", csp)
			}
			body := rec.Body.String()
			if !strings.Contains(body, "<title>tlsgate</title>") || strings.Contains(body, "https://") || strings.Contains(body, "src=") {
				t.Error("the page is not the self-contained dashboard")
			}
		})
	}
}
