package integration

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/test/testenv"
)

// TestUploadLimitsPythonApps puts the body limits in front of real apps,
// Flask (Werkzeug) and FastAPI (Uvicorn) from Debian, over HTTP/1.1 and
// HTTP/2 (issue 12): a 2 MiB upload to a 1 MiB route is 413 and the app
// never hears of it; a chunked 3 MiB upload is cut, and the app sees its
// request break off; a client that sends 10 bytes and stalls gets 408 after
// body_read_timeout, and the app's request is cancelled.
func TestUploadLimitsPythonApps(t *testing.T) {
	t.Parallel()
	requirePython(t)
	flaskURL, flaskProc := pythonApp(t, func(port int) []string {
		return []string{"upload_flask.py", fmt.Sprint(port)}
	})
	fastURL, fastProc := pythonApp(t, func(port int) []string {
		return []string{"-m", "uvicorn", "upload_fastapi:app", "--host", "127.0.0.1", "--port", fmt.Sprint(port)}
	})
	inst := startTLSGateVars(t, map[string]string{"Flask": flaskURL, "FastAPI": fastURL}, header+`
limits: {body_read_timeout: 1s}
sites:
  - hosts: [up.test]
    tls: local
    routes:
      - path: /flask/
        to: ["{{.Vars.Flask}}"]
        strip_prefix: true
        max_body_bytes: 1MiB
      - path: /fastapi/
        to: ["{{.Vars.FastAPI}}"]
        strip_prefix: true
        max_body_bytes: 1MiB
`)
	dir := t.TempDir()
	mib2, mib3 := filepath.Join(dir, "2m"), filepath.Join(dir, "3m")
	for path, n := range map[string]int{mib2: 2 << 20, mib3: 3 << 20} {
		if err := os.WriteFile(path, make([]byte, n), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pool := inst.rootPool(t)
	apps := []struct {
		name string
		proc *testenv.Proc
	}{{"flask", flaskProc}, {"fastapi", fastProc}}
	said := func(p *testenv.Proc) string { return p.Stdout.String() + p.Stderr.String() }
	for _, app := range apps {
		for _, proto := range []string{"--http1.1", "--http2"} {
			tag := strings.TrimPrefix(proto, "--")
			upload := func(t *testing.T, name string, args ...string) int {
				t.Helper()
				args = append([]string{proto, "--cacert", inst.RootPath(), "-H", "Expect:", "-o", "/dev/null", "-w", "%{http_code}"}, args...)
				r := curl(t, inst, "up.test", "/"+app.name+"/upload/"+name+"-"+tag, args...)
				var code int
				if _, err := fmt.Sscanf(strings.TrimSpace(r.Stdout), "%d", &code); err != nil || code == 0 {
					t.Fatalf("curl printed no status: %s", r)
				}
				return code
			}
			t.Run(app.name+" content-length over "+tag, func(t *testing.T) {
				if code := upload(t, "cl", "--data-binary", "@"+mib2); code != 413 {
					t.Fatalf("status = %d; want 413", code)
				}
			})
			t.Run(app.name+" chunked over "+tag, func(t *testing.T) {
				if code := upload(t, "chunked", "-H", "Transfer-Encoding: chunked", "--data-binary", "@"+mib3); code != 413 {
					t.Fatalf("status = %d; want 413", code)
				}
				want := "upload aborted chunked-" + tag
				eventually(t, 10*time.Second, app.name+" seeing the upload break off", func() error {
					if out := said(app.proc); !strings.Contains(out, want) {
						return fmt.Errorf("%s did not print %q:\n%s", app.name, want, out)
					}
					return nil
				})
			})
			t.Run(app.name+" stalled body over "+tag, func(t *testing.T) {
				c := inst.client(t, pool, tag == "http2")
				pr, pw := io.Pipe()
				defer pw.Close()
				go func() { pw.Write([]byte("0123456789")) }() // then nothing more
				req, _ := http.NewRequest("POST", inst.url("up.test", "/"+app.name+"/upload/stall-"+tag), pr)
				req.ContentLength = 100
				start := time.Now()
				resp, err := c.Do(req)
				if err != nil {
					t.Fatalf("stalled upload: %v", err)
				}
				resp.Body.Close()
				took := time.Since(start)
				if resp.StatusCode != 408 {
					t.Fatalf("status = %d; want 408", resp.StatusCode)
				}
				if took < time.Second || took > 8*time.Second {
					t.Errorf("408 after %v; want it after body_read_timeout (1s)", took)
				}
				want := "upload aborted stall-" + tag
				eventually(t, 10*time.Second, app.name+" seeing the request cancelled", func() error {
					if out := said(app.proc); !strings.Contains(out, want) {
						return fmt.Errorf("%s did not print %q:\n%s", app.name, want, out)
					}
					return nil
				})
			})
		}
	}
	// Checked last, after every other request was answered and logged:
	// Content-Length uploads over the limit never reached the apps.
	for _, app := range apps {
		if out := said(app.proc); strings.Contains(out, "/upload/cl-") || strings.Contains(out, "upload started cl-") {
			t.Errorf("%s heard of an upload refused by its Content-Length:\n%s", app.name, out)
		}
	}
}
