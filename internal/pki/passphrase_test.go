package pki

import (
	"os"
	"path/filepath"
	"testing"
)

// TestReadPassphraseFile: one rule for the command line and the server
// (certs accepted an empty first line, cli refused it; issue 19).
func TestReadPassphraseFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content, want string
		wantErr             bool
	}{
		{"first line only", "secret\nsecond line\n", "secret", false},
		{"no newline", "secret", "secret", false},
		{"windows line end", "secret\r\n", "secret", false},
		{"spaces kept", " two words \n", " two words ", false},
		{"empty first line", "\nsecret\n", "", true},
		{"empty file", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, "p")
			if err := os.WriteFile(p, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := ReadPassphraseFile(p)
			if (err != nil) != tt.wantErr || string(got) != tt.want {
				t.Errorf("got %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	if _, err := ReadPassphraseFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file gave no error")
	}
}
