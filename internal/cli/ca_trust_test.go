package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExportLine(t *testing.T) {
	tests := []struct {
		shell, value, want string
	}{
		{"sh", "/data/ca/bundle.pem", "export X=/data/ca/bundle.pem\n"},
		{"sh", "/my data/it's.pem", `export X='/my data/it'\''s.pem'` + "\n"},
		{"fish", "/my data/it's.pem", `set -gx X '/my data/it\'s.pem';` + "\n"},
		{"powershell", `C:\Users\o'neil\b.pem`, `$env:X = 'C:\Users\o''neil\b.pem'` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.shell+" "+tt.value, func(t *testing.T) {
			got, ok := exportLine(tt.shell, "X", tt.value)
			if !ok || got != tt.want {
				t.Errorf("got %q; want %q", got, tt.want)
			}
		})
	}
	if _, ok := exportLine("tcsh", "X", "y"); ok {
		t.Error("tcsh accepted")
	}
}

func TestCAEnvCommand(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	code, stdout, stderr := pkiRun(t, nil, "ca", "env", "--data-dir", data)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	bundle := filepath.Join(data, "ca", "bundle.pem")
	root := filepath.Join(data, "ca", "root.crt")
	for _, want := range []string{"export SSL_CERT_FILE=" + bundle, "export REQUESTS_CA_BUNDLE=" + bundle, "export CURL_CA_BUNDLE=" + bundle, "export NODE_EXTRA_CA_CERTS=" + root} {
		if !strings.Contains(stdout, want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	b, _ := os.ReadFile(bundle)
	r, _ := os.ReadFile(root)
	if len(r) == 0 || !strings.HasSuffix(string(b), string(r)) {
		t.Errorf("bundle.pem does not end with the local root")
	}
	if code, _, stderr := pkiRun(t, nil, "ca", "env", "--data-dir", data, "--shell", "tcsh"); code != exitUsage || !strings.Contains(stderr, "sh, fish or powershell") {
		t.Errorf("--shell tcsh: exit %d, %s", code, stderr)
	}
}

// TestCATrustNSSOnly uses a HOME without NSS databases, so nothing on the
// machine is touched.
func TestCATrustNSSOnly(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	vars := map[string]string{"HOME": filepath.Join(dir, "home")}
	code, stdout, stderr := pkiRun(t, vars, "ca", "trust", "--stores", "nss", "--data-dir", data)
	if code != exitFailure || !strings.Contains(stdout, "nss: skipped, no NSS database found") || !strings.Contains(stderr, "skipped") {
		t.Errorf("explicit nss with nothing to change: exit %d\n%s\n%s; want exit 1 saying it was skipped", code, stdout, stderr)
	}
	if !strings.Contains(stdout, `eval "$(tlsgate ca env --data-dir `+data+`)"`) {
		t.Errorf("ca trust does not tell Python users about ca env:\n%s", stdout)
	}
	if code, _, stderr := pkiRun(t, vars, "ca", "trust", "--stores", "firefox", "--data-dir", data); code != exitUsage || !strings.Contains(stderr, "system, nss or java") {
		t.Errorf("--stores firefox: exit %d, %s", code, stderr)
	}
	if code, _, stderr := pkiRun(t, vars, "ca", "untrust", "--stores", "nss", "--data-dir", filepath.Join(dir, "none")); code != exitFailure || !strings.Contains(stderr, "no local CA") {
		t.Errorf("untrust without a CA: exit %d, %s", code, stderr)
	}
}
