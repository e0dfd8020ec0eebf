package integration

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/test/testenv"
)

// TestCompressionClients: real clients decode what compress sends (issue
// 12): Python requests gets gzip, byte for byte, and a Range request
// plain; curl follows an SSE stream compressed with zstd, br and gzip and
// gets each event within 100 ms of the backend sending it.
func TestCompressionClients(t *testing.T) {
	t.Parallel()
	requirePythonModule(t, "requests", "python3-requests")
	page := strings.Repeat("tlsgate compresses this text for Python. ", 1500)
	sse := &sseBackend{}
	mux := http.NewServeMux()
	mux.Handle("/events", sse)
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		http.ServeContent(w, r, "page.txt", time.Time{}, strings.NewReader(page))
	})
	up := backend(t, mux)
	public := t.TempDir()
	script := strings.Repeat("console.log('precompressed by the build');\n", 200)
	writeFile(t, public, "app.js", script)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	io.WriteString(zw, script)
	zw.Close()
	writeFile(t, public, "app.js.gz", gz.String())
	inst := startTLSGateVars(t, map[string]string{"Up": up, "Public": public}, header+`
sites:
  - hosts: [localhost]
    tls: local
    compress: true
    routes:
      - path: /static/
        static: "{{.Vars.Public}}"
      - to: ["{{.Vars.Up}}"]
`)

	t.Run("precompressed static sibling", func(t *testing.T) {
		r := curl(t, inst, "localhost", "/static/app.js", "--cacert", inst.RootPath(), "--compressed", "-H", "Accept-Encoding: gzip", "-D", "-")
		head, body, _ := strings.Cut(r.Stdout, "\r\n\r\n")
		lower := strings.ToLower(head)
		if !strings.Contains(lower, "content-encoding: gzip") || !strings.Contains(lower, fmt.Sprintf("content-length: %d", gz.Len())) {
			t.Errorf("app.js was not sent as its .gz sibling (%d bytes):\n%s", gz.Len(), head)
		}
		if !strings.Contains(lower, "content-type: text/javascript") {
			t.Errorf("Content-Type is not the original's:\n%s", head)
		}
		if body != script {
			t.Errorf("decoded body differs from app.js (%d bytes, want %d)", len(body), len(script))
		}
	})

	t.Run("python requests", func(t *testing.T) {
		script, err := filepath.Abs(filepath.Join("testdata", "compress_client.py"))
		if err != nil {
			t.Fatal(err)
		}
		r := testenv.Run(t, 60*time.Second, "", childEnv, "/usr/bin/python3", script, inst.url("localhost", "/page"), inst.RootPath())
		if r.Code != 0 {
			t.Fatalf("compress_client.py: %s", r)
		}
		type got struct {
			Status          int    `json:"status"`
			AcceptEncoding  string `json:"accept_encoding"`
			ContentEncoding string `json:"content_encoding"`
			Vary            string `json:"vary"`
			Length          int    `json:"length"`
			SHA256          string `json:"sha256"`
		}
		var out map[string]got
		if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
			t.Fatalf("client output: %v\n%s", err, r.Stdout)
		}
		sum := sha256.Sum256([]byte(page))
		full := out["full"]
		if full.Status != 200 || full.ContentEncoding != "gzip" || full.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("GET with Accept-Encoding %q: %+v; want 200, gzip, the page's %d bytes", full.AcceptEncoding, full, len(page))
		}
		if !strings.Contains(full.Vary, "Accept-Encoding") {
			t.Errorf("Vary %q; want Accept-Encoding", full.Vary)
		}
		rng := out["range"]
		sum = sha256.Sum256([]byte(page[:100]))
		if rng.Status != 206 || rng.ContentEncoding != "" || rng.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("Range bytes=0-99: %+v; want 206, not encoded, the page's first 100 bytes", rng)
		}
	})

	for _, enc := range []string{"zstd", "br", "gzip"} {
		t.Run("SSE "+enc, func(t *testing.T) {
			id := "sse-" + enc
			next := sse.gate(id)
			cmd := exec.Command("curl", "-q", "-sS", "-N", "--compressed", "-D", "/dev/stderr", "--max-time", "30",
				"--cacert", inst.RootPath(), "-H", "Accept-Encoding: "+enc, inst.url("localhost", "/events?id="+id))
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			stderr := &testenv.SyncBuffer{}
			cmd.Stderr = stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			lines := make(chan string)
			go func() {
				defer close(lines)
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					if l := sc.Text(); l != "" {
						lines <- l
					}
				}
				io.Copy(io.Discard, stdout)
			}()
			sent := time.Now()
			for i := 1; i <= 3; i++ {
				limit := 100 * time.Millisecond
				if i == 1 {
					limit = 10 * time.Second // the first includes the handshake
				}
				select {
				case l, ok := <-lines:
					took := time.Since(sent)
					if want := fmt.Sprintf("data: event %d", i); !ok || l != want {
						t.Fatalf("got %q (open=%v); want %q\n%s", l, ok, want, stderr.String())
					}
					if took > limit {
						t.Errorf("event %d arrived %v after the backend sent it; want within %v", i, took, limit)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("event %d not delivered while the backend waits for it: the stream is buffered\n%s", i, stderr.String())
				}
				sent = time.Now()
				next <- struct{}{}
			}
			if !strings.Contains(strings.ToLower(stderr.String()), "content-encoding: "+enc) {
				t.Errorf("the stream was not %s-encoded:\n%s", enc, stderr.String())
			}
		})
	}
}
