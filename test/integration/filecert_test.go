package integration

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/test/testenv"
)

// opensslCA makes a CA with openssl in dir and returns its cert and key paths.
func opensslCA(t *testing.T, dir string) (crt, key string) {
	t.Helper()
	skipShort(t, "openssl")
	crt, key = filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	r := runCmd(t, dir, "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
		"-nodes", "-keyout", key, "-out", crt, "-subj", "/CN=Integration File CA", "-days", "30")
	if r.Code != 0 {
		t.Fatalf("openssl CA: %s", r)
	}
	return crt, key
}

// opensslLeaf makes a leaf for name signed by the CA, its key encrypted
// (PKCS#8, AES-256) with the passphrase in passFile. It returns the paths
// and the serial.
func opensslLeaf(t *testing.T, dir, prefix, name, caCrt, caKey, passFile string) (crt, key string, serial string) {
	t.Helper()
	crt, key = filepath.Join(dir, prefix+".crt"), filepath.Join(dir, prefix+".key")
	csr, ext := filepath.Join(dir, prefix+".csr"), writeFile(t, dir, prefix+".ext",
		"subjectAltName=DNS:"+name+"\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n")
	steps := [][]string{
		{"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-aes256", "-pass", "file:" + passFile, "-out", key},
		{"req", "-new", "-key", key, "-passin", "file:" + passFile, "-subj", "/CN=" + name, "-out", csr},
		{"x509", "-req", "-in", csr, "-CA", caCrt, "-CAkey", caKey, "-days", "30", "-extfile", ext, "-out", crt},
	}
	for _, args := range steps {
		if r := runCmd(t, dir, "openssl", args...); r.Code != 0 {
			t.Fatalf("openssl %s: %s", args[0], r)
		}
	}
	pemText, err := os.ReadFile(key)
	if err != nil || !strings.Contains(string(pemText), "BEGIN ENCRYPTED PRIVATE KEY") {
		t.Fatalf("openssl did not write an encrypted PKCS#8 key: %v\n%s", err, pemText)
	}
	certPEM, _ := os.ReadFile(crt)
	certs := pemCerts(t, string(certPEM))
	if len(certs) != 1 {
		t.Fatalf("openssl wrote %d certificates to %s", len(certs), crt)
	}
	return crt, key, certs[0].SerialNumber.Text(16)
}

const fileCertConfig = header + `
sites:
  - hosts: [file.test]
    tls:
      cert_file: %s
      key_file: %s
      key_passphrase_file: %s
    routes:
      - path: /
        respond: {status: 200, body: "from file"}
`

func TestFileCert(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	caCrt, caKey := opensslCA(t, dir)
	pass := writeFile(t, dir, "pass.txt", "correct horse battery staple\n")
	crt, key, serial := opensslLeaf(t, dir, "leaf", "file.test", caCrt, caKey, pass)

	inst := startTLSGate(t, fmt.Sprintf(fileCertConfig, crt, key, pass))
	pool := poolFromFile(t, caCrt)
	served := func() (string, error) {
		st, err := handshake(inst.HTTPS, &tls.Config{ServerName: "file.test", RootCAs: pool})
		if err != nil {
			return "", err
		}
		return st.PeerCertificates[0].SerialNumber.Text(16), nil
	}
	got, err := served()
	if err != nil || got != serial {
		t.Fatalf("served serial %s (err %v); want the file's %s", got, err, serial)
	}
	r := curl(t, inst, "file.test", "/", "--cacert", caCrt)
	if r.Code != 0 || r.Stdout != "from file" {
		t.Errorf("curl with the file CA: %s", r)
	}

	// Replace both files on disk, as certbot or a deploy script would.
	newCrt, newKey, newSerial := opensslLeaf(t, dir, "leaf2", "file.test", caCrt, caKey, pass)
	for _, mv := range [][2]string{{newKey, key}, {newCrt, crt}} {
		if err := os.Rename(mv[0], mv[1]); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 15*time.Second, "new certificate served after the files changed", func() error {
		got, err := served()
		if err != nil {
			return err
		}
		if got != newSerial {
			return fmt.Errorf("serving serial %s; want %s (old %s)", got, newSerial, serial)
		}
		return nil
	})
	if inst.Exited() {
		t.Errorf("tlsgate exited while the files changed: %v", inst.Err())
	}
}

func TestFileCertWrongPassphrase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	caCrt, caKey := opensslCA(t, dir)
	pass := writeFile(t, dir, "pass.txt", "right passphrase\n")
	crt, key, _ := opensslLeaf(t, dir, "leaf", "file.test", caCrt, caKey, pass)
	wrong := writeFile(t, dir, "wrong.txt", "wrong passphrase\n")

	g := newGateConfig(t)
	cfg := writeFile(t, g.Dir, "tlsgate.yaml", g.render(t, fmt.Sprintf(fileCertConfig, crt, key, wrong)))
	for _, args := range [][]string{{"validate", "-c", cfg}, {"run", "-c", cfg}} {
		r := testenv.Run(t, 20*time.Second, g.Dir, childEnv, tlsgateBin, args...)
		if r.Code != 2 && r.Code != 1 {
			t.Errorf("tlsgate %s with a wrong passphrase: exit %d; want 2 (or 1)", args[0], r.Code)
		}
		if !strings.Contains(strings.ToLower(r.Stderr), "passphrase") {
			t.Errorf("tlsgate %s with a wrong passphrase: stderr does not say the passphrase is wrong:\n%s", args[0], r.Stderr)
		}
	}
}

