package route

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// named answers with its name, so tests see which route served.
type named string

func (n named) ServeHTTP(w http.ResponseWriter, r *http.Request) { io.WriteString(w, string(n)) }

func TestPaths(t *testing.T) {
	h := NewPaths([]Route{
		{Prefix: "/", Handler: named("root")},
		{Prefix: "/api/", Handler: named("api")},
		{Prefix: "/api/v2/", Handler: named("v2")},
		{Prefix: "/healthz", Handler: named("health")},
		{Prefix: "/internal/", Handler: named("internal")},
	})
	tests := []struct{ path, want string }{
		{"/", "root"},
		{"/index.html", "root"},
		{"/api", "api"}, // "/api/" also matches "/api"
		{"/api/", "api"},
		{"/api/users", "api"},
		{"/api/v2", "v2"},
		{"/api/v2/x", "v2"}, // longest wins
		{"/apix", "root"},
		{"/healthz", "health"},
		{"/static/../internal/x", "internal"}, // matched as the backend reads it
		{"//internal/x", "internal"},
		{"/api/./v2/x", "v2"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", "/", nil)
			req.URL.Path = tt.path
			h.ServeHTTP(rec, req)
			if got := rec.Body.String(); got != tt.want {
				t.Errorf("path %q served by %q; want %q", tt.path, got, tt.want)
			}
		})
	}
}

func TestPathsNotFound(t *testing.T) {
	h := NewPaths([]Route{{Prefix: "/api/", Handler: named("api")}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/other", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("status %d; want 404", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q; want text/plain", ct)
	}
	if body := rec.Body.String(); body != "404 page not found\n" {
		t.Errorf("body %q", body)
	}
}

func TestRespond(t *testing.T) {
	tests := []struct {
		name            string
		h               http.Handler
		method          string
		wantStatus      int
		wantBody, wantT string
	}{
		{"defaults", Respond(0, "ok", nil), "GET", 200, "ok", "text/plain; charset=utf-8"},
		{"status and type", Respond(503, `{"down":true}`, map[string]string{"content-type": "application/json"}), "GET", 503, `{"down":true}`, "application/json"},
		{"head has no body", Respond(200, "ok", nil), "HEAD", 200, "", "text/plain; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.h)
			defer srv.Close()
			req, _ := http.NewRequest(tt.method, srv.URL, nil)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus || string(body) != tt.wantBody || resp.Header.Get("Content-Type") != tt.wantT {
				t.Errorf("got %d %q %q; want %d %q %q", resp.StatusCode, body, resp.Header.Get("Content-Type"), tt.wantStatus, tt.wantBody, tt.wantT)
			}
		})
	}
}

// discardWriter is a ResponseWriter that keeps nothing, for benchmarks.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

type nop struct{}

func (nop) ServeHTTP(http.ResponseWriter, *http.Request) {}

func BenchmarkPaths(b *testing.B) {
	h := NewPaths([]Route{
		{Prefix: "/", Handler: nop{}},
		{Prefix: "/api/", Handler: nop{}},
		{Prefix: "/api/v2/", Handler: nop{}},
		{Prefix: "/static/", Handler: nop{}},
		{Prefix: "/healthz", Handler: nop{}},
	})
	w := &discardWriter{h: http.Header{}}
	for _, p := range []string{"/api/v2/users/42", "/index.html"} {
		b.Run(p, func(b *testing.B) {
			req := httptest.NewRequest("GET", p, nil)
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
	}
}
