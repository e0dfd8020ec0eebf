package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlsgate/tlsgate/internal/storage"
)

func TestStorageKeygen(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "storage.key")
	code, stdout, stderr := pkiRun(t, nil, "storage", "keygen", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, out) {
		t.Errorf("output does not name the file:\n%s", stdout)
	}
	first, err := storage.ReadKeyFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v; want 0600", fi.Mode().Perm())
	}
	if code, _, stderr := pkiRun(t, nil, "storage", "keygen", "--out", out); code != exitFailure || !strings.Contains(stderr, "--force") {
		t.Errorf("second keygen: exit %d, %q; want 1 and a hint at --force", code, stderr)
	}
	if code, _, stderr := pkiRun(t, nil, "storage", "keygen", "--out", out, "--force"); code != 0 {
		t.Fatalf("keygen --force: exit %d: %s", code, stderr)
	}
	second, _ := storage.ReadKeyFile(out)
	if string(first) == string(second) {
		t.Error("keygen --force wrote the same key again")
	}
	if code, _, _ := pkiRun(t, nil, "storage", "keygen"); code != exitUsage {
		t.Errorf("keygen without --out: exit %d; want %d", code, exitUsage)
	}
}

// storageConfig writes a config whose storage is files in dataDir, sealed
// with keyFile when it is not "".
func storageConfig(t *testing.T, dir, name, dataDir, keyFile string) string {
	t.Helper()
	storageBlock := ""
	if keyFile != "" {
		storageBlock = fmt.Sprintf("storage: {encryption_key_file: %s}\n", keyFile)
	}
	return writeTemp(t, dir, name, fmt.Sprintf(`data_dir: %s
%ssites:
  - hosts: [app.test]
    routes: [{path: /, respond: {body: ok}}]
`, dataDir, storageBlock))
}

func TestStorageMigrate(t *testing.T) {
	dir := t.TempDir()
	keyA, keyB := filepath.Join(dir, "a.key"), filepath.Join(dir, "b.key")
	for _, k := range []string{keyA, keyB} {
		if code, _, stderr := pkiRun(t, nil, "storage", "keygen", "--out", k); code != 0 {
			t.Fatal(stderr)
		}
	}
	plainDir := filepath.Join(dir, "plain")
	files := map[string]string{
		"certificates/acme/app.test/app.test.key":   "-----BEGIN EC PRIVATE KEY-----\nsecret\n-----END EC PRIVATE KEY-----\n",
		"certificates/acme/app.test/app.test.crt":   "-----BEGIN CERTIFICATE-----\npublic\n-----END CERTIFICATE-----\n",
		"acme/ca/users/ops@example.com/ops.json":    `{"status":"valid"}`,
		"acme/ca/users/ops@example.com/private.key": "-----BEGIN PRIVATE KEY-----\naccount\n-----END PRIVATE KEY-----\n",
		// Not storage: the local CA is read as plain files and must stay so.
		"ca/root.key": "-----BEGIN EC PRIVATE KEY-----\nca\n-----END EC PRIVATE KEY-----\n",
	}
	for k, v := range files {
		p := filepath.Join(plainDir, k)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		writeTemp(t, filepath.Dir(p), filepath.Base(p), v)
	}
	plain := storageConfig(t, dir, "plain.yaml", plainDir, "")
	encA := storageConfig(t, dir, "enc-a.yaml", filepath.Join(dir, "enc"), keyA)
	encB := storageConfig(t, dir, "enc-b.yaml", filepath.Join(dir, "enc"), keyB)
	wrong := storageConfig(t, dir, "wrong.yaml", filepath.Join(dir, "enc"), keyB)
	back := storageConfig(t, dir, "back.yaml", filepath.Join(dir, "back"), "")

	migrate := func(from, to string) (int, string, string) {
		t.Helper()
		return pkiRun(t, nil, "storage", "migrate", "--from", from, "--to", to)
	}
	if code, stdout, stderr := migrate(plain, encA); code != 0 || !strings.Contains(stdout, "copied 4 values") {
		t.Fatalf("plain to encrypted: exit %d\n%s%s", code, stdout, stderr)
	}
	assertNoPEMKeys(t, filepath.Join(dir, "enc"))
	if _, err := os.Stat(filepath.Join(dir, "enc", "ca")); err == nil {
		t.Error("the local CA directory was copied into storage")
	}
	// Rotating in place: read with key A, write with key B.
	if code, stdout, stderr := migrate(encA, encB); code != 0 {
		t.Fatalf("rotate: exit %d\n%s%s", code, stdout, stderr)
	}
	// Key A no longer opens anything: the error says what to do.
	code, _, stderr := migrate(encA, back)
	if code != exitFailure || !strings.Contains(stderr, "set storage.encryption_key_file to the key it was written with") {
		t.Errorf("reading with the old key: exit %d, %q; want 1 and the fix", code, stderr)
	}
	if code, stdout, stderr := migrate(wrong, back); code != 0 {
		t.Fatalf("encrypted to plain: exit %d\n%s%s", code, stdout, stderr)
	}
	for k, v := range files {
		if strings.HasPrefix(k, "ca/") {
			continue
		}
		got, err := os.ReadFile(filepath.Join(dir, "back", k))
		if err != nil || string(got) != v {
			t.Errorf("%s after the round trip = %q, %v; want %q", k, got, err, v)
		}
	}
}

// assertNoPEMKeys fails if any file under dir holds a PEM private key.
func assertNoPEMKeys(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, _ := os.ReadFile(p)
		if strings.Contains(string(data), "PRIVATE KEY") {
			t.Errorf("%s holds a private key in plain text", p)
		}
		return nil
	})
}
