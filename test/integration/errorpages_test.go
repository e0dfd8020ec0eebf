package integration

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestErrorPages: a stopped backend gives the site's 502 page to a client
// that accepts HTML and the short text to curl (issue 12); a 403 from
// allow_ips gets its page too, and a backend's own 502 is passed on as the
// backend wrote it.
func TestErrorPages(t *testing.T) {
	t.Parallel()
	skipShort(t, "curl")
	stopped := httptest.NewServer(http.NotFoundHandler())
	stoppedURL := stopped.URL
	stopped.Close()
	own := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, "the app's own 502")
	}))
	g := newGateConfig(t)
	pages := filepath.Join(g.Dir, "errors")
	if err := os.MkdirAll(pages, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"502.html": "<h1>We are updating</h1>\n", "403.html": "<h1>Not from here</h1>\n"} {
		if err := os.WriteFile(filepath.Join(pages, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	g.Vars = map[string]string{"Own": own, "Stopped": stoppedURL}
	inst := startWith(t, g, header+`
sites:
  - hosts: [pages.test]
    tls: local
    error_pages: {502: ./errors/502.html, 403: ./errors/403.html}
    routes:
      - path: /own/
        to: ["{{.Vars.Own}}"]
      - path: /private/
        respond: {status: 200}
        allow_ips: [192.0.2.0/24]
      - path: /
        to: ["{{.Vars.Stopped}}"]
`)
	browser := "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	for _, tc := range []struct {
		name, path string
		extra      []string
		status     int
		ctype      string
		body       string
	}{
		{"502 to a browser", "/", []string{"-H", browser}, 502, "text/html; charset=utf-8", "<h1>We are updating</h1>\n"},
		{"502 to curl", "/", nil, 502, "text/plain; charset=utf-8", "502 Bad Gateway"},
		{"403 to a browser", "/private/", []string{"-H", browser}, 403, "text/html; charset=utf-8", "<h1>Not from here</h1>\n"},
		{"403 to curl", "/private/", nil, 403, "text/plain; charset=utf-8", "403 Forbidden"},
		{"the backend's own 502", "/own/", []string{"-H", browser}, 502, "text/plain", "the app's own 502"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--cacert", inst.RootPath(), "-D", "-"}, tc.extra...)
			r := curl(t, inst, "pages.test", tc.path, args...)
			head, body, _ := strings.Cut(r.Stdout, "\r\n\r\n")
			if !strings.HasPrefix(head, fmt.Sprintf("HTTP/1.1 %d", tc.status)) && !strings.HasPrefix(head, fmt.Sprintf("HTTP/2 %d", tc.status)) {
				t.Fatalf("status line: %s; want %d", strings.SplitN(head, "\r\n", 2)[0], tc.status)
			}
			if !strings.Contains(strings.ToLower(head), "content-type: "+tc.ctype+"\r\n") {
				t.Errorf("headers lack Content-Type: %s:\n%s", tc.ctype, head)
			}
			if !strings.HasPrefix(body, tc.body) {
				t.Errorf("body %q; want it to start with %q", body, tc.body)
			}
		})
	}
}

// TestErrorPage431: a header block over limits.max_header_bytes gets the
// site's 431 page when the client accepts HTML and the short text from
// curl, over HTTP/1.1 and HTTP/2; a block past the room Go's server reads
// (twice the limit, at least 64 KiB past it) still gets Go's own text.
func TestErrorPage431(t *testing.T) {
	t.Parallel()
	skipShort(t, "curl")
	g := newGateConfig(t)
	if err := os.WriteFile(filepath.Join(g.Dir, "431.html"), []byte("<h1>Too many cookies</h1>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inst := startWith(t, g, header+`
limits: {max_header_bytes: 4KiB}
sites:
  - hosts: [big.test]
    tls: local
    error_pages: {431: ./431.html}
    routes: [{path: /, respond: {body: ok}}]
`)
	browser := "Accept: text/html,application/xhtml+xml,*/*;q=0.8"
	big := "X-Big: " + strings.Repeat("a", 16<<10)
	huge := "X-Big: " + strings.Repeat("a", 80<<10)
	for _, tc := range []struct {
		name  string
		extra []string
		ctype string
		body  string
	}{
		{"page to a browser", []string{"-H", browser, "-H", big}, "text/html; charset=utf-8", "<h1>Too many cookies</h1>\n"},
		{"page to a browser over h2", []string{"--http2", "-H", browser, "-H", big}, "text/html; charset=utf-8", "<h1>Too many cookies</h1>\n"},
		{"text to curl", []string{"-H", big}, "text/plain; charset=utf-8", "431 Request Header Fields Too Large"},
		{"Go's own past the room", []string{"--http1.1", "-H", browser, "-H", huge}, "text/plain; charset=utf-8", "431 Request Header Fields Too Large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--cacert", inst.RootPath(), "-D", "-"}, tc.extra...)
			r := curl(t, inst, "big.test", "/", args...)
			head, body, _ := strings.Cut(r.Stdout, "\r\n\r\n")
			if !strings.HasPrefix(head, "HTTP/1.1 431") && !strings.HasPrefix(head, "HTTP/2 431") {
				t.Fatalf("status line: %s (%s); want 431", strings.SplitN(head, "\r\n", 2)[0], r.Stderr)
			}
			if !strings.Contains(strings.ToLower(head), "content-type: "+tc.ctype+"\r\n") {
				t.Errorf("headers lack Content-Type: %s:\n%s", tc.ctype, head)
			}
			if !strings.HasPrefix(body, tc.body) {
				t.Errorf("body %q; want it to start with %q", body, tc.body)
			}
		})
	}
}
