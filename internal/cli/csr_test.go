package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlsgate/tlsgate/internal/pki"
)

func TestCSRCommand(t *testing.T) {
	dir := t.TempDir()
	key, encKey := filepath.Join(dir, "k.pem"), filepath.Join(dir, "enc.pem")
	vars := map[string]string{envKeyPassphrase: "env-pw"}
	if code, _, stderr := pkiRun(t, nil, "key", "--out", key); code != 0 {
		t.Fatal(stderr)
	}
	if code, _, stderr := pkiRun(t, vars, "key", "--out", encKey); code != 0 {
		t.Fatal(stderr)
	}
	out := filepath.Join(dir, "k.csr")
	code, _, stderr := pkiRun(t, nil, "csr", "localhost", "127.0.0.1", "a@example.net", "--key", key, "--out", out,
		"--org", "Example", "--locality", "Leeds")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	data, _ := os.ReadFile(out)
	csr, err := pki.ParseCSRPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	info := pki.DescribeCSR(csr)
	if !info.SignatureValid || strings.Join(info.Names, " ") != "localhost 127.0.0.1 a@example.net" || info.Subject != "CN=localhost,O=Example,L=Leeds" {
		t.Errorf("CSR: %+v", info)
	}

	tests := []struct {
		name string
		args []string
		vars map[string]string
		code int
		msg  string
	}{
		{"no names", []string{"csr", "--key", key, "--out", out + "2"}, vars, exitUsage, "at least one name"},
		{"name with a port", []string{"csr", "localhost:8443", "--key", key, "--out", out + "2"}, vars, exitUsage, "localhost:8443"},
		{"no key", []string{"csr", "localhost", "--out", out + "2"}, vars, exitUsage, "--key is required"},
		{"wrong passphrase", []string{"csr", "localhost", "--key", encKey, "--out", out + "2"}, map[string]string{envKeyPassphrase: "nope"}, exitFailure, "wrong passphrase for " + encKey},
		{"no passphrase", []string{"csr", "localhost", "--key", encKey, "--out", out + "2"}, nil, exitUsage, "--key-passphrase-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := pkiRun(t, tt.vars, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.msg) {
				t.Errorf("exit %d, %q; want exit %d with %q", code, stderr, tt.code, tt.msg)
			}
		})
	}
}
