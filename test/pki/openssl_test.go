package pki

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestKeysOpenedByOpenSSL: every key type tlsgate writes, encrypted or not,
// is read by `openssl pkey`, and key files are 0600.
func TestKeysOpenedByOpenSSL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ, opensslSays string
	}{
		{"ecdsa-p256", "P-256"},
		{"ecdsa-p384", "P-384"},
		{"rsa-2048", "2048 bit"},
		{"rsa-3072", "3072 bit"},
		{"ed25519", "ED25519"},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			t.Parallel()
			s := newSandbox(t)
			pass := s.file("pass.txt", "correct horse battery staple\n")
			s.ok("key", "--out", "enc.key", "--type", tt.typ, "--passphrase-file", pass)
			s.ok("key", "--out", "plain.key", "--type", tt.typ)
			for _, f := range []string{"enc.key", "plain.key"} {
				fi, err := os.Stat(s.path(f))
				if err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("%s: mode %v, %v; want 0600", f, fi.Mode().Perm(), err)
				}
			}
			data, _ := os.ReadFile(s.path("enc.key"))
			if !strings.Contains(string(data), "BEGIN ENCRYPTED PRIVATE KEY") {
				t.Fatalf("enc.key is not encrypted PKCS#8:\n%s", data)
			}
			out := s.openssl("pkey", "-in", "enc.key", "-passin", "file:"+pass, "-noout", "-text").Stdout
			if !strings.Contains(out, tt.opensslSays) {
				t.Errorf("openssl pkey -text does not say %q:\n%s", tt.opensslSays, out)
			}
			s.openssl("pkey", "-in", "plain.key", "-noout")
			if r := s.run(nil, "openssl", "pkey", "-in", "enc.key", "-passin", "pass:wrong", "-noout"); r.Code == 0 {
				t.Errorf("openssl opened enc.key with a wrong passphrase")
			}
		})
	}
}

// TestKeyPassphraseFromEnvAndOverwrite: the env var encrypts, a second
// write is refused without --force.
func TestKeyPassphraseFromEnvAndOverwrite(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	r := s.run([]string{"TLSGATE_KEY_PASSPHRASE=from-env"}, tlsgateBin, "key", "--out", "k.pem")
	if r.Code != 0 || !strings.Contains(r.Stdout, "TLSGATE_KEY_PASSPHRASE") {
		t.Fatalf("key with env passphrase: %s", r)
	}
	s.openssl("pkey", "-in", "k.pem", "-passin", "pass:from-env", "-noout")
	before, _ := os.ReadFile(s.path("k.pem"))
	if r := s.tlsgate("key", "--out", "k.pem"); r.Code != 1 || !strings.Contains(r.Stderr, "--force") {
		t.Errorf("overwrite without --force: %s; want exit 1 naming --force", r)
	}
	if after, _ := os.ReadFile(s.path("k.pem")); string(after) != string(before) {
		t.Errorf("k.pem changed although --force was not given")
	}
	s.ok("key", "--out", "k.pem", "--force")
	s.openssl("pkey", "-in", "k.pem", "-noout")
}

// TestCSRVerifiedByOpenSSL: names of every kind end up as SANs of the right
// kind, the signature verifies, and an encrypted key is read.
func TestCSRVerifiedByOpenSSL(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	pass := s.file("pass.txt", "pw-for-csr\n")
	s.ok("key", "--out", "server.key", "--passphrase-file", pass)
	s.ok("csr", "localhost", "alice.example.net", "127.0.0.1", "::1", "ops@example.net", "spiffe://example.net/api",
		"--key", "server.key", "--key-passphrase-file", pass, "--org", "Example Ltd", "--country", "GB", "--out", "server.csr")
	r := s.openssl("req", "-in", "server.csr", "-verify", "-noout", "-text")
	text := r.Stdout + r.Stderr
	for _, want := range []string{
		"verify OK", "DNS:localhost", "DNS:alice.example.net", "IP Address:127.0.0.1", "IP Address:0:0:0:0:0:0:0:1",
		"email:ops@example.net", "URI:spiffe://example.net/api", "O = Example Ltd", "C = GB", "CN = localhost",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("openssl req -text lacks %q:\n%s", want, text)
		}
	}
	if r := s.run([]string{"TLSGATE_KEY_PASSPHRASE=wrong"}, tlsgateBin, "csr", "x.test", "--key", "server.key", "--out", "x.csr"); r.Code != 1 || !strings.Contains(r.Stderr, "wrong passphrase") {
		t.Errorf("wrong passphrase: %s; want exit 1 saying wrong passphrase", r)
	}
	if r := s.tlsgate("csr", "x.test", "--key", "server.key", "--out", "x.csr"); r.Code != 2 || !strings.Contains(r.Stderr, "--key-passphrase-file") {
		t.Errorf("no passphrase and no terminal: %s; want exit 2 naming --key-passphrase-file", r)
	}
}

