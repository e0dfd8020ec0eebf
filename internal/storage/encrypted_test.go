package storage

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/certmagic"

	"github.com/tlsgate/tlsgate/internal/config"
)

const pemKey = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI...\n-----END EC PRIVATE KEY-----\n"

func newKey(t *testing.T) []byte {
	t.Helper()
	k, err := NewKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestEncryptedSealsPrivateKeys(t *testing.T) {
	ctx := context.Background()
	backend := &certmagic.FileStorage{Path: t.TempDir()}
	enc, err := NewEncrypted(backend, newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key, value string
		sealed     bool
	}{
		{"certificates/acme/a.example/a.example.key", pemKey, true},
		{"acme/ca/users/ops@example.com/private.key", pemKey, true},
		// A key under another name is still sealed: the content gives it away.
		{"other/thing.pem", pemKey, true},
		{"certificates/acme/a.example/a.example.key", "not even PEM", true},
		{"certificates/acme/a.example/a.example.crt", "-----BEGIN CERTIFICATE-----\n", false},
		{"certificates/acme/a.example/a.example.json", `{"sans":["a.example"]}`, false},
	} {
		if err := enc.Store(ctx, tc.key, []byte(tc.value)); err != nil {
			t.Fatal(err)
		}
		raw, _ := backend.Load(ctx, tc.key)
		if IsSealed(raw) != tc.sealed {
			t.Errorf("%s: sealed = %v; want %v", tc.key, IsSealed(raw), tc.sealed)
		}
		if tc.sealed && bytes.Contains(raw, []byte(tc.value)) {
			t.Errorf("%s: the stored value contains the plain text", tc.key)
		}
		got, err := enc.Load(ctx, tc.key)
		if err != nil || string(got) != tc.value {
			t.Errorf("%s: Load = %q, %v; want %q", tc.key, got, err, tc.value)
		}
	}
}

func TestEncryptedRefusesWhatItCannotOpen(t *testing.T) {
	ctx := context.Background()
	backend := &certmagic.FileStorage{Path: t.TempDir()}
	right, _ := NewEncrypted(backend, newKey(t))
	wrong, _ := NewEncrypted(backend, newKey(t))
	none, _ := NewEncrypted(backend, nil)
	const name = "certificates/acme/a.example/a.example.key"
	if err := right.Store(ctx, name, []byte(pemKey)); err != nil {
		t.Fatal(err)
	}
	sealed, _ := backend.Load(ctx, name)

	for _, tc := range []struct {
		name  string
		s     *Encrypted
		key   string
		value []byte
		want  string
	}{
		{"no key", none, name, sealed, "is encrypted at rest; set storage.encryption_key_file to the key it was written with"},
		{"wrong key", wrong, name, sealed, "is encrypted at rest; set storage.encryption_key_file to the key it was written with"},
		{"truncated", right, name, sealed[:20], "truncated"},
		{"flipped bit", right, name, flip(sealed, len(sealed)-1), "does not open"},
		// A sealed value copied under another storage key does not open:
		// the key is authenticated with it.
		{"moved", right, "certificates/acme/b.example/b.example.key", sealed, "does not open"},
		{"future version", right, name, flip(sealed, len(sealMagic)), "format version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := backend.Store(ctx, tc.key, tc.value); err != nil {
				t.Fatal(err)
			}
			_, err := tc.s.Load(ctx, tc.key)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load error = %v; want it to say %q", err, tc.want)
			}
			if errors.Is(err, fs.ErrNotExist) {
				t.Error("a sealed value that does not open must not look missing: CertMagic would replace it")
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

func TestEncryptedReadsPlainValues(t *testing.T) {
	// Data written before encryption was turned on still loads.
	ctx := context.Background()
	backend := &certmagic.FileStorage{Path: t.TempDir()}
	if err := backend.Store(ctx, "old/site.key", []byte(pemKey)); err != nil {
		t.Fatal(err)
	}
	enc, _ := NewEncrypted(backend, newKey(t))
	got, err := enc.Load(ctx, "old/site.key")
	if err != nil || string(got) != pemKey {
		t.Fatalf("Load of a plain value = %q, %v; want it unchanged", got, err)
	}
	// Without a key nothing is sealed.
	none, _ := NewEncrypted(backend, nil)
	if err := none.Store(ctx, "new/site.key", []byte(pemKey)); err != nil {
		t.Fatal(err)
	}
	if raw, _ := backend.Load(ctx, "new/site.key"); string(raw) != pemKey {
		t.Error("storage without a key changed the value")
	}
}

func TestParseKey(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	for _, tc := range []struct {
		name, data string
		ok         bool
	}{
		{"base64", base64.StdEncoding.EncodeToString(key), true},
		{"base64 with newline", base64.StdEncoding.EncodeToString(key) + "\n", true},
		{"raw", string(key), true},
		{"short base64", base64.StdEncoding.EncodeToString(key[:16]), false},
		{"empty", "", false},
		{"text", "correct horse battery staple", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseKey([]byte(tc.data))
			if (err == nil) != tc.ok {
				t.Fatalf("ParseKey error = %v; want ok=%v", err, tc.ok)
			}
			if tc.ok && !bytes.Equal(got, key) {
				t.Errorf("ParseKey = %x; want %x", got, key)
			}
		})
	}
}

func TestWriteKeyFileRefusesOverwrite(t *testing.T) {
	path := t.TempDir() + "/k"
	if err := WriteKeyFile(path, newKey(t), false); err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyFile(path, newKey(t), false); !errors.Is(err, ErrKeyFileExists) {
		t.Errorf("second write error = %v; want ErrKeyFileExists", err)
	}
	if err := WriteKeyFile(path, newKey(t), true); err != nil {
		t.Errorf("overwrite: %v", err)
	}
}

// TestRequireSealed: with require_sealed (the default once a key is set),
// a private key stored unsealed is refused with an error that says how to
// seal it; other plain values and sealed keys still load; Open sets it from
// the config.
func TestRequireSealed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	backend := &certmagic.FileStorage{Path: dir}
	plain := map[string]string{
		"old/site.key":  pemKey,
		"old/meta.json": `{"private":"` + pemKey + `"}`, // holds a PEM key under another name
		"old/site.crt":  "-----BEGIN CERTIFICATE-----\n",
	}
	for k, v := range plain {
		if err := backend.Store(ctx, k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	key := newKey(t)
	enc, _ := NewEncrypted(backend, key)
	enc.RequireSealed = true
	for _, k := range []string{"old/site.key", "old/meta.json"} {
		_, err := enc.Load(ctx, k)
		var ue *UnsealedError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "tlsgate storage migrate") || !strings.Contains(err.Error(), k) {
			t.Errorf("Load(%s) = %v; want an UnsealedError naming the key and tlsgate storage migrate", k, err)
		}
	}
	if got, err := enc.Load(ctx, "old/site.crt"); err != nil || string(got) != plain["old/site.crt"] {
		t.Errorf("Load of a plain certificate = %q, %v; want it unchanged", got, err)
	}
	if err := enc.Store(ctx, "new/site.key", []byte(pemKey)); err != nil {
		t.Fatal(err)
	}
	if got, err := enc.Load(ctx, "new/site.key"); err != nil || string(got) != pemKey {
		t.Errorf("Load of a sealed key = %q, %v", got, err)
	}

	keyFile := filepath.Join(t.TempDir(), "storage.key")
	if err := WriteKeyFile(keyFile, key, false); err != nil {
		t.Fatal(err)
	}
	off := false
	for _, tc := range []struct {
		name string
		cfg  config.Storage
		want bool
	}{
		{"key, default", config.Storage{EncryptionKeyFile: keyFile}, true},
		{"key, require_sealed false", config.Storage{EncryptionKeyFile: keyFile, RequireSealed: &off}, false},
		{"no key", config.Storage{}, false},
	} {
		s, closer, err := Open(tc.cfg, dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		closer.Close()
		_, err = s.Load(ctx, "old/site.key")
		if got := err != nil; got != tc.want {
			t.Errorf("%s: Load of an unsealed key: %v; want refused=%v", tc.name, err, tc.want)
		}
	}
}
