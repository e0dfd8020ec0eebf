package cli

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlsgate/tlsgate/internal/pki"
)

func readChain(t *testing.T, path string) []*x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	return certs
}

// verifyChain checks chain[0] against the local CA root in dataDir.
func verifyChain(t *testing.T, chain []*x509.Certificate, dataDir string, usage x509.ExtKeyUsage) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(readChain(t, pki.RootCertPath(pki.LocalCADir(dataDir)))[0])
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		t.Errorf("chain does not verify: %v", err)
	}
}

func TestCAIssue(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	crt, key := filepath.Join(dir, "s.crt"), filepath.Join(dir, "s.key")
	code, stdout, stderr := pkiRun(t, nil, "ca", "issue", "localhost", "::1", "--cert-out", crt, "--key-out", key, "--data-dir", data, "--days", "900")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"Created the local CA", "Names:       localhost, ::1", "was capped", "curl --cacert " + pki.RootCertPath(pki.LocalCADir(data)) + " https://localhost:8443/"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	chain := readChain(t, crt)
	if len(chain) != 2 {
		t.Fatalf("%d certificates in %s; want leaf + intermediate", len(chain), crt)
	}
	verifyChain(t, chain, data, x509.ExtKeyUsageServerAuth)
	if fi, _ := os.Stat(key); fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v; want 0600", fi.Mode().Perm())
	}

	ccrt, ckey, p12 := filepath.Join(dir, "c.crt"), filepath.Join(dir, "c.key"), filepath.Join(dir, "c.p12")
	vars := map[string]string{envP12Passphrase: "p12pw"}
	code, stdout, stderr = pkiRun(t, vars, "ca", "issue", "bob@example.net", "--client", "--cert-out", ccrt, "--key-out", ckey, "--p12-out", p12, "--data-dir", data)
	if code != 0 {
		t.Fatalf("client: exit %d: %s", code, stderr)
	}
	verifyChain(t, readChain(t, ccrt), data, x509.ExtKeyUsageClientAuth)
	if !strings.Contains(stdout, "curl --cert "+ccrt+" --key "+ckey) {
		t.Errorf("client output lacks the curl line:\n%s", stdout)
	}
	if fi, err := os.Stat(p12); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() == 0 {
		t.Errorf("p12: %v, %v", fi, err)
	}
}

func TestCASign(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	key, csr, crt := filepath.Join(dir, "k"), filepath.Join(dir, "r.csr"), filepath.Join(dir, "r.crt")
	for _, args := range [][]string{
		{"key", "--out", key},
		{"csr", "app.test", "10.0.0.1", "--key", key, "--out", csr},
		{"ca", "sign", csr, "--out", crt, "--data-dir", data},
	} {
		if code, _, stderr := pkiRun(t, nil, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
	}
	chain := readChain(t, crt)
	verifyChain(t, chain, data, x509.ExtKeyUsageServerAuth)
	if got := strings.Join(chain[0].DNSNames, ","); got != "app.test" || len(chain[0].IPAddresses) != 1 {
		t.Errorf("names %q %v; want the CSR's", got, chain[0].IPAddresses)
	}
}

func TestCAIssueSignUsageErrors(t *testing.T) {
	dir := t.TempDir()
	out := func(n string) string { return filepath.Join(dir, n) }
	tests := []struct {
		name string
		args []string
		msg  string
	}{
		{"issue without names", []string{"ca", "issue", "--cert-out", out("a"), "--key-out", out("b")}, "at least one name"},
		{"issue without outputs", []string{"ca", "issue", "localhost"}, "--cert-out and --key-out"},
		{"issue bad name", []string{"ca", "issue", "bad name", "--cert-out", out("a"), "--key-out", out("b")}, "bad name"},
		{"issue negative days", []string{"ca", "issue", "x.test", "--days", "-1", "--cert-out", out("a"), "--key-out", out("b")}, "--days"},
		{"issue --ca-cert alone", []string{"ca", "issue", "x.test", "--ca-cert", out("ca"), "--cert-out", out("a"), "--key-out", out("b")}, "go together"},
		{"issue bad key type", []string{"ca", "issue", "x.test", "--key-type", "rsa-1024", "--cert-out", out("a"), "--key-out", out("b")}, "--key-type"},
		{"sign without CSR", []string{"ca", "sign", "--out", out("a")}, "give the CSR file"},
		{"sign without --out", []string{"ca", "sign", out("x.csr")}, "--out is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := pkiRun(t, nil, append(tt.args, "--data-dir", out("data"))...)
			if code != exitUsage || !strings.Contains(stderr, tt.msg) {
				t.Errorf("exit %d, %q; want exit 2 with %q", code, stderr, tt.msg)
			}
		})
	}
	if _, err := os.Stat(out("data")); err == nil {
		t.Errorf("a usage error created the local CA")
	}
}
