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
