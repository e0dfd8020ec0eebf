package pki

import (
	"crypto"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The tests use the openssl command as the independent peer: what we write,
// it must read, and the other way round.

// openssl runs the openssl binary with args in dir and returns its combined
// output, failing the test when it exits non-zero.
func openssl(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := opensslErr(t, dir, args...)
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// opensslErr is openssl for runs that are expected to fail.
func opensslErr(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		if testing.Short() {
			t.Skip("openssl not installed (skipped under -short)")
		}
		t.Fatal("openssl not installed; install it with: apt-get install -y openssl")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "OPENSSL_CONF=/dev/null") // no site config changes defaults
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// writeFile writes data to dir/name (mode 0600) and returns the path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fileMode returns the permission bits of path.
func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func mustGenerateKey(t *testing.T, kt KeyType) crypto.Signer {
	t.Helper()
	k, err := GenerateKey(kt)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// mustLocalCA makes a local CA in a fresh temp dir.
func mustLocalCA(t *testing.T) (*CA, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ca")
	ca, created, err := InitLocalCA(dir, "Test")
	if err != nil || !created {
		t.Fatalf("InitLocalCA: created=%v err=%v", created, err)
	}
	return ca, dir
}

func mustIssue(t *testing.T, ca *CA, req LeafRequest) *x509.Certificate {
	t.Helper()
	if req.PublicKey == nil {
		req.PublicKey = mustGenerateKey(t, KeyECDSAP256).Public()
	}
	c, err := ca.Issue(req)
	if err != nil {
		t.Fatalf("Issue(%v): %v", req.Names, err)
	}
	return c
}