// TestIssueVerifiedByOpenSSL: leaves from the local CA chain to its root
// through the intermediate and carry the extensions clients check.
func TestIssueVerifiedByOpenSSL(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.ok("ca", "issue", "localhost", "127.0.0.1", "--cert-out", "server.crt", "--key-out", "server.key", "--data-dir", s.DataDir)
	s.ok("ca", "issue", "alice@example.net", "--client", "--days", "30", "--key-type", "rsa-2048",
		"--cert-out", "client.crt", "--key-out", "client.key", "--data-dir", s.DataDir)
	root, inter := s.DataDir+"/ca/root.crt", s.DataDir+"/ca/intermediate.crt"
	tests := []struct {
		file string
		want []string
	}{
		{"server.crt", []string{"TLS Web Server Authentication", "DNS:localhost", "IP Address:127.0.0.1", "Digital Signature", "CA:FALSE"}},
		{"client.crt", []string{"TLS Web Client Authentication", "email:alice@example.net", "Digital Signature, Key Encipherment"}},
	}
	for _, tt := range tests {
		s.openssl("verify", "-CAfile", root, "-untrusted", inter, tt.file)
		text := s.openssl("x509", "-in", tt.file, "-noout", "-text").Stdout
		for _, w := range append(tt.want, "Subject Key Identifier", "Authority Key Identifier", "Key Usage: critical") {
			if !strings.Contains(text, w) {
				t.Errorf("%s lacks %q:\n%s", tt.file, w, text)
			}
		}
		// The file is leaf + intermediate, as a server sends it.
		if n := strings.Count(readFile(t, s.path(tt.file)), "BEGIN CERTIFICATE"); n != 2 {
			t.Errorf("%s holds %d certificates; want leaf + intermediate", tt.file, n)
		}
	}
	var rep struct {
		Certificates []struct {
			SANs     []string `json:"sans"`
			DaysLeft int      `json:"days_left"`
		} `json:"certificates"`
		ChainProblems []string `json:"chain_problems"`
	}
	out := s.ok("inspect", "client.crt", "--json").Stdout
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Certificates) != 2 {
		t.Fatalf("inspect --json: %v\n%s", err, out)
	}
	if d := rep.Certificates[0].DaysLeft; d < 28 || d > 30 || len(rep.ChainProblems) != 0 {
		t.Errorf("client.crt: %d days left, chain problems %q; want ~29 days, none", d, rep.ChainProblems)
	}
}

