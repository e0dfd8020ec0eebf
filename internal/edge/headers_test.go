package edge

import (
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/tlsgate/tlsgate/internal/config"
)

func TestHeadersNothingConfigured(t *testing.T) {
	next := http.NotFoundHandler()
	for name, h := range map[string]http.Handler{
		"nil":            Headers(next, nil, nil),
		"empty":          Headers(next, &config.Headers{Request: &config.HeaderOps{}, Response: &config.HeaderOps{}}, &config.SecurityHeaders{}),
		"empty ops only": Headers(next, &config.Headers{}, nil),
	} {
		if reflect.ValueOf(h).Pointer() != reflect.ValueOf(next).Pointer() {
			t.Errorf("%s: Headers returned a wrapper; want next itself (no per-request cost)", name)
		}
	}
}

func TestHeaders(t *testing.T) {
	tests := []struct {
		name        string
		h           *config.Headers
		sec         *config.SecurityHeaders
		wantReq     map[string]string // request header the upstream saw; "" = absent
		wantHost    string
		wantResp    map[string]string // response header the client got; "" = absent
		wantRespLen map[string]int    // number of values, where it matters
	}{
		{
			name: "request remove then set",
			h: &config.Headers{Request: &config.HeaderOps{
				Remove: []string{"x-secret", "X-Replaced"},
				Set:    map[string]string{"x-replaced": "new", "X-Added": "yes"},
			}},
			wantReq: map[string]string{"X-Secret": "", "X-Replaced": "new", "X-Added": "yes", "X-Kept": "k"},
		},
		{
			name:     "request host",
			h:        &config.Headers{Request: &config.HeaderOps{Set: map[string]string{"host": "internal.test"}}},
			wantHost: "internal.test",
		},
		{
			name: "response remove then set",
			h: &config.Headers{Response: &config.HeaderOps{
				Remove: []string{"server", "X-Powered-By"},
				Set:    map[string]string{"Cache-Control": "no-store"},
			}},
			wantResp:    map[string]string{"Server": "", "X-Powered-By": "", "Cache-Control": "no-store", "X-App": "1"},
			wantRespLen: map[string]int{"Cache-Control": 1},
		},
		{
			name: "security headers replace the upstream's",
			sec:  &config.SecurityHeaders{ContentTypeNosniff: true, ReferrerPolicy: "no-referrer", FrameOptions: "sameorigin"},
			wantResp: map[string]string{
				"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
				"X-Frame-Options": "SAMEORIGIN", "Server": "app/1.0",
			},
			wantRespLen: map[string]int{"X-Frame-Options": 1},
		},
		{
			name:     "only what is turned on",
			sec:      &config.SecurityHeaders{ContentTypeNosniff: true},
			wantResp: map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "", "X-Frame-Options": "ALLOWALL"},
		},
		{
			// An explicit response set has the last word over security_headers.
			name:     "set wins over security headers",
			h:        &config.Headers{Response: &config.HeaderOps{Set: map[string]string{"Referrer-Policy": "origin"}}},
			sec:      &config.SecurityHeaders{ReferrerPolicy: "no-referrer"},
			wantResp: map[string]string{"Referrer-Policy": "origin"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen *http.Request
			up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = r
				w.Header().Set("Server", "app/1.0")
				w.Header().Set("X-Powered-By", "python")
				w.Header().Set("X-App", "1")
				w.Header().Add("Cache-Control", "public")
				w.Header().Set("X-Frame-Options", "ALLOWALL")
				w.WriteHeader(201)
				io.WriteString(w, "body")
			})
			req := httptest.NewRequest("GET", "http://a.test/", nil)
			req.Header.Set("X-Secret", "s")
			req.Header.Set("X-Replaced", "old")
			req.Header.Set("X-Kept", "k")
			rec := httptest.NewRecorder()
			Headers(up, tt.h, tt.sec).ServeHTTP(rec, req)

			if rec.Code != 201 || rec.Body.String() != "body" {
				t.Errorf("answer %d %q; want the upstream's 201 body", rec.Code, rec.Body.String())
			}
			for k, want := range tt.wantReq {
				if got := seen.Header.Get(k); got != want {
					t.Errorf("upstream saw %s %q; want %q", k, got, want)
				}
			}
			if tt.wantHost != "" && seen.Host != tt.wantHost {
				t.Errorf("upstream saw Host %q; want %q", seen.Host, tt.wantHost)
			}
			if req.Header.Get("X-Secret") != "s" || req.Host != "a.test" {
				t.Errorf("the incoming request was modified: %v %q", req.Header, req.Host)
			}
			for k, want := range tt.wantResp {
				if got := rec.Header().Get(k); got != want {
					t.Errorf("client got %s %q; want %q", k, got, want)
				}
			}
			for k, n := range tt.wantRespLen {
				if got := rec.Header().Values(k); len(got) != n {
					t.Errorf("client got %s %q; want %d value(s)", k, got, n)
				}
			}
		})
	}
}

// nosniffOnly is the simplest response policy, for the writer tests.
var nosniffOnly = &config.SecurityHeaders{ContentTypeNosniff: true}

func TestHeadersWriterPaths(t *testing.T) {
	tests := []struct {
		name string
		h    http.HandlerFunc
	}{
		// net/http sends an empty 200 for a handler that writes nothing.
		{"nothing written", func(w http.ResponseWriter, r *http.Request) {}},
		{"write only", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "x") }},
		{"read from", func(w http.ResponseWriter, r *http.Request) {
			io.Copy(w, io.LimitReader(zeros{}, 10))
		}},
		// Flushing commits the header, so it must be edited first.
		{"flush first", func(w http.ResponseWriter, r *http.Request) {
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("Flush: %v", err)
			}
			io.WriteString(w, "x")
		}},
		{"flusher", func(w http.ResponseWriter, r *http.Request) { w.(http.Flusher).Flush() }},
		// A 103 Early Hints goes out as is; the final answer is edited.
		{"early hints", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(200)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(Headers(tt.h, nil, nosniffOnly))
			defer srv.Close()
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("status %d, X-Content-Type-Options %q; want 200, nosniff", resp.StatusCode, resp.Header.Get("X-Content-Type-Options"))
			}
		})
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestHeadersHijack(t *testing.T) {
	// WebSocket upgrades hijack the connection through
	// http.ResponseController, which must reach net/http's writer.
	h := Headers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
		brw.Flush()
	}), nil, nosniffOnly)
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "hijacked" {
		t.Errorf("body %q; want the hijacker's", body)
	}
}

func TestHeadersAllocs(t *testing.T) {
	// Response edits cost one small wrapper per request, nothing more.
	h := Headers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }),
		&config.Headers{Response: &config.HeaderOps{Remove: []string{"Server"}, Set: map[string]string{"X-A": "1"}}}, nosniffOnly)
	req := httptest.NewRequest("GET", "/", nil)
	w := &discardWriter{h: make(http.Header)}
	if n := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, req) }); n > 1 {
		t.Errorf("%v allocations per request; want at most 1", n)
	}
}

type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

func BenchmarkHeaders(b *testing.B) {
	h := Headers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }),
		&config.Headers{Response: &config.HeaderOps{Remove: []string{"Server"}}}, nosniffOnly)
	req := httptest.NewRequest("GET", "/", nil)
	w := &discardWriter{h: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}
