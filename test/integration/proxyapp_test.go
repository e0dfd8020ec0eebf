package integration

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/test/testenv"
)

// appProxy is one `tlsgate proxy --to http://127.0.0.1:P -- CMD...`.
type appProxy struct {
	*testenv.Proc
	appPort, httpsPort int
	dataDir, dir       string
}

// startAppProxy runs tlsgate proxy with the app command after "--", in
// testdata so the command can name the test apps.
func startAppProxy(t *testing.T, extra []string, app ...string) *appProxy {
	t.Helper()
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := &appProxy{appPort: testenv.FreePort(t), httpsPort: testenv.FreePort(t), dataDir: filepath.Join(dir, "data"), dir: dir}
	args := []string{"proxy", "--to", fmt.Sprintf("http://127.0.0.1:%d", p.appPort),
		"--https-port", strconv.Itoa(p.httpsPort), "--http-port", "0", "--data-dir", p.dataDir}
	args = append(append(append(args, extra...), "--"), app...)
	p.Proc = startProc(t, testdata, args...)
	return p
}

var appPIDLine = regexp.MustCompile(`as PID (\d+);`)

// appPID is the child's PID, from the line tlsgate prints when it starts it.
func (p *appProxy) appPID(t *testing.T) int {
	t.Helper()
	var pid int
	eventually(t, 10*time.Second, "tlsgate names the app's PID", func() error {
		m := appPIDLine.FindStringSubmatch(p.Stderr.String())
		if m == nil {
			return fmt.Errorf("no PID line in stderr:\n%s", p.Stderr)
		}
		pid, _ = strconv.Atoi(m[1])
		return nil
	})
	return pid
}

// waitServing waits until tlsgate prints that it serves.
func (p *appProxy) waitServing(t *testing.T) {
	t.Helper()
	eventually(t, 20*time.Second, "tlsgate proxy serves", func() error {
		if p.Exited() {
			t.Fatalf("tlsgate proxy exited: %v\nstdout:\n%s\nstderr:\n%s", p.Err(), p.Stdout, p.Stderr)
		}
		if !strings.Contains(p.Stdout.String(), "Serving https://") {
			return errors.New("no Serving line yet")
		}
		return nil
	})
}

// requireGone fails the test unless pid has disappeared (no orphan).
func requireGone(t *testing.T, pid int) {
	t.Helper()
	eventually(t, 5*time.Second, fmt.Sprintf("app PID %d is gone", pid), func() error {
		return processGone(pid)
	})
}

// flaskApp is the command line of testdata/flask_launched.py on $PORT;
// exec makes the Flask process the child tlsgate started.
var flaskApp = []string{"/bin/sh", "-c",
	`exec /usr/bin/python3 -m flask --app flask_launched run --host 127.0.0.1 --port "$PORT"`}

