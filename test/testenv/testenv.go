// Package testenv is what the end-to-end tests share: building the tlsgate
// binary, a child environment that cannot touch the real user's state, free
// loopback ports, and running child processes with their output captured.
//
// It is imported only by the _test.go files under test/; no program links
// it. Child processes and ports come from internal/testproc, which test
// helpers inside internal/ (storagetest) use directly.
// Each test package keeps its own domain helpers (config templates,
// sandboxes, peers); only the plumbing lives here.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/testproc"
)

// Main is the body of a TestMain: it makes a temporary directory for what
// the package's tests share, calls setup with it (build tlsgate there, make
// a HOME), runs the tests and removes the directory. It returns the code
// for os.Exit; a setup error is printed prefixed with name.
func Main(m *testing.M, name string, setup func(tmp string) error) int {
	tmp, err := os.MkdirTemp("", "tlsgate-"+name+"-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: temp dir: %v\n", name, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if err := setup(tmp); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	return m.Run()
}

// BuildTLSGate returns the tlsgate binary the tests run: $TLSGATE_BIN when
// set, else a fresh `go build` of cmd/tlsgate into dir. Call it once per
// package, from Main's setup.
func BuildTLSGate(dir string) (string, error) {
	if bin := os.Getenv("TLSGATE_BIN"); bin != "" {
		return bin, nil
	}
	bin := filepath.Join(dir, "tlsgate")
	build := exec.Command("go", "build", "-o", bin, "github.com/tlsgate/tlsgate/cmd/tlsgate")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("building tlsgate failed: %w", err)
	}
	return bin, nil
}

// scrubbed are the variables no child inherits: they point tlsgate at the
// real user's state, point clients at CA bundles (a test must say which
// roots it trusts), or hold passphrases the tests set themselves.
var scrubbed = map[string]bool{
	"HOME": true, "XDG_DATA_HOME": true, "XDG_CONFIG_HOME": true, "TLSGATE_CONFIG": true,
	"JAVA_HOME": true, "SSL_CERT_FILE": true, "SSL_CERT_DIR": true, "CURL_CA_BUNDLE": true,
	"REQUESTS_CA_BUNDLE": true, "NODE_EXTRA_CA_CERTS": true,
	"TLSGATE_KEY_PASSPHRASE": true, "TLSGATE_CA_KEY_PASSPHRASE": true, "TLSGATE_P12_PASSPHRASE": true,
}

// BaseEnv is this process's environment without the scrubbed variables and
// without HOME: a caller adds a HOME of its own (or uses IsolatedEnv).
func BaseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !scrubbed[k] {
			env = append(env, kv)
		}
	}
	return append(env, "PYTHONDONTWRITEBYTECODE=1")
}

// IsolatedEnv is BaseEnv with HOME and the XDG data and config dirs in a
// private tree under tmp, which it creates.
func IsolatedEnv(tmp string) []string {
	home := filepath.Join(tmp, "home")
	for _, d := range []string{home, filepath.Join(home, "data"), filepath.Join(home, "config")} {
		_ = os.MkdirAll(d, 0o700)
	}
	return append(BaseEnv(),
		"HOME="+home,
		"XDG_DATA_HOME="+filepath.Join(home, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"),
	)
}

// FreePort asks the kernel for a free 127.0.0.1 port that this process has
// not handed out before (internal/testproc owns the record).
func FreePort(t testing.TB) int {
	t.Helper()
	return testproc.FreePort(t)
}

// SyncBuffer is a bytes.Buffer safe for a process writer and test readers.
type SyncBuffer = testproc.SyncBuffer

// Proc is a long-running child process with its output captured.
type Proc = testproc.Proc

// Start starts cmd with stdout and stderr captured; see testproc.Start.
func Start(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	return testproc.Start(t, cmd)
}

// Eventually calls f until it returns nil, failing the test after d; see
// testproc.Eventually.
func Eventually(t testing.TB, d time.Duration, what string, f func() error) {
	t.Helper()
	testproc.Eventually(t, d, what, f)
}
