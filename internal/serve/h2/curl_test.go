package h2

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCurlEarlyAnswer: curl uploads a body the handler answers before
// reading it all (a body limit): curl gets the answer, not a stream error.
func TestCurlEarlyAnswer(t *testing.T) {
	s := startServer(t, &Options{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.CopyN(io.Discard, r.Body, 1000)
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
	})})
	f := filepath.Join(t.TempDir(), "body")
	os.WriteFile(f, []byte(strings.Repeat("x", 4<<20)), 0o644)
	for _, args := range [][]string{{"--data-binary", "@" + f}, {"-H", "Transfer-Encoding: chunked", "--data-binary", "@" + f}} {
		cmd := exec.Command("curl", append([]string{"-sk", "--http2", "-o", "/dev/null", "-w", "%{http_code}", s.url("/upload")}, args...)...)
		out, err := cmd.CombinedOutput()
		if string(out) != "413" {
			t.Errorf("curl %v: %q %v", args, out, err)
		}
	}
}