// TestLocalCAChain checks the served chain (leaf + intermediate) verifies
// against <data_dir>/ca/root.crt with Go, curl and openssl, and that
// tls: adhoc serves a self-signed certificate.
func TestLocalCAChain(t *testing.T) {
	t.Parallel()
	inst := startTLSGate(t, header+`
sites:
  - hosts: [a.test]
    tls: local
    routes:
      - path: /
        respond: {status: 200, body: "local"}
  - hosts: [adhoc.test]
    tls: adhoc
    routes:
      - path: /
        respond: {status: 200, body: "adhoc"}
`)
	pool := inst.rootPool(t)

	t.Run("go", func(t *testing.T) {
		st, err := handshake(inst.HTTPS, &tls.Config{ServerName: "a.test", InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		chain := st.PeerCertificates
		if len(chain) != 2 {
			t.Fatalf("served chain has %d certificates; want leaf + intermediate", len(chain))
		}
		leaf, inter := chain[0], chain[1]
		if leaf.CheckSignatureFrom(inter) != nil || !inter.IsCA || inter.CheckSignatureFrom(inter) == nil {
			t.Errorf("chain is not leaf <- intermediate: leaf issuer %q, second %q (CA %v)", leaf.Issuer, inter.Subject, inter.IsCA)
		}
		// Only the root is trusted; the intermediate must come from the server.
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "a.test", Roots: pool, Intermediates: poolOf(inter)}); err != nil {
			t.Errorf("chain does not verify against root.crt: %v", err)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "a.test", Roots: pool}); err == nil {
			t.Errorf("leaf is signed directly by the root; want an intermediate")
		}
	})

	t.Run("curl", func(t *testing.T) {
		if r := curl(t, inst, "a.test", "/", "--cacert", inst.RootPath()); r.Code != 0 || r.Stdout != "local" {
			t.Errorf("curl --cacert root.crt: %s", r)
		}
	})

	t.Run("openssl", func(t *testing.T) {
		r := sClient(t, inst.HTTPS, "-servername", "a.test", "-CAfile", inst.RootPath(), "-verify_return_error")
		if r.Code != 0 || !strings.Contains(r.Stdout, "Verify return code: 0 (ok)") {
			t.Errorf("s_client -CAfile root.crt -verify_return_error: %s", r)
		}
	})

	t.Run("ca cert --path names the same root", func(t *testing.T) {
		r := tlsgate(t, inst.Dir, "ca", "cert", "--path", "--data-dir", inst.DataDir)
		if got := strings.TrimSpace(r.Stdout); r.Code != 0 || !sameFile(got, inst.RootPath()) {
			t.Errorf("ca cert --path: %q (%s); want %s", got, r, inst.RootPath())
		}
	})

	t.Run("admin GET /certs", func(t *testing.T) {
		st, err := handshake(inst.HTTPS, &tls.Config{ServerName: "a.test", RootCAs: pool})
		if err != nil {
			t.Fatal(err)
		}
		status, body := adminCall(t, inst, "GET", "/certs")
		if status != 200 {
			t.Fatalf("GET /certs: %d %s", status, body)
		}
		var certs []struct {
			Names  []string `json:"names"`
			Serial string   `json:"serial"`
			Source string   `json:"source"`
		}
		if err := json.Unmarshal([]byte(body), &certs); err != nil {
			t.Fatalf("GET /certs is not a JSON array of certificates: %v\n%s", err, body)
		}
		sources := map[string]string{}
		for _, c := range certs {
			for _, n := range c.Names {
				sources[n] = c.Source
			}
			if contains(c.Names, "a.test") {
				want := st.PeerCertificates[0].SerialNumber.Text(16)
				if got := strings.ToLower(strings.ReplaceAll(c.Serial, ":", "")); strings.TrimLeft(got, "0") != want {
					t.Errorf("GET /certs: a.test serial %q; served certificate has %s", c.Serial, want)
				}
			}
		}
		if sources["a.test"] != "local" || sources["adhoc.test"] != "adhoc" {
			t.Errorf("GET /certs sources %v; want a.test local and adhoc.test adhoc\n%s", sources, body)
		}
	})

	t.Run("admin GET /metrics", func(t *testing.T) {
		status, body := adminCall(t, inst, "GET", "/metrics")
		if status != 200 {
			t.Fatalf("GET /metrics: %d %s", status, body)
		}
		for _, want := range []string{
			`tlsgate_certificate_not_after_seconds{issuer=`,
			`names="a.test"`,
			`tlsgate_certificate_renewal_failures_total{names="a.test",source="local"} 0`,
			`tlsgate_build_info{version=`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %s:\n%s", want, body)
			}
		}
	})

	t.Run("adhoc is self-signed", func(t *testing.T) {
		st, err := handshake(inst.HTTPS, &tls.Config{ServerName: "adhoc.test", InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		leaf := st.PeerCertificates[0]
		if err := leaf.VerifyHostname("adhoc.test"); err != nil {
			t.Errorf("adhoc certificate SANs %v: %v", sans(leaf), err)
		}
		// Self-signed: issuer is subject, and its own key checks its signature.
		if !bytes.Equal(leaf.RawIssuer, leaf.RawSubject) || leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature) != nil {
			t.Errorf("adhoc certificate is not self-signed: issuer %q, subject %q", leaf.Issuer, leaf.Subject)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "adhoc.test", Roots: pool}); err == nil {
			t.Errorf("adhoc certificate verifies against the local CA; want self-signed")
		}
	})
}

func poolOf(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}
