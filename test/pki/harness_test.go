package pki

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// tlsgateBin is the binary under test, built once by TestMain.
var tlsgateBin string

// baseEnv is the environment of every child process: the real one without
// the variables that point clients at CA bundles or tlsgate at state.
// Each test adds its own HOME.
var baseEnv []string

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "tlsgate-pki-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "pki: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "TLSGATE_CONFIG", "JAVA_HOME",
			"SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS",
			"TLSGATE_KEY_PASSPHRASE", "TLSGATE_CA_KEY_PASSPHRASE", "TLSGATE_P12_PASSPHRASE":
			continue
		}
		baseEnv = append(baseEnv, kv)
	}
	baseEnv = append(baseEnv, "PYTHONDONTWRITEBYTECODE=1")
	tlsgateBin = os.Getenv("TLSGATE_BIN")
	if tlsgateBin == "" {
		tlsgateBin = filepath.Join(tmp, "tlsgate")
		build := exec.Command("go", "build", "-o", tlsgateBin, "github.com/tlsgate/tlsgate/cmd/tlsgate")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "pki: building tlsgate failed:", err)
			return 1
		}
	}
	return m.Run()
}

// sandbox is one test's working directory, HOME and tlsgate data dir.
type sandbox struct {
	t       *testing.T
	Dir     string
	Home    string
	DataDir string
	env     []string
}

func newSandbox(t *testing.T) *sandbox {
	t.Helper()
	dir := t.TempDir()
	s := &sandbox{t: t, Dir: dir, Home: filepath.Join(dir, "home"), DataDir: filepath.Join(dir, "data")}
	if err := os.MkdirAll(s.Home, 0o700); err != nil {
		t.Fatal(err)
	}
	s.env = append(append([]string{}, baseEnv...), "HOME="+s.Home)
	return s
}

// result is what a finished command did.
type result struct {
	Code           int
	Stdout, Stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
}

// run runs a command in the sandbox with extra environment variables.
func (s *sandbox) run(extraEnv []string, name string, args ...string) result {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = s.Dir
	cmd.Env = append(append([]string{}, s.env...), extraEnv...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		s.t.Fatalf("%s %s: timed out\n%s\n%s", name, strings.Join(args, " "), out.String(), errb.String())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		s.t.Fatalf("%s: %v", name, err)
	}
	return result{Code: exitCode(err), Stdout: out.String(), Stderr: errb.String()}
}

// tlsgate runs a tlsgate command; ok fails the test unless it exits 0.
func (s *sandbox) tlsgate(args ...string) result {
	s.t.Helper()
	return s.run(nil, tlsgateBin, args...)
}

func (s *sandbox) ok(args ...string) result {
	s.t.Helper()
	r := s.tlsgate(args...)
	if r.Code != 0 {
		s.t.Fatalf("tlsgate %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// openssl runs openssl and fails the test unless it exits 0.
func (s *sandbox) openssl(args ...string) result {
	s.t.Helper()
	r := s.run(nil, need(s.t, "openssl", "openssl"), args...)
	if r.Code != 0 {
		s.t.Fatalf("openssl %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// file writes name in the sandbox and returns its path.
func (s *sandbox) file(name, content string) string {
	s.t.Helper()
	p := filepath.Join(s.Dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		s.t.Fatal(err)
	}
	return p
}

func (s *sandbox) path(name string) string { return filepath.Join(s.Dir, name) }

func exitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}

// need finds a peer program. Under -short the test is skipped; in the full
// run a missing peer is a failure that says how to install it.
func need(t *testing.T, name, pkg string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: not starting %s", name)
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found; install it with: apt-get install -y %s (./scripts/test.sh does)", name, pkg)
	}
	return p
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
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

// serve writes config (with %[1]s for the data dir and %[2]d for the HTTPS
// port) and runs `tlsgate run -c` until the test ends. It returns the port
// once host completes a TLS handshake.
func (s *sandbox) serve(config, host string) int {
	s.t.Helper()
	t := s.t
	port := freePort(t)
	cfgPath := s.file("tlsgate.yaml", fmt.Sprintf(config, s.DataDir, port))
	cmd := exec.Command(tlsgateBin, "run", "-c", cfgPath)
	cmd.Dir, cmd.Env = s.Dir, s.env
	stderr := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start tlsgate run: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("tlsgate run output:\n%s", stderr.String())
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("tlsgate run exited:\n%s", stderr.String())
		default:
		}
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{ServerName: host, InsecureSkipVerify: true})
		if err == nil {
			c.Close()
			return port
		}
		if time.Now().After(deadline) {
			t.Fatalf("tlsgate not serving %s on %s: %v\n%s", host, addr, err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// localSite is a config for one local-CA site answering "hello".
const localSite = `data_dir: %[1]s
listen: {http: "", https: "127.0.0.1:%[2]d"}
admin: ""
sites:
  - hosts: [localhost]
    tls: local
    routes:
      - path: /
        respond: {status: 200, body: "hello from tlsgate"}
`

// curl runs curl against url with extra arguments; it returns the result
// without judging it.
func (s *sandbox) curl(url string, extra ...string) result {
	s.t.Helper()
	args := append([]string{"-sS", "--max-time", "10"}, extra...)
	return s.run(nil, need(s.t, "curl", "curl"), append(args, url)...)
}
