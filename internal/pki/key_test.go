package pki

import (
	"bytes"
	"crypto"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseKeyType(t *testing.T) {
	tests := []struct {
		in      string
		want    KeyType
		wantErr bool
	}{
		{"", KeyECDSAP256, false},
		{"ecdsa-p256", KeyECDSAP256, false},
		{" RSA-3072 ", KeyRSA3072, false},
		{"ed25519", KeyEd25519, false},
		{"rsa-1024", "", true}, // too weak, never offered
		{"dsa", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseKeyType(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParseKeyType(%q) = %q, %v; want %q, err=%v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestMarshalPrivateKeyPEMOpenSSL writes every key type, plain and
// encrypted, and has openssl read it back.
func TestMarshalPrivateKeyPEMOpenSSL(t *testing.T) {
	dir := t.TempDir()
	passFile := writeFile(t, dir, "pass", []byte("correct horse\n"))
	for _, kt := range KeyTypes() {
		for _, pass := range []string{"", "correct horse"} {
			name := string(kt) + map[bool]string{true: "-encrypted", false: "-plain"}[pass != ""]
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				key := mustGenerateKey(t, kt)
				pemBytes, err := MarshalPrivateKeyPEM(key, []byte(pass))
				if err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(dir, name+".key")
				if err := WriteFile(path, pemBytes, 0o600, false); err != nil {
					t.Fatal(err)
				}
				if m := fileMode(t, path); m != 0o600 {
					t.Errorf("mode = %o; want 600", m)
				}
				wantHeader := "-----BEGIN PRIVATE KEY-----"
				if pass != "" {
					wantHeader = "-----BEGIN ENCRYPTED PRIVATE KEY-----"
				}
				if !bytes.HasPrefix(pemBytes, []byte(wantHeader)) {
					t.Errorf("PEM starts %q; want %q", pemBytes[:40], wantHeader)
				}
				openssl(t, dir, "pkey", "-in", path, "-passin", "file:"+passFile, "-noout")
				if pass != "" {
					// The scheme promised in the docs: PBES2, PBKDF2-HMAC-SHA256 with
					// 600000 (0x927C0) rounds, AES-256-CBC.
					asn := openssl(t, dir, "asn1parse", "-in", path)
					for _, want := range []string{"PBES2", "PBKDF2", "hmacWithSHA256", "aes-256-cbc", ":0927C0"} {
						if !strings.Contains(asn, want) {
							t.Errorf("asn1parse output lacks %q:\n%s", want, asn)
						}
					}
				}
				back, err := ParsePrivateKeyPEM(pemBytes, []byte(pass))
				if err != nil {
					t.Fatalf("ParsePrivateKeyPEM: %v", err)
				}
				if !publicKeysEqual(back.Public(), key.Public()) {
					t.Error("round trip changed the key")
				}
			})
		}
	}
}

// TestParsePrivateKeyPEMFromOpenSSL reads keys in every format openssl writes.
func TestParsePrivateKeyPEMFromOpenSSL(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "pass", []byte("s3cret\n"))
	gen := map[string][]string{
		"ec.pem":  {"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ec.pem"},
		"rsa.pem": {"genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "rsa.pem"},
		"ed.pem":  {"genpkey", "-algorithm", "ED25519", "-out", "ed.pem"},
	}
	for _, args := range gen {
		openssl(t, dir, args...)
	}
	tests := []struct {
		name      string
		make      []string // openssl arguments that write name
		from      string   // the plain key it holds
		encrypted bool
		header    string
	}{
		{"pkcs8-ec", nil, "ec.pem", false, "PRIVATE KEY"},
		{"pkcs8-rsa", nil, "rsa.pem", false, "PRIVATE KEY"},
		{"pkcs8-ed25519", nil, "ed.pem", false, "PRIVATE KEY"},
		{"sec1-ec", []string{"ec", "-in", "ec.pem"}, "ec.pem", false, "EC PRIVATE KEY"},
		{"pkcs1-rsa", []string{"rsa", "-in", "rsa.pem", "-traditional"}, "rsa.pem", false, "RSA PRIVATE KEY"},
		{"pkcs8-aes256-ec", []string{"pkey", "-in", "ec.pem", "-aes256", "-passout", "file:pass"}, "ec.pem", true, "ENCRYPTED PRIVATE KEY"},
		{"pkcs8-aes256-rsa", []string{"pkey", "-in", "rsa.pem", "-aes256", "-passout", "file:pass"}, "rsa.pem", true, "ENCRYPTED PRIVATE KEY"},
		{"pkcs8-aes256-ed25519", []string{"pkey", "-in", "ed.pem", "-aes256", "-passout", "file:pass"}, "ed.pem", true, "ENCRYPTED PRIVATE KEY"},
		{"pkcs8-des3-rsa", []string{"pkcs8", "-topk8", "-v2", "des3", "-in", "rsa.pem", "-passout", "file:pass"}, "rsa.pem", true, "ENCRYPTED PRIVATE KEY"},
		{"legacy-aes256-ec", []string{"ec", "-in", "ec.pem", "-aes256", "-passout", "file:pass"}, "ec.pem", true, "EC PRIVATE KEY"},
		{"legacy-aes256-rsa", []string{"rsa", "-in", "rsa.pem", "-aes256", "-traditional", "-passout", "file:pass"}, "rsa.pem", true, "RSA PRIVATE KEY"},
		{"legacy-des3-rsa", []string{"rsa", "-in", "rsa.pem", "-des3", "-traditional", "-passout", "file:pass"}, "rsa.pem", true, "RSA PRIVATE KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.from)
			if tt.make != nil {
				path = filepath.Join(dir, tt.name+".pem")
				openssl(t, dir, append(tt.make, "-out", path)...)
			}
			data := readFile(t, path)
			if !bytes.HasPrefix(data, []byte("-----BEGIN "+tt.header+"-----")) {
				t.Fatalf("openssl wrote %q; want a %s block", data[:40], tt.header)
			}
			want := parsePlain(t, filepath.Join(dir, tt.from))
			if got := IsEncryptedKeyPEM(data); got != tt.encrypted {
				t.Errorf("IsEncryptedKeyPEM = %v; want %v", got, tt.encrypted)
			}
			key, err := ParsePrivateKeyPEM(data, []byte("s3cret"))
			if err != nil {
				t.Fatalf("ParsePrivateKeyPEM: %v", err)
			}
			if !publicKeysEqual(key.Public(), want.Public()) {
				t.Error("parsed key differs from the one openssl wrote")
			}
			if !tt.encrypted {
				return
			}
			if _, err := ParsePrivateKeyPEM(data, nil); !errors.Is(err, ErrPassphraseRequired) {
				t.Errorf("no passphrase: err = %v; want ErrPassphraseRequired", err)
			}
			for _, wrong := range []string{"wrong", "s3cret ", "S3cret", "x"} {
				if _, err := ParsePrivateKeyPEM(data, []byte(wrong)); !errors.Is(err, ErrWrongPassphrase) {
					t.Errorf("passphrase %q: err = %v; want ErrWrongPassphrase", wrong, err)
				}
			}
			// The failed attempts must not have damaged data (decryption
			// works on a copy), so the right passphrase still works.
			if _, err := ParsePrivateKeyPEM(data, []byte("s3cret")); err != nil {
				t.Errorf("after wrong tries: %v", err)
			}
		})
	}
}

// parsePlain reads an unencrypted openssl key with our parser.
func parsePlain(t *testing.T, path string) crypto.Signer {
	t.Helper()
	k, err := ParsePrivateKeyPEM(readFile(t, path), nil)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return k
}

// TestParsePrivateKeyPEMErrors checks that "not a key" and "unsupported"
// never read as a passphrase problem.
func TestParsePrivateKeyPEMErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "pass", []byte("s3cret\n"))
	openssl(t, dir, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ec.pem")
	openssl(t, dir, "pkcs8", "-topk8", "-scrypt", "-in", "ec.pem", "-passout", "file:pass", "-out", "scrypt.pem")
	openssl(t, dir, "req", "-x509", "-key", "ec.pem", "-subj", "/CN=x", "-days", "1", "-out", "cert.pem")
	certAndKey := append(readFile(t, filepath.Join(dir, "cert.pem")), readFile(t, filepath.Join(dir, "ec.pem"))...)

	tests := []struct {
		name    string
		data    []byte
		wantErr string // substring; "" means success
	}{
		{"not pem", []byte("hello"), "no PEM data"},
		{"certificate only", readFile(t, filepath.Join(dir, "cert.pem")), "no private key"},
		{"certificate then key", certAndKey, ""},
		{"scrypt", readFile(t, filepath.Join(dir, "scrypt.pem")), "scrypt"},
		{"garbage in block", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), "parse private key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePrivateKeyPEM(tt.data, []byte("s3cret"))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("err = %v; want success", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v; want one containing %q", err, tt.wantErr)
			case errors.Is(err, ErrWrongPassphrase) || errors.Is(err, ErrPassphraseRequired):
				t.Fatalf("err = %v; must not be a passphrase error", err)
			}
		})
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "k.pem")
	if err := WriteFile(path, []byte("one"), 0o600, false); err != nil {
		t.Fatal(err)
	}
	err := WriteFile(path, []byte("two"), 0o600, false)
	if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "--force") {
		t.Errorf("second write: err = %v; want fs.ErrExist mentioning --force", err)
	}
	if got := string(readFile(t, path)); got != "one" {
		t.Errorf("content after refused write = %q; want %q", got, "one")
	}
	if err := WriteFile(path, []byte("three"), 0o644, true); err != nil {
		t.Fatal(err)
	}
	if got := string(readFile(t, path)); got != "three" {
		t.Errorf("content after overwrite = %q; want %q", got, "three")
	}
	if m := fileMode(t, path); m != 0o644 {
		t.Errorf("mode = %o; want 644", m)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("dir holds %d entries; want 1 (no temp files left)", len(entries))
	}
	if err := WriteFile(filepath.Join(dir, "missing", "x"), nil, 0o600, false); err == nil {
		t.Error("write into a missing dir succeeded")
	}
}
