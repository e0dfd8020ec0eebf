package route

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// staticTree makes dir/{outside/secret.txt, root/...} and returns the root.
// root holds links that point out of it, which must never be followed.
func staticTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	outside := filepath.Join(dir, "outside")
	root := filepath.Join(dir, "root")
	files := map[string]string{
		"outside/secret.txt":     "SECRET",
		"secret.txt":             "SECRET",
		"root/index.html":        "<h1>home</h1>",
		"root/app.css":           "body{}",
		"root/sub/page.txt":      "page",
		"root/noindex/a.txt":     "a",
		"root/noindex/.hidden":   "hidden",
		"root/.env":              "TOKEN=SECRET",
		"root/.well-known/x.txt": "wk",
		"root/custom/home.htm":   "custom index",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"root/link-out-dir":  outside,
		"root/link-out-file": filepath.Join(outside, "secret.txt"),
		"root/link-rel-out":  "../outside/secret.txt",
		"root/link-in":       "app.css",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// rawGet sends target exactly as written (no client-side cleaning) and
// returns the status and body.
func rawGet(t *testing.T, addr, target string) (int, string, http.Header) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", target)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

func TestStatic(t *testing.T) {
	root := staticTree(t)
	plain, err := Static(root, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	browse, err := Static(root, true, []string{"home.htm", "index.html"})
	if err != nil {
		t.Fatal(err)
	}
	srvPlain := httptest.NewServer(plain)
	defer srvPlain.Close()
	srvBrowse := httptest.NewServer(browse)
	defer srvBrowse.Close()
	addrPlain := srvPlain.Listener.Addr().String()
	addrBrowse := srvBrowse.Listener.Addr().String()

	tests := []struct {
		name, addr, target string
		wantStatus         int
		wantBody           string // substring; "" = any
	}{
		{"index", addrPlain, "/", 200, "<h1>home</h1>"},
		{"file", addrPlain, "/app.css", 200, "body{}"},
		{"nested", addrPlain, "/sub/page.txt", 200, "page"},
		{"dir without slash redirects", addrPlain, "/sub?q=1", 301, ""},
		{"no index, browse off", addrPlain, "/noindex/", 404, "404 page not found"},
		{"missing", addrPlain, "/nope.txt", 404, "404 page not found"},
		{"dotfile hidden", addrPlain, "/.env", 404, ""},
		{"well-known served", addrPlain, "/.well-known/x.txt", 200, "wk"},
		{"symlink inside root", addrPlain, "/link-in", 200, "body{}"},
		// Traversal attempts: none may return a file outside root.
		{"dotdot", addrPlain, "/../secret.txt", 404, ""},
		{"dotdot deep", addrPlain, "/sub/../../secret.txt", 404, ""},
		{"encoded dots", addrPlain, "/%2e%2e/secret.txt", 404, ""},
		{"encoded slash", addrPlain, "/sub/..%2f..%2fsecret.txt", 404, ""},
		{"encoded both", addrPlain, "/%2e%2e%2f%2e%2e%2foutside%2fsecret.txt", 404, ""},
		{"backslash", addrPlain, "/..\\secret.txt", 404, ""},
		{"symlinked dir out of root", addrPlain, "/link-out-dir/secret.txt", 404, ""},
		{"symlinked file out of root", addrPlain, "/link-out-file", 404, ""},
		{"relative symlink out of root", addrPlain, "/link-rel-out", 404, ""},
		{"custom index", addrBrowse, "/custom/", 200, "custom index"},
		{"browse lists", addrBrowse, "/noindex/", 200, `href="./a.txt"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := rawGet(t, tt.addr, tt.target)
			if status != tt.wantStatus {
				t.Errorf("GET %s: status %d; want %d (body %q)", tt.target, status, tt.wantStatus, body)
			}
			if !strings.Contains(body, tt.wantBody) {
				t.Errorf("GET %s: body %q; want it to contain %q", tt.target, body, tt.wantBody)
			}
			if strings.Contains(body, "SECRET") || strings.Contains(body, "hidden") {
				t.Errorf("GET %s: leaked %q", tt.target, body)
			}
			if strings.Contains(body, root) || strings.Contains(body, "no such file") {
				t.Errorf("GET %s: body reveals OS details: %q", tt.target, body)
			}
		})
	}
}

func TestStaticRedirectKeepsQuery(t *testing.T) {
	h, err := Static(staticTree(t), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	_, _, hdr := rawGet(t, srv.Listener.Addr().String(), "/sub?q=1")
	if got, want := hdr.Get("Location"), "./sub/?q=1"; got != want {
		t.Errorf("Location %q; want %q", got, want)
	}
}

func TestStaticRootErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o644)
	for _, root := range []string{filepath.Join(dir, "missing"), file} {
		if _, err := Static(root, false, nil); err == nil {
			t.Errorf("Static(%q): no error", root)
		}
	}
}

func TestStaticMethod(t *testing.T) {
	h, _ := Static(staticTree(t), false, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/app.css", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d; want 405", rec.Code)
	}
}

// TestStaticPrecompressed: a .zst/.br/.gz sibling is sent to clients that
// accept its encoding, with the original's type and a validator of its own;
// others, Range requests and stale siblings get the original.
func TestStaticPrecompressed(t *testing.T) {
	root := t.TempDir()
	write := func(name, body string, age time.Duration) {
		t.Helper()
		p := filepath.Join(root, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		mt := time.Now().Add(-age)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	write("app.js", "console.log(1)", time.Hour)
	write("app.js.br", "BR-BYTES", time.Minute)
	write("app.js.gz", "GZ-BYTES", time.Minute)
	write("data", "plain text without an extension", time.Hour)
	write("data.zst", "ZSTD-BYTES", time.Minute)
	write("old.css", "body{}", time.Minute)
	write("old.css.gz", "STALE", time.Hour) // older than the original
	h, err := Static(root, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, accept, rng string
		wantBody, wantEnc       string
		wantType                string
		wantVary                bool
	}{
		{"br preferred over gzip", "/app.js", "gzip, br", "", "BR-BYTES", "br", "text/javascript; charset=utf-8", true},
		{"q-values decide", "/app.js", "br;q=0.5, gzip", "", "GZ-BYTES", "gzip", "text/javascript; charset=utf-8", true},
		{"identity", "/app.js", "", "", "console.log(1)", "", "text/javascript; charset=utf-8", true},
		{"unknown encodings only", "/app.js", "zstd", "", "console.log(1)", "", "text/javascript; charset=utf-8", true},
		{"range gets the original", "/app.js", "br", "bytes=0-6", "console", "", "text/javascript; charset=utf-8", true},
		{"type sniffed from the original", "/data", "zstd", "", "ZSTD-BYTES", "zstd", "text/plain; charset=utf-8", true},
		{"stale sibling ignored", "/old.css", "gzip", "", "body{}", "", "text/css; charset=utf-8", false},
		{"sibling asked for by name", "/app.js.gz", "", "", "GZ-BYTES", "", "", false},
	}
	etags := map[string]string{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tc.path, nil)
			if tc.accept != "" {
				r.Header.Set("Accept-Encoding", tc.accept)
			}
			if tc.rng != "" {
				r.Header.Set("Range", tc.rng)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			res := w.Result()
			if got := w.Body.String(); got != tc.wantBody {
				t.Errorf("body %q; want %q", got, tc.wantBody)
			}
			if got := res.Header.Get("Content-Encoding"); got != tc.wantEnc {
				t.Errorf("Content-Encoding %q; want %q", got, tc.wantEnc)
			}
			if got := res.Header.Get("Content-Type"); tc.wantType != "" && got != tc.wantType {
				t.Errorf("Content-Type %q; want %q", got, tc.wantType)
			}
			if got := res.Header.Get("Vary") == "Accept-Encoding"; got != tc.wantVary {
				t.Errorf("Vary %q; want Accept-Encoding: %v", res.Header.Get("Vary"), tc.wantVary)
			}
			if tc.path == "/app.js" && tc.rng == "" {
				etags[res.Header.Get("ETag")] = tc.wantEnc
			}
		})
	}
	if len(etags) != 3 {
		t.Errorf("ETags of app.js %v; want one per representation (br, gzip, identity)", etags)
	}
}
