package edge

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/config"
)

// testCORS is the policy most cases use: the one from docs/INTERFACE.md's
// example, plus a subdomain pattern and an exposed header.
var testCORS = config.CORS{
	AllowOrigins:     []string{"https://app.example.com", "http://localhost:5173", "https://*.apps.test"},
	AllowMethods:     []string{"GET", "post"},
	AllowHeaders:     []string{"X-Custom", "Content-Type"},
	ExposeHeaders:    []string{"x-request-id"},
	AllowCredentials: true,
	MaxAge:           config.Duration(10 * time.Minute),
}

// upstream records whether it was called and answers with its own
// (permissive, wrong) CORS headers, as an app with CORS middleware would.
type upstream struct{ called bool }

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.called = true
	w.Header().Add("Access-Control-Allow-Origin", "*")
	w.Header().Add("Access-Control-Allow-Methods", "DELETE")
	w.Header().Add("Vary", "Accept-Encoding")
	w.Write([]byte("from upstream"))
}

func newCORS(t *testing.T, c config.CORS, next http.Handler) (http.Handler, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h, err := CORS(next, c, logger)
	if err != nil {
		t.Fatalf("CORS: %v", err)
	}
	return h, &logs
}

func TestCORSPreflight(t *testing.T) {
	tests := []struct {
		name, origin, method, headers string
		wantAllowed                   bool
		wantLog                       string // a substring of the debug log, when refused
	}{
		{"allowed", "https://app.example.com", "POST", "x-custom", true, ""},
		{"allowed, lower-case method in config", "https://app.example.com", "POST", "", true, ""},
		{"allowed, two headers", "http://localhost:5173", "GET", "content-type,x-custom", true, ""},
		{"pattern", "https://a.apps.test", "GET", "", true, ""},
		{"pattern, two labels", "https://a.b.apps.test", "GET", "", true, ""},
		{"other origin", "https://evil.example", "GET", "", false, "reason=\"origin not allowed\""},
		// A pattern stands for labels only: not the bare domain, not a
		// different scheme or port, not a look-alike suffix.
		{"pattern, bare domain", "https://apps.test", "GET", "", false, "origin not allowed"},
		{"pattern, other scheme", "http://a.apps.test", "GET", "", false, "origin not allowed"},
		{"pattern, port", "https://a.apps.test:8443", "GET", "", false, "origin not allowed"},
		{"pattern, look-alike", "https://evilapps.test", "GET", "", false, "origin not allowed"},
		{"pattern, userinfo", "https://x@a.apps.test", "GET", "", false, "origin not allowed"},
		{"port differs", "http://localhost:5174", "GET", "", false, "origin not allowed"},
		{"method not allowed", "https://app.example.com", "DELETE", "", false, "reason=\"method not allowed\""},
		{"header not allowed", "https://app.example.com", "GET", "x-other", false, "reason=\"headers not allowed\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := &upstream{}
			h, logs := newCORS(t, testCORS, up)
			req := httptest.NewRequest("OPTIONS", "https://a.test/api", nil)
			req.Header.Set("Origin", tt.origin)
			req.Header.Set("Access-Control-Request-Method", tt.method)
			if tt.headers != "" {
				req.Header.Set("Access-Control-Request-Headers", tt.headers)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			if rec.Code != http.StatusNoContent {
				t.Errorf("status %d; want 204", rec.Code)
			}
			if up.called {
				t.Error("preflight reached the upstream; want it answered at the edge")
			}
			if !hasToken(rec.Header().Values("Vary"), "Origin") {
				t.Errorf("Vary %q; want Origin", rec.Header().Values("Vary"))
			}
			got := rec.Header().Get("Access-Control-Allow-Origin")
			if !tt.wantAllowed {
				if got != "" {
					t.Errorf("Access-Control-Allow-Origin %q; want none", got)
				}
				if !strings.Contains(logs.String(), tt.wantLog) || !strings.Contains(logs.String(), "level=DEBUG") {
					t.Errorf("debug log %q; want it to contain %q", logs.String(), tt.wantLog)
				}
				return
			}
			checks := []struct{ header, want string }{
				{"Access-Control-Allow-Origin", tt.origin},
				{"Access-Control-Allow-Methods", tt.method},
				{"Access-Control-Allow-Headers", tt.headers},
				{"Access-Control-Allow-Credentials", "true"},
				{"Access-Control-Max-Age", "600"},
			}
			for _, c := range checks {
				if got := rec.Header().Get(c.header); got != c.want {
					t.Errorf("%s %q; want %q", c.header, got, c.want)
				}
			}
			if logs.Len() != 0 {
				t.Errorf("allowed preflight logged %q", logs.String())
			}
		})
	}
}

