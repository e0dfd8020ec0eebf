package answer

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func TestError(t *testing.T) {
	dir := t.TempDir()
	html := filepath.Join(dir, "502.html")
	if err := os.WriteFile(html, []byte("<h1>down</h1>"), 0o600); err != nil {
		t.Fatal(err)
	}
	pages, err := ReadPages(map[int]string{502: html})
	if err != nil {
		t.Fatal(err)
	}
	text := []byte("502 Bad Gateway\n")
	tests := []struct {
		name     string
		status   int
		accept   string
		wantBody string
		wantType string
	}{
		{"browser", 502, "text/html,application/xhtml+xml,*/*;q=0.8", "<h1>down</h1>", "text/html; charset=utf-8"},
		{"text wildcard", 502, "text/*", "<h1>down</h1>", "text/html; charset=utf-8"},
		// curl's default: any type is fine, so the short text it reads best.
		{"curl", 502, "*/*", "502 Bad Gateway\n", "text/plain; charset=utf-8"},
		{"no accept", 502, "", "502 Bad Gateway\n", "text/plain; charset=utf-8"},
		{"html refused", 502, "text/html;q=0, */*", "502 Bad Gateway\n", "text/plain; charset=utf-8"},
		{"json client", 502, "application/json", "502 Bad Gateway\n", "text/plain; charset=utf-8"},
		{"no page for status", 504, "text/html", "502 Bad Gateway\n", "text/plain; charset=utf-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				Error(w, r, tc.status, text)
			})
			h = WithPages(h, pages)
			r := httptest.NewRequest("GET", "/", nil)
			if tc.accept != "" {
				r.Header.Set("Accept", tc.accept)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.status || w.Body.String() != tc.wantBody || w.Header().Get("Content-Type") != tc.wantType {
				t.Errorf("got %d %q %q; want %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body.String(), tc.status, tc.wantType, tc.wantBody)
			}
		})
	}
}

// Pages.Error is what callers holding a site's pages before WithPages use
// (the 431 check); a nil Pages, a site without pages, writes the text.
func TestPagesError(t *testing.T) {
	html := filepath.Join(t.TempDir(), "431.html")
	if err := os.WriteFile(html, []byte("<h1>too big</h1>"), 0o600); err != nil {
		t.Fatal(err)
	}
	pages, err := ReadPages(map[int]string{431: html})
	if err != nil {
		t.Fatal(err)
	}
	text := []byte("431 Request Header Fields Too Large\n")
	for _, tc := range []struct {
		name     string
		pages    *Pages
		accept   string
		wantBody string
	}{
		{"browser", pages, "text/html", "<h1>too big</h1>"},
		{"curl", pages, "*/*", string(text)},
		{"no pages", nil, "text/html", string(text)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Accept", tc.accept)
			w := httptest.NewRecorder()
			tc.pages.Error(w, r, 431, text)
			if w.Code != 431 || w.Body.String() != tc.wantBody {
				t.Errorf("got %d %q; want 431 %q", w.Code, w.Body.String(), tc.wantBody)
			}
		})
	}
}

func TestReadPagesMissing(t *testing.T) {
	if _, err := ReadPages(map[int]string{502: filepath.Join(t.TempDir(), "nope.html")}); err == nil {
		t.Fatal("a missing page file loaded")
	}
}
