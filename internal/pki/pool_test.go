package pki

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAppendCertFile: the two strictness levels, on the same files.
func TestAppendCertFile(t *testing.T) {
	dir := t.TempDir()
	ca, _, err := InitLocalCA(filepath.Join(dir, "ca"), "")
	if err != nil {
		t.Fatal(err)
	}
	good := EncodeCertificatesPEM(ca.Root)
	broken := "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
	files := map[string]string{
		"good":        string(good),
		"good+broken": string(good) + broken,
		"none":        "not a certificate\n",
		"der":         string(ca.Root.Raw),
	}
	tests := []struct {
		file    string
		mode    PoolMode
		wantErr string
	}{
		{"good", PoolStrict, ""},
		{"good", PoolLenient, ""},
		{"good+broken", PoolStrict, "parse certificate 2"},
		{"good+broken", PoolLenient, ""},
		{"none", PoolStrict, "no certificate found"},
		{"none", PoolLenient, "holds no PEM certificate"},
		{"der", PoolStrict, ""},
		{"der", PoolLenient, "holds no PEM certificate"},
		{"missing", PoolStrict, "no such file"},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, tt.file)
		if c, ok := files[tt.file]; ok {
			if err := os.WriteFile(path, []byte(c), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		_, err := CertPoolFromFiles(tt.mode, path)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s mode %d: got %v; want error %q", tt.file, tt.mode, err, tt.wantErr)
		}
	}
}
