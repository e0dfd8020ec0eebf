// Package testenv is what the end-to-end tests share: building the tlsgate
// binary, a child environment that cannot touch the real user's state, free
// loopback ports, and running child processes with their output captured.
//
// It is imported only by tests (the _test.go files under test/ and the
// test helper package internal/storage/storagetest); no program links it.
// Each test package keeps its own domain helpers (config templates,
// sandboxes, peers); only the plumbing lives here.
package testenv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
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

// given is every port FreePort handed out in this process. The kernel may
// offer a port again as soon as FreePort's listener closes, and one test
// asking for two ports (HTTP and HTTPS) must not get the same one twice.
var given struct {
	mu    sync.Mutex
	ports map[int]bool
}

// FreePort asks the kernel for a free 127.0.0.1 port that this process has
// not handed out before. Another process may take it before we use it; the
// window is small enough for tests.
func FreePort(t testing.TB) int {
	t.Helper()
	given.mu.Lock()
	defer given.mu.Unlock()
	if given.ports == nil {
		given.ports = map[int]bool{}
	}
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !given.ports[port] {
			given.ports[port] = true
			return port
		}
	}
}

// SyncBuffer is a bytes.Buffer safe for a process writer and test readers.
type SyncBuffer struct {
	// mu guards buf.
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
