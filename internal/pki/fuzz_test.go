package pki

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzParsePEM: keys (plain or encrypted), certificates and CSRs in any
// bytes, with any passphrase, parse or give an error; never a panic. The
// seeds are real material of every key type, so mutations start from
// valid DER.
func FuzzParsePEM(f *testing.F) {
	f.Add([]byte("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI\n-----END EC PRIVATE KEY-----\n"), []byte(""))
	f.Add([]byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"), []byte("secret"))
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), []byte(nil))
	// RSA 1024, not GenerateKey's 2048 and up: the same structure, made in
	// milliseconds rather than seconds under -race.
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		f.Fatal(err)
	}
	keys := []crypto.Signer{rsaKey}
	for _, kt := range []KeyType{KeyECDSAP256, KeyEd25519} {
		key, err := GenerateKey(kt)
		if err != nil {
			f.Fatal(err)
		}
		keys = append(keys, key)
	}
	for _, key := range keys {
		plain, err := MarshalPrivateKeyPEM(key, nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(plain, []byte("ignored"))
		// PBES2 at 600k PBKDF2 rounds takes seconds under -race, so the
		// encrypted PKCS#8 seeds are files in testdata/fuzz/FuzzParsePEM
		// (made by openssl pkcs8 -topk8 -v2 aes-256-cbc, with and without
		// the passphrase); the legacy OpenSSL encryption is cheap.
		block, _ := pem.Decode(plain)
		//lint:ignore SA1019 legacy encrypted PEM is what old OpenSSL wrote; ParsePrivateKeyPEM reads it
		legacy, err := x509.EncryptPEMBlock(rand.Reader, "PRIVATE KEY", block.Bytes, []byte("secret"), x509.PEMCipherAES128)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pem.EncodeToMemory(legacy), []byte("secret"))
		_, csr, err := CreateCSR(key, CSRRequest{Names: []string{"app.test", "*.app.test", "192.0.2.1", "me@app.test", "spiffe://app.test/x"}})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(csr, []byte(nil))
	}
	cert, err := SelfSigned([]string{"app.test"}, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(EncodeCertificatesPEM(cert.Leaf), []byte(nil))
	f.Fuzz(func(t *testing.T, data, pass []byte) {
		ParsePrivateKeyPEM(data, pass)
		IsEncryptedKeyPEM(data)
		DescribeKeyPEM(data)
		if certs, err := ParseCertificatesPEM(data); err == nil {
			ChainProblems(certs)
			for _, c := range certs {
				DescribeCertificate(c, time.Now())
			}
		}
		if csr, err := ParseCSRPEM(data); err == nil {
			DescribeCSR(csr)
		}
	})
}

// FuzzParseNames: any name list sorts into SANs or is refused, never a
// panic; what it returns is normalized (parsing it again changes nothing)
// and holds no spaces.
func FuzzParseNames(f *testing.F) {
	for _, s := range []string{"app.test", "*.app.test", "APP.test.", "192.0.2.1", "[2001:db8::1]", "me@app.test",
		"spiffe://app.test/x", "urn:x:y", "bücher.example", "localhost:8443", "a b", "*", "*.com", "a.*.b", "xn--", ""} {
		f.Add(s, "app.test")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		got, err := ParseNames([]string{a, b})
		if err != nil {
			return
		}
		again, err := ParseNames(got)
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("ParseNames(%q) = %q; parsing that again gives %q, %v", []string{a, b}, got, again, err)
		}
		for _, n := range got {
			if strings.ContainsAny(n, " \t\r\n") {
				t.Fatalf("ParseNames(%q) kept a space: %q", []string{a, b}, n)
			}
		}
	})
}

// FuzzReadPassphraseFile: the passphrase is the first line without its
// line ending, never empty, never with a line break.
func FuzzReadPassphraseFile(f *testing.F) {
	for _, s := range []string{"secret\n", "secret\r\n", "secret", "\n", "", "a\nb\n", "\r\r\n", "pa ss\x00word\rx\n"} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "pass")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		p, err := ReadPassphraseFile(path)
		first, _, _ := bytes.Cut(data, []byte("\n"))
		want := bytes.TrimRight(first, "\r")
		if err != nil {
			if len(want) != 0 {
				t.Fatalf("ReadPassphraseFile(%q): %v; want %q", data, err, want)
			}
			return
		}
		if len(p) == 0 || bytes.ContainsAny(p, "\n") || !bytes.Equal(p, want) {
			t.Fatalf("ReadPassphraseFile(%q) = %q; want %q", data, p, want)
		}
	})
}
