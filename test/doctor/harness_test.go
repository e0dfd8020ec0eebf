package doctor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/doctor"
)

// tlsgateBin is the binary under test, built once by TestMain.
var tlsgateBin string

// childEnv is the environment of every process the tests start: a private
// HOME and XDG dirs (so no NSS database, no local CA of the real user).
var childEnv []string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "tlsgate-doctor-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "doctor tests: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	childEnv = isolatedEnv(tmp)
	tlsgateBin = os.Getenv("TLSGATE_BIN")
	if tlsgateBin == "" {
		tlsgateBin = filepath.Join(tmp, "tlsgate")
		build := exec.Command("go", "build", "-o", tlsgateBin, "github.com/tlsgate/tlsgate/cmd/tlsgate")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "doctor tests: building tlsgate failed:", err)
			return 1
		}
	}
	return m.Run()
}

func isolatedEnv(tmp string) []string {
	home := filepath.Join(tmp, "home")
	for _, d := range []string{home, filepath.Join(home, "data"), filepath.Join(home, "config")} {
		_ = os.MkdirAll(d, 0o700)
	}
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "TLSGATE_CONFIG",
			"SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE":
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+home,
		"XDG_DATA_HOME="+filepath.Join(home, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"),
	)
}

// result is one `tlsgate doctor` run.
type result struct {
	code           int
	stdout, stderr string
	report         *doctor.Report // from a --json run
}

// runDoctor runs `tlsgate doctor ARGS...` twice, as text and as --json,
// and checks both exit the same way.
func runDoctor(t *testing.T, args ...string) result {
	t.Helper()
	text := run(t, append([]string{"doctor"}, args...)...)
	js := run(t, append([]string{"doctor", "--json"}, args...)...)
	if js.code != text.code {
		t.Errorf("exit %d with --json, %d without", js.code, text.code)
	}
	var rep doctor.Report
	if err := json.Unmarshal([]byte(js.stdout), &rep); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s\nstderr: %s", err, js.stdout, js.stderr)
	}
	text.report = &rep
	return text
}

func run(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(tlsgateBin, args...)
	cmd.Env = childEnv
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("run tlsgate %v: %v", args, err)
	}
	return r
}

// finding returns the report's finding with code, failing the test when
// there is none.
func (r result) finding(t *testing.T, code string) doctor.Finding {
	t.Helper()
	for _, f := range r.report.Findings {
		if f.Code == code {
			return f
		}
	}
	t.Fatalf("no %q finding; output:\n%s", code, r.stdout)
	return doctor.Finding{}
}

// wantText checks that the human output contains every string.
func (r result) wantText(t *testing.T, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("output lacks %q:\n%s", s, r.stdout)
		}
	}
}

// freePort asks the kernel for a free 127.0.0.1 port. Another process may
// take it before we use it; the window is small enough for tests.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitTCP waits until addr accepts connections.
func waitTCP(t *testing.T, addr string, exited func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if exited != nil && exited() {
			t.Fatalf("server for %s exited before it listened", addr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not accept connections: %v", addr, err)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for a process writer and test readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startProc starts a long-running command; cleanup kills it and, when the
// test failed, shows its output.
func startProc(t *testing.T, dir, name string, args ...string) func() bool {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, childEnv
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("%s %s output:\n%s", name, strings.Join(args, " "), out.String())
		}
	})
	return func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
}

// needOpenSSL skips under -short when openssl is missing and fails
// otherwise: the full run never fakes a pass.
func needOpenSSL(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		if testing.Short() {
			t.Skip("openssl not installed (-short)")
		}
		t.Fatal("openssl is needed: apt-get install -y openssl")
	}
}

// openssl runs one openssl command in dir.
func openssl(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
