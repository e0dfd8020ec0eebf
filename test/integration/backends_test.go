package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/test/testenv"
)

// echoed is what the echo backend saw, returned as JSON.
type echoed struct {
	Backend    string              `json:"backend"`
	Method     string              `json:"method"`
	Path       string              `json:"path"`
	RawQuery   string              `json:"raw_query"`
	Host       string              `json:"host"`
	RemoteAddr string              `json:"remote_addr"`
	Body       string              `json:"body"`
	Header     map[string][]string `json:"header"`
}

func (e echoed) get(name string) string {
	return http.Header(e.Header).Get(name)
}

func (e echoed) values(name string) []string {
	return http.Header(e.Header).Values(name)
}

// echoHandler answers every request with what it saw, tagged with id.
func echoHandler(id string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(echoed{
			Backend:    id,
			Method:     r.Method,
			Path:       r.URL.Path,
			RawQuery:   r.URL.RawQuery,
			Host:       r.Host,
			RemoteAddr: r.RemoteAddr,
			Body:       string(body),
			Header:     r.Header,
		})
	})
}

// echoBackend starts an echo server on 127.0.0.1 and returns its URL.
func echoBackend(t *testing.T, id string) string {
	t.Helper()
	return backend(t, echoHandler(id))
}

// backend starts h on a loopback httptest server, closed on cleanup.
func backend(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// unixBackend serves h on a unix socket and returns the socket path.
// The path is kept short: sun_path holds about 100 bytes.
func unixBackend(t *testing.T, h http.Handler) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "app.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatalf("listen %s: %v", path, err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return path
}

// decodeEcho parses an echo backend's answer.
func decodeEcho(t *testing.T, body string) echoed {
	t.Helper()
	var e echoed
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("backend answer is not echo JSON: %v\n%s", err, body)
	}
	return e
}

const pythonDebs = "python3-flask python3-fastapi python3-uvicorn"

// requirePython checks that Debian's python3 has the backend packages.
// Missing packages fail the test with the command to install them; under
// -short the test is skipped with that reason instead.
func requirePython(t *testing.T) {
	t.Helper()
	skipShort(t, "Flask and Uvicorn")
	out, err := exec.Command("/usr/bin/python3", "-c", "import flask, fastapi, uvicorn, werkzeug.middleware.proxy_fix").CombinedOutput()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("python backends unavailable (%v: %s); install them with: apt-get install -y %s", err, out, pythonDebs)
	if testing.Short() {
		t.Skip(msg)
	}
	t.Fatal(msg)
}

// pythonBackend starts a Python app from testdata and waits until it answers.
// It returns the base URL.
func pythonBackend(t *testing.T, args func(port int) []string) string {
	t.Helper()
	base, _ := pythonApp(t, args)
	return base
}

// pythonApp is pythonBackend that also returns the process, to read what
// the app printed.
func pythonApp(t *testing.T, args func(port int) []string) (string, *testenv.Proc) {
	t.Helper()
	requirePython(t)
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePort(t)
	cmd := exec.Command("/usr/bin/python3", args(port)...)
	cmd.Dir = testdata
	cmd.Env = childEnv
	p := testenv.Start(t, cmd)
	// Killed, not stopped: a graceful Uvicorn shutdown waits for streams a
	// test may leave open, and nothing is left to check in the backend.
	t.Cleanup(p.Kill)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	testenv.Eventually(t, 20*time.Second, "python backend ready", func() error {
		if p.Exited() {
			t.Fatalf("python backend exited early:\n%s%s", p.Stderr, p.Stdout)
		}
		resp, err := http.Get(base + "/ready")
		if err != nil {
			return fmt.Errorf("%w\n%s%s", err, p.Stderr, p.Stdout)
		}
		resp.Body.Close()
		return nil
	})
	return base, p
}

// flaskBackend runs testdata/flask_app.py (Werkzeug + ProxyFix).
func flaskBackend(t *testing.T) string {
	t.Helper()
	return pythonBackend(t, func(port int) []string {
		return []string{"flask_app.py", fmt.Sprint(port)}
	})
}

// fastapiBackend runs testdata/fastapi_app.py on Uvicorn with proxy headers.
func fastapiBackend(t *testing.T) string {
	t.Helper()
	return pythonBackend(t, func(port int) []string {
		return []string{"-m", "uvicorn", "fastapi_app:app", "--host", "127.0.0.1",
			"--port", fmt.Sprint(port), "--proxy-headers", "--forwarded-allow-ips=127.0.0.1"}
	})
}

// appView is what a Python app believes about a request.
type appView struct {
	Scheme     string            `json:"scheme"`
	Host       string            `json:"host"`
	URL        string            `json:"url"`
	RemoteAddr string            `json:"remote_addr"`
	Headers    map[string]string `json:"headers"`
}