func TestCORSActual(t *testing.T) {
	tests := []struct {
		name, method, origin string
		wantOrigin           string // Access-Control-Allow-Origin; "" for none
		wantLog              bool
	}{
		{"allowed origin", "GET", "https://app.example.com", "https://app.example.com", false},
		{"allowed pattern", "POST", "https://x.apps.test", "https://x.apps.test", false},
		// The upstream's "*" must not leak through for an origin we refuse.
		{"other origin", "GET", "https://evil.example", "", true},
		{"method not allowed", "PUT", "https://app.example.com", "", true},
		// Browsers send Origin on same-origin POSTs; no CORS needed, no log.
		{"same origin", "POST", "https://a.test", "", false},
		{"no origin", "GET", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := &upstream{}
			h, logs := newCORS(t, testCORS, up)
			req := httptest.NewRequest(tt.method, "https://a.test/api", nil)
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			if !up.called || rec.Body.String() != "from upstream" {
				t.Fatalf("upstream called %v, body %q; want the upstream's answer", up.called, rec.Body.String())
			}
			hdr := rec.Header()
			if !hasToken(hdr.Values("Vary"), "Origin") || !hasToken(hdr.Values("Vary"), "Accept-Encoding") {
				t.Errorf("Vary %q; want Origin and the upstream's Accept-Encoding", hdr.Values("Vary"))
			}
			if tt.origin == "" {
				// Not a CORS request: the upstream's answer is left alone.
				if got := hdr.Values("Access-Control-Allow-Origin"); len(got) != 1 || got[0] != "*" {
					t.Errorf("no Origin: Access-Control-Allow-Origin %q; want the upstream's [*]", got)
				}
				return
			}
			if got := hdr.Values("Access-Control-Allow-Origin"); tt.wantOrigin == "" && len(got) != 0 ||
				tt.wantOrigin != "" && (len(got) != 1 || got[0] != tt.wantOrigin) {
				t.Errorf("Access-Control-Allow-Origin %q; want exactly %q", got, tt.wantOrigin)
			}
			if got := hdr.Get("Access-Control-Allow-Methods"); got != "" {
				t.Errorf("upstream's Access-Control-Allow-Methods %q leaked through", got)
			}
			if tt.wantOrigin != "" {
				if hdr.Get("Access-Control-Allow-Credentials") != "true" || hdr.Get("Access-Control-Expose-Headers") != "X-Request-Id" {
					t.Errorf("headers %v; want credentials true and X-Request-Id exposed", hdr)
				}
			}
			if gotLog := strings.Contains(logs.String(), "cors refused"); gotLog != tt.wantLog {
				t.Errorf("logged refusal %v (%q); want %v", gotLog, logs.String(), tt.wantLog)
			}
		})
	}
}

func TestCORSStar(t *testing.T) {
	h, _ := newCORS(t, config.CORS{AllowOrigins: []string{"*"}}, &upstream{})
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Origin", "https://anyone.example")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if got := rec.Header().Values("Access-Control-Allow-Origin"); len(got) != 1 || got[0] != "*" {
		t.Errorf("Access-Control-Allow-Origin %q; want [*]", got)
	}
	if got := rec.Header().Get("Access-Control-Allow-Credentials"); got != "" {
		t.Errorf("Access-Control-Allow-Credentials %q; want none", got)
	}
}

func TestCORSOriginNormalized(t *testing.T) {
	// The config may spell an origin with capitals, a default port or a
	// trailing slash; browsers send none of these.
	h, _ := newCORS(t, config.CORS{AllowOrigins: []string{"HTTPS://App.Example.com:443/"}}, &upstream{})
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Origin", "https://app.example.com")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "https://app.example.com" {
		t.Errorf("Access-Control-Allow-Origin %q; want the origin", got)
	}
}

func TestCORSVaryKept(t *testing.T) {
	// A handler that Sets Vary would drop the Vary: Origin put there
	// before it ran; caches must still learn the answer depends on Origin.
	setVary := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept-Encoding")
	})
	h, _ := newCORS(t, testCORS, setVary)
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Origin", "https://app.example.com")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if v := rec.Header().Values("Vary"); !hasToken(v, "Origin") || !hasToken(v, "Accept-Encoding") {
		t.Errorf("Vary %q; want Accept-Encoding and Origin", v)
	}
}

func TestCORSBadOrigins(t *testing.T) {
	for _, o := range []string{"app.example.com", "https://a.test/path", "https://*.*.test", "https://u@a.test"} {
		if _, err := CORS(http.NotFoundHandler(), config.CORS{AllowOrigins: []string{o}}, nil); err == nil {
			t.Errorf("origin %q: no error; want one", o)
		}
	}
}

func TestCORSNilLogger(t *testing.T) {
	h, err := CORS(&upstream{}, testCORS, nil)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Origin", "https://evil.example")
	h.ServeHTTP(httptest.NewRecorder(), req) // must not panic
}
