package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlsgate/tlsgate/internal/pki"
)

func TestKeyCommand(t *testing.T) {
	dir := t.TempDir()
	pass := writeTemp(t, dir, "pass", "pw\n")
	for _, typ := range pki.KeyTypes() {
		if strings.HasPrefix(string(typ), "rsa-") && typ != pki.KeyRSA2048 {
			continue // slow, and the same code as rsa-2048
		}
		// Encryption (600k PBKDF2 rounds, slow under -race) is tested once;
		// test/pki checks every type, encrypted, against openssl.
		encrypt := typ == pki.DefaultKeyType
		t.Run(string(typ), func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(dir, string(typ)+".key")
			args := []string{"key", "--out", out, "--type", string(typ)}
			want := "not encrypted"
			if encrypt {
				args = append(args, "--passphrase-file", pass)
				want = "encrypted with the passphrase from --passphrase-file"
			}
			code, stdout, stderr := pkiRun(t, nil, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if !strings.Contains(stdout, want) {
				t.Errorf("output does not say %q:\n%s", want, stdout)
			}
			data, _ := os.ReadFile(out)
			key, err := pki.ParsePrivateKeyPEM(data, []byte("pw"))
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := pki.DescribePublicKey(key.Public()); got != string(typ) {
				t.Errorf("key type %s; want %s", got, typ)
			}
			if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v; want 0600", fi.Mode().Perm())
			}
		})
	}
}

func TestKeyCommandErrors(t *testing.T) {
	dir := t.TempDir()
	existing := writeTemp(t, dir, "existing.key", "keep me")
	tests := []struct {
		name     string
		args     []string
		vars     map[string]string
		wantCode int
		wantMsg  string
	}{
		{"no --out", []string{"key"}, nil, exitUsage, "--out is required"},
		{"bad type", []string{"key", "--out", filepath.Join(dir, "x"), "--type", "dsa"}, nil, exitUsage, "unknown key type"},
		{"passphrase as a flag value", []string{"key", "--out", filepath.Join(dir, "x"), "--passphrase", "pw"}, nil, exitUsage, "unknown flag"},
		{"exists", []string{"key", "--out", existing}, nil, exitFailure, "--force"},
		{"--encrypt without a terminal", []string{"key", "--out", filepath.Join(dir, "y"), "--encrypt"}, nil, exitUsage, envKeyPassphrase},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := pkiRun(t, tt.vars, tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantMsg) {
				t.Errorf("exit %d, %q; want exit %d with %q", code, stderr, tt.wantCode, tt.wantMsg)
			}
		})
	}
	if data, _ := os.ReadFile(existing); string(data) != "keep me" {
		t.Errorf("existing key was overwritten")
	}
}