// TestOpenSSLFilesUsedByTLSGate: keys, CSRs and CA files made by openssl,
// including encrypted legacy PEM and encrypted PKCS#8, work in tlsgate.
func TestOpenSSLFilesUsedByTLSGate(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	pass := s.file("pass.txt", "openssl-pass\n")
	s.openssl("genrsa", "-aes256", "-traditional", "-passout", "file:"+pass, "-out", "legacy.key", "2048")
	if !strings.Contains(readFile(t, s.path("legacy.key")), "Proc-Type: 4,ENCRYPTED") {
		t.Fatal("openssl did not write a legacy encrypted PEM key")
	}
	s.openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-aes256", "-pass", "file:"+pass, "-out", "pkcs8.key")

	for _, key := range []string{"legacy.key", "pkcs8.key"} {
		csr := key + ".csr"
		s.ok("csr", "openssl.test", "--key", key, "--key-passphrase-file", pass, "--out", csr)
		s.openssl("req", "-in", csr, "-verify", "-noout")
		if out := s.ok("inspect", key).Stdout; !strings.Contains(out, "encrypted with a passphrase") {
			t.Errorf("inspect %s does not say it is encrypted:\n%s", key, out)
		}
	}
	if out := s.ok("inspect", "legacy.key").Stdout; !strings.Contains(out, "rsa") {
		t.Errorf("inspect legacy.key does not name the key type:\n%s", out)
	}

	// A CA made by openssl with an encrypted legacy key signs through tlsgate.
	s.openssl("req", "-x509", "-key", "legacy.key", "-passin", "file:"+pass, "-subj", "/CN=OpenSSL Test CA",
		"-days", "30", "-out", "ca.crt")
	s.ok("ca", "issue", "app.internal", "--cert-out", "app.crt", "--key-out", "app.key",
		"--ca-cert", "ca.crt", "--ca-key", "legacy.key", "--ca-key-passphrase-file", pass)
	s.openssl("verify", "-CAfile", "ca.crt", "app.crt")
	wrong := s.file("wrong.txt", "nope\n")
	r := s.tlsgate("ca", "issue", "b.internal", "--cert-out", "b.crt", "--key-out", "b.key",
		"--ca-cert", "ca.crt", "--ca-key", "legacy.key", "--ca-key-passphrase-file", wrong)
	if r.Code != 1 || !strings.Contains(r.Stderr, "wrong passphrase for legacy.key") {
		t.Errorf("wrong CA passphrase: %s; want exit 1, wrong passphrase for legacy.key", r)
	}

	// A CSR made by openssl keeps its SANs; one without names is refused.
	s.openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "o.key",
		"-subj", "/CN=csr.test", "-addext", "subjectAltName=DNS:csr.test,IP:127.0.0.1", "-out", "o.csr")
	s.ok("ca", "sign", "o.csr", "--out", "o.crt", "--ca-cert", "ca.crt", "--ca-key", "legacy.key", "--ca-key-passphrase-file", pass)
	text := s.openssl("x509", "-in", "o.crt", "-noout", "-text").Stdout
	for _, w := range []string{"DNS:csr.test", "IP Address:127.0.0.1", "TLS Web Server Authentication"} {
		if !strings.Contains(text, w) {
			t.Errorf("signed openssl CSR lacks %q:\n%s", w, text)
		}
	}
	s.openssl("req", "-new", "-key", "o.key", "-subj", "/O=No Names Ltd", "-out", "nonames.csr")
	if r := s.tlsgate("ca", "sign", "nonames.csr", "--out", "n.crt", "--data-dir", s.DataDir); r.Code == 0 || !strings.Contains(r.Stderr, "name") {
		t.Errorf("CSR without names: %s; want refused", r)
	}
}

// TestP12OpenedByOpenSSL: --client --p12-out writes PKCS#12 that openssl
// opens with the passphrase.
func TestP12OpenedByOpenSSL(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	pass := s.file("p12.txt", "p12-secret\n")
	s.ok("ca", "issue", "alice@example.net", "--client", "--cert-out", "alice.crt", "--key-out", "alice.key",
		"--p12-out", "alice.p12", "--p12-passphrase-file", pass, "--data-dir", s.DataDir)
	r := s.openssl("pkcs12", "-in", "alice.p12", "-passin", "file:"+pass, "-info", "-nodes")
	out := r.Stdout + r.Stderr
	for _, w := range []string{"CN = alice@example.net", "Intermediate CA", "BEGIN PRIVATE KEY", "AES-256-CBC"} {
		if !strings.Contains(out, w) {
			t.Errorf("openssl pkcs12 output lacks %q:\n%s", w, out)
		}
	}
	if r := s.tlsgate("ca", "issue", "bob@example.net", "--client", "--cert-out", "bob.crt", "--key-out", "bob.key",
		"--p12-out", "bob.p12", "--data-dir", s.DataDir); r.Code != 2 || !strings.Contains(r.Stderr, "TLSGATE_P12_PASSPHRASE") {
		t.Errorf("--p12-out without a passphrase: %s; want exit 2 naming TLSGATE_P12_PASSPHRASE", r)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