// get fetches path through the proxy, trusting its local CA.
func (p *appProxy) get(t *testing.T, path string) (int, string) {
	t.Helper()
	pool := poolFromFile(t, filepath.Join(p.dataDir, "ca", "root.crt"))
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(fmt.Sprintf("https://localhost:%d%s", p.httpsPort, path))
	if err != nil {
		t.Fatalf("GET %s through tlsgate: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestProxyAppFlask: `proxy -- flask run` starts Flask with PORT set to
// --to's port, serves it over HTTPS, and SIGTERM stops both with exit 0.
func TestProxyAppFlask(t *testing.T) {
	t.Parallel()
	requirePython(t)
	p := startAppProxy(t, nil, flaskApp...)
	pid := p.appPID(t)
	p.waitServing(t)

	code, body := p.get(t, "/env")
	var env struct {
		Port   string `json:"port"`
		PID    int    `json:"pid"`
		Scheme string `json:"scheme"`
	}
	if err := json.Unmarshal([]byte(body), &env); code != 200 || err != nil {
		t.Fatalf("Flask answered %d %q (%v); want 200 and JSON", code, body, err)
	}
	if env.Port != strconv.Itoa(p.appPort) || env.PID != pid || env.Scheme != "https" {
		t.Errorf("Flask says PORT=%q PID %d scheme %q; want PORT=%d, PID %d (the child tlsgate named), https", env.Port, env.PID, env.Scheme, p.appPort, pid)
	}

	p.Signal(t, syscall.SIGTERM)
	if code := p.WaitExit(t, 20*time.Second); code != 0 {
		t.Errorf("tlsgate exited %d after SIGTERM, want 0\nstderr:\n%s", code, p.Stderr)
	}
	requireGone(t, pid)
}

// TestProxyAppFlaskReloader: `flask run --reload` serves from a second
// process its reloader starts; Ctrl+C (SIGINT) to tlsgate stops both, so
// neither the app nor the process it started is left behind.
func TestProxyAppFlaskReloader(t *testing.T) {
	t.Parallel()
	requirePython(t)
	p := startAppProxy(t, nil, "/bin/sh", "-c",
		`exec /usr/bin/python3 -m flask --app flask_launched run --reload --host 127.0.0.1 --port "$PORT"`)
	pid := p.appPID(t)
	p.waitServing(t)

	code, body := p.get(t, "/env")
	var env struct {
		PID int `json:"pid"`
	}
	if err := json.Unmarshal([]byte(body), &env); code != 200 || err != nil {
		t.Fatalf("Flask answered %d %q (%v); want 200 and JSON", code, body, err)
	}
	if env.PID == pid || env.PID == 0 {
		t.Fatalf("the serving process is PID %d, the reloader %d; want the reloader's child to serve", env.PID, pid)
	}

	p.Signal(t, os.Interrupt)
	if code := p.WaitExit(t, 20*time.Second); code != 0 {
		t.Errorf("tlsgate exited %d after SIGINT, want 0\nstderr:\n%s", code, p.Stderr)
	}
	requireGone(t, pid)
	requireGone(t, env.PID)
}

// TestProxyAppExitStatus: the app's own exit status becomes tlsgate's,
// whether it exits while served or before it ever listens.
func TestProxyAppExitStatus(t *testing.T) {
	t.Parallel()
	t.Run("while served", func(t *testing.T) {
		t.Parallel()
		requirePython(t)
		p := startAppProxy(t, nil, flaskApp...)
		pid := p.appPID(t)
		p.waitServing(t)
		// Flask answers, then exits 3 on its own.
		if code, body := p.get(t, "/exit/3"); code != 200 || body != "bye\n" {
			t.Fatalf("GET /exit/3 = %d %q; want 200 bye", code, body)
		}
		if code := p.WaitExit(t, 20*time.Second); code != 3 {
			t.Errorf("tlsgate exited %d, want the app's 3\nstderr:\n%s", code, p.Stderr)
		}
		if !strings.Contains(p.Stderr.String(), "exited with status 3") {
			t.Errorf("stderr does not say the app exited with 3:\n%s", p.Stderr)
		}
		requireGone(t, pid)
	})
	t.Run("before listening", func(t *testing.T) {
		t.Parallel()
		p := startAppProxy(t, nil, "/bin/sh", "-c", "echo starting; exit 3")
		if code := p.WaitExit(t, 20*time.Second); code != 3 {
			t.Errorf("tlsgate exited %d, want the app's 3\nstderr:\n%s", code, p.Stderr)
		}
		if !strings.Contains(p.Stderr.String(), "exited with status 3 before it accepted connections") {
			t.Errorf("stderr does not explain the early exit:\n%s", p.Stderr)
		}
		if !strings.Contains(p.Stdout.String(), "starting") {
			t.Errorf("the app's output was not passed through; stdout:\n%s", p.Stdout)
		}
	})
}

// TestProxyAppNeverListens: an app that never listens is reported after
// --wait-timeout, and killed.
func TestProxyAppNeverListens(t *testing.T) {
	t.Parallel()
	p := startAppProxy(t, []string{"--wait-timeout", "1s"}, "/bin/sh", "-c",
		"echo 'app: loading, will never listen'; echo 'app: a warning' >&2; exec sleep 60")
	pid := p.appPID(t)
	if code := p.WaitExit(t, 20*time.Second); code != 1 {
		t.Errorf("tlsgate exited %d, want 1\nstderr:\n%s", code, p.Stderr)
	}
	// The app's own output, which says why it did not listen, is shown.
	if !strings.Contains(p.Stdout.String(), "app: loading, will never listen") || !strings.Contains(p.Stderr.String(), "app: a warning") {
		t.Errorf("the app's output is not shown\nstdout:\n%s\nstderr:\n%s", p.Stdout, p.Stderr)
	}
	want := fmt.Sprintf("did not accept connections on 127.0.0.1:%d within 1s", p.appPort)
	for _, s := range []string{want, fmt.Sprintf("PORT=%d", p.appPort), "--wait-timeout"} {
		if !strings.Contains(p.Stderr.String(), s) {
			t.Errorf("stderr does not say %q:\n%s", s, p.Stderr)
		}
	}
	requireGone(t, pid)
}
