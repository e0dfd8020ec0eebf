package integration

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestTrafficLimitsCompressionRedirects runs the real binary in front of a
// backend that counts the requests it sees, with curl as the client: body
// limits over HTTP/1.1 and HTTP/2, compression decoded by curl itself, and
// a redirect route (issue 12).
func TestTrafficLimitsCompressionRedirects(t *testing.T) {
	t.Parallel()
	skipShort(t, "curl")
	page := strings.Repeat("tlsgate compresses this text. ", 2000)
	var uploads atomic.Int32
	up := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			uploads.Add(1)
			io.Copy(io.Discard, r.Body)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, page)
	}))
	g := newGateConfig(t)
	g.Vars = map[string]string{"Up": up}
	inst := startWith(t, g, header+`
sites:
  - hosts: [traffic.test]
    tls: local
    compress: true
    routes:
      - path: /upload/
        to: ["{{.Vars.Up}}"]
        max_body_bytes: 1MiB
      - path: /old/
        redirect: {to: "https://{host}/new/{path}?{query}", status: 301}
      - path: /
        to: ["{{.Vars.Up}}"]
`)
	big := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(big, make([]byte, 2<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, proto := range []string{"--http1.1", "--http2"} {
		t.Run("content-length over "+proto, func(t *testing.T) {
			if code := uploadStatus(t, inst, proto, "--data-binary", "@"+big); code != 413 {
				t.Fatalf("status = %d; want 413", code)
			}
		})
		t.Run("chunked over "+proto, func(t *testing.T) {
			if code := uploadStatus(t, inst, proto, "-H", "Transfer-Encoding: chunked", "--data-binary", "@"+big); code != 413 {
				t.Fatalf("status = %d; want 413", code)
			}
		})
	}
	if n := uploads.Load(); n > 2 {
		// Content-Length uploads never reach it; chunked ones are cut.
		t.Fatalf("backend saw %d uploads; want at most the 2 chunked ones", n)
	}
	for _, enc := range []string{"gzip", "br", "zstd"} {
		t.Run("compressed "+enc, func(t *testing.T) {
			r := curl(t, inst, "traffic.test", "/page", "--cacert", inst.RootPath(), "--compressed", "-H", "Accept-Encoding: "+enc, "-D", "-")
			head, body, _ := strings.Cut(r.Stdout, "\r\n\r\n")
			if !strings.Contains(strings.ToLower(head), "content-encoding: "+enc) {
				t.Fatalf("%s: headers lack Content-Encoding: %s:\n%s", enc, enc, head)
			}
			if body != page {
				t.Fatalf("%s: decoded body differs (%d bytes, want %d)", enc, len(body), len(page))
			}
		})
	}
	for _, ae := range []string{"identity", "gzip;q=0"} {
		r := curl(t, inst, "traffic.test", "/page", "--cacert", inst.RootPath(), "-H", "Accept-Encoding: "+ae, "-D", "-")
		head, body, _ := strings.Cut(r.Stdout, "\r\n\r\n")
		if strings.Contains(strings.ToLower(head), "content-encoding") || body != page {
			t.Fatalf("Accept-Encoding %s: got encoded or different body:\n%s", ae, head)
		}
	}
	r := curl(t, inst, "traffic.test", "/page", "--cacert", inst.RootPath(), "-H", "Accept-Encoding: gzip", "-H", "Range: bytes=0-9", "-D", "-")
	if head, _, _ := strings.Cut(r.Stdout, "\r\n\r\n"); strings.Contains(strings.ToLower(head), "content-encoding") {
		t.Fatalf("a Range request was compressed:\n%s", head)
	}
	code, out := curlAnswer(t, inst, "traffic.test", "/old/a/b?x=1")
	if code != 301 || !strings.Contains(out, "ocation: https://traffic.test:"+fmt.Sprint(inst.HTTPSPort)+"/new/a/b?x=1") {
		t.Fatalf("redirect: got %d\n%s", code, out)
	}
}

// uploadStatus posts with curl and returns the status it printed. curl may
// exit non-zero after the answer (the server stops reading an upload it
// refused, and the rest of the send fails); the printed status is what counts.
func uploadStatus(t *testing.T, inst *instance, args ...string) int {
	t.Helper()
	args = append([]string{"--cacert", inst.RootPath(), "-H", "Expect:", "-o", "/dev/null", "-w", "%{http_code}"}, args...)
	r := curl(t, inst, "traffic.test", "/upload/x", args...)
	var code int
	if _, err := fmt.Sscanf(strings.TrimSpace(r.Stdout), "%d", &code); err != nil || code == 0 {
		t.Fatalf("curl printed no status: %s", r)
	}
	return code
}
