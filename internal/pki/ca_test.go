package pki

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// verifyWithOpenSSL writes leaf to a temp dir and runs `openssl verify`
// against the CA in caDir (root as trust anchor, ca.Chain untrusted) with the
// given -purpose.
func verifyWithOpenSSL(t *testing.T, caDir string, ca *CA, leaf *x509.Certificate, purpose string) {
	t.Helper()
	dir := t.TempDir()
	leafPath := writeFile(t, dir, "leaf.crt", EncodeCertificatesPEM(leaf))
	args := []string{"verify", "-purpose", purpose, "-CAfile", RootCertPath(caDir)}
	if len(ca.Chain) > 0 {
		args = append(args, "-untrusted", writeFile(t, dir, "chain.pem", EncodeCertificatesPEM(ca.Chain...)))
	}
	out := openssl(t, dir, append(args, leafPath)...)
	if !strings.Contains(out, "OK") {
		t.Errorf("openssl verify: %s", out)
	}
}

func TestInitLocalCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "ca")
	if _, err := LoadLocalCA(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadLocalCA before init: err = %v; want fs.ErrNotExist", err)
	}
	ca, created, err := InitLocalCA(dir, "")
	if err != nil || !created {
		t.Fatalf("first InitLocalCA: created=%v err=%v", created, err)
	}
	again, created, err := InitLocalCA(dir, "other name")
	if err != nil || created {
		t.Fatalf("second InitLocalCA: created=%v err=%v; want the existing CA", created, err)
	}
	if !again.Root.Equal(ca.Root) || !again.Cert.Equal(ca.Cert) {
		t.Error("second InitLocalCA returned a different CA")
	}
	if m := fileMode(t, dir); m != 0o700 {
		t.Errorf("dir mode = %o; want 700", m)
	}
	for _, f := range []string{RootKeyFile, IntermediateKeyFile} {
		if m := fileMode(t, filepath.Join(dir, f)); m != 0o600 {
			t.Errorf("%s mode = %o; want 600", f, m)
		}
	}
	root, inter := ca.Root, ca.Cert
	if want := DefaultCAName() + " Root CA"; root.Subject.CommonName != want {
		t.Errorf("root CN = %q; want %q", root.Subject.CommonName, want)
	}
	if !strings.HasSuffix(inter.Subject.CommonName, " Intermediate CA") || !inter.MaxPathLenZero || !inter.IsCA {
		t.Errorf("intermediate: CN %q, MaxPathLenZero %v, IsCA %v", inter.Subject.CommonName, inter.MaxPathLenZero, inter.IsCA)
	}
	if years := root.NotAfter.Sub(root.NotBefore).Hours() / 24 / 365; years < 9.9 || years > 10.1 {
		t.Errorf("root lives %.1f years; want 10", years)
	}
	if years := inter.NotAfter.Sub(inter.NotBefore).Hours() / 24 / 365; years < 6.9 || years > 7.1 || inter.NotAfter.After(root.NotAfter) {
		t.Errorf("intermediate lives %.1f years (until %v, root until %v); want 7, within the root", years, inter.NotAfter, root.NotAfter)
	}
	// openssl agrees the intermediate chains to the root.
	openssl(t, dir, "verify", "-CAfile", RootCertFile, IntermediateCertFile)
}

// TestInitLocalCAPartial checks that a damaged CA is never replaced.
func TestInitLocalCAPartial(t *testing.T) {
	tests := []struct {
		name        string
		remove      []string
		wantCreated bool   // only for the intermediate rotation
		wantErr     string // "" means success
	}{
		{"root key missing", []string{RootKeyFile}, false, "incomplete"},
		{"root cert missing", []string{RootCertFile}, false, "incomplete"},
		{"intermediate key missing", []string{IntermediateKeyFile}, false, "incomplete"},
		{"intermediate removed: rotate it", []string{IntermediateKeyFile, IntermediateCertFile}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca, dir := mustLocalCA(t)
			before := map[string][]byte{}
			for _, f := range []string{RootCertFile, RootKeyFile, IntermediateCertFile, IntermediateKeyFile} {
				before[f], _ = os.ReadFile(filepath.Join(dir, f))
			}
			for _, f := range tt.remove {
				if err := os.Remove(filepath.Join(dir, f)); err != nil {
					t.Fatal(err)
				}
			}
			got, created, err := InitLocalCA(dir, "")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v; want one containing %q", err, tt.wantErr)
				}
				if _, err := LoadLocalCA(dir); err == nil || errors.Is(err, fs.ErrNotExist) {
					t.Errorf("LoadLocalCA: err = %v; want an incomplete-CA error, not ErrNotExist", err)
				}
				for f, data := range before {
					if slices.Contains(tt.remove, f) {
						continue
					}
					if now, _ := os.ReadFile(filepath.Join(dir, f)); !bytes.Equal(now, data) {
						t.Errorf("%s changed", f)
					}
				}
				return
			}
			if err != nil || created != tt.wantCreated {
				t.Fatalf("created=%v err=%v; want created=%v", created, err, tt.wantCreated)
			}
			if !got.Root.Equal(ca.Root) || got.Cert.Equal(ca.Cert) || !issuedBy(got.Cert, ca.Root) {
				t.Error("want the same root with a new intermediate under it")
			}
			if loaded, err := LoadLocalCA(dir); err != nil || !loaded.Cert.Equal(got.Cert) {
				t.Errorf("LoadLocalCA after rotation: %v", err)
			}
		})
	}
}

// TestInitLocalCAConcurrent: racing inits all end with the one CA on disk.
func TestInitLocalCAConcurrent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	const n = 4
	type result struct {
		ca      *CA
		created bool
		err     error
	}
	results := make(chan result, n)
	for range n {
		go func() {
			ca, created, err := InitLocalCA(dir, "Race")
			results <- result{ca, created, err}
		}()
	}
	var roots []*x509.Certificate
	createdCount := 0
	for range n {
		r := <-results
		if r.err != nil {
			t.Fatalf("InitLocalCA: %v", r.err)
		}
		if r.created {
			createdCount++
		}
		roots = append(roots, r.ca.Root)
	}
	onDisk, err := LoadLocalCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if createdCount != 1 {
		t.Errorf("%d callers report creating the CA; want 1", createdCount)
	}
	for _, r := range roots {
		if !r.Equal(onDisk.Root) {
			t.Error("a caller got a root that is not the one on disk")
		}
	}
}

// TestIssueOpenSSL issues server and client leaves and has openssl check them.
func TestIssueOpenSSL(t *testing.T) {
	ca, caDir := mustLocalCA(t)
	tests := []struct {
		name     string
		client   bool
		keyType  KeyType
		purpose  string
		wantText []string
	}{
		{"server ecdsa", false, KeyECDSAP256, "sslserver", []string{"TLS Web Server Authentication", "Digital Signature"}},
		{"server rsa", false, KeyRSA2048, "sslserver", []string{"TLS Web Server Authentication", "Digital Signature, Key Encipherment"}},
		{"server ed25519", false, KeyEd25519, "sslserver", []string{"TLS Web Server Authentication"}},
		{"client", true, KeyECDSAP384, "sslclient", []string{"TLS Web Client Authentication"}},
	}
	common := []string{"X509v3 Subject Key Identifier", "X509v3 Authority Key Identifier", "CA:FALSE",
		"DNS:app.test", "DNS:*.app.test", "IP Address:127.0.0.1", "email:dev@app.test", "URI:https://app.test/id", "CN = app.test"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := mustGenerateKey(t, tt.keyType)
			leaf := mustIssue(t, ca, LeafRequest{
				Names:     []string{"app.test", "*.app.test", "127.0.0.1", "dev@app.test", "https://app.test/id"},
				PublicKey: key.Public(),
				Client:    tt.client,
			})
			verifyWithOpenSSL(t, caDir, ca, leaf, tt.purpose)
			dir := t.TempDir()
			text := openssl(t, dir, "x509", "-in", writeFile(t, dir, "leaf.crt", EncodeCertificatesPEM(leaf)), "-text", "-noout")
			for _, w := range append(common, tt.wantText...) {
				if !strings.Contains(text, w) {
					t.Errorf("openssl x509 -text lacks %q:\n%s", w, text)
				}
			}
			_, isRSA := key.Public().(*rsa.PublicKey)
			if hasKE := leaf.KeyUsage&x509.KeyUsageKeyEncipherment != 0; hasKE != isRSA {
				t.Errorf("keyEncipherment = %v; want %v (RSA only)", hasKE, isRSA)
			}
			// The served chain also verifies: leaf + intermediate in one file.
			chain := writeFile(t, dir, "chain.pem", ca.ChainPEM(leaf))
			openssl(t, dir, "verify", "-CAfile", RootCertPath(caDir), "-untrusted", chain, chain)
		})
	}
}

func TestIssueValidityAndSerial(t *testing.T) {
	base, _ := mustLocalCA(t)
	now := time.Now()
	at := func(tm time.Time) *CA { c := *base; c.Now = func() time.Time { return tm }; return &c }
	day := 24 * time.Hour
	tests := []struct {
		name         string
		ca           *CA
		req          LeafRequest
		wantNotAfter time.Time // compared to the second
		wantErr      string
	}{
		{"default server", at(now), LeafRequest{}, now.Add(-time.Hour).Add(MaxLeafValidity), ""},
		{"30 days", at(now), LeafRequest{Validity: 30 * day}, now.Add(30 * day), ""},
		{"server capped at 397 days", at(now), LeafRequest{Validity: 1000 * day}, now.Add(-time.Hour).Add(MaxLeafValidity), ""},
		{"NotAfter wins", at(now), LeafRequest{NotAfter: now.Add(5 * day), Validity: 30 * day}, now.Add(5 * day), ""},
		{"client may live longer", at(now), LeafRequest{Client: true, Validity: 1000 * day}, now.Add(1000 * day), ""},
		{"capped at the CA", at(base.Cert.NotAfter.Add(-10 * day)), LeafRequest{}, base.Cert.NotAfter, ""},
		{"CA expired", at(base.Cert.NotAfter.Add(day)), LeafRequest{}, time.Time{}, "expired"},
		{"no names", at(now), LeafRequest{Names: []string{}}, time.Time{}, "no names"},
		{"weak RSA", at(now), LeafRequest{PublicKey: weakRSAKey(t)}, time.Time{}, "too weak"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.req.Names == nil {
				tt.req.Names = []string{"app.test"}
			}
			if tt.req.PublicKey == nil {
				tt.req.PublicKey = mustGenerateKey(t, KeyECDSAP256).Public()
			}
			leaf, err := tt.ca.Issue(tt.req)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v; want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := leaf.NotAfter.Sub(tt.wantNotAfter); d < -time.Second || d > time.Second {
				t.Errorf("NotAfter = %v; want %v", leaf.NotAfter, tt.wantNotAfter)
			}
			if want := tt.ca.now().Add(-time.Hour); leaf.NotBefore.Sub(want).Abs() > time.Second {
				t.Errorf("NotBefore = %v; want %v (an hour back for clock skew)", leaf.NotBefore, want)
			}
			if !tt.req.Client && leaf.NotAfter.Sub(leaf.NotBefore) > MaxLeafValidity {
				t.Errorf("server leaf lives %v; want at most %v", leaf.NotAfter.Sub(leaf.NotBefore), MaxLeafValidity)
			}
		})
	}

	a := mustIssue(t, base, LeafRequest{Names: []string{"a.test"}})
	b := mustIssue(t, base, LeafRequest{Names: []string{"a.test"}})
	for _, c := range []*x509.Certificate{a, b} {
		if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() != 128 {
			t.Errorf("serial %x: %d bits, sign %d; want a positive 128-bit number", c.SerialNumber, c.SerialNumber.BitLen(), c.SerialNumber.Sign())
		}
	}
	if a.SerialNumber.Cmp(b.SerialNumber) == 0 {
		t.Error("two leaves got the same serial")
	}
}

func weakRSAKey(t *testing.T) *rsa.PublicKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 1024) // weak on purpose
	if err != nil {
		t.Fatal(err)
	}
	return &k.PublicKey
}

// TestLoadCAFromOpenSSL uses CAs made entirely by openssl: a single root
// with an encrypted key, and a root + intermediate pair.
func TestLoadCAFromOpenSSL(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "pass", []byte("ca pass\n"))
	writeFile(t, dir, "ca.cnf", []byte(`[req]
distinguished_name = dn
prompt = no
[dn]
CN = OpenSSL Test Root
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[v3_int]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[v3_leaf]
basicConstraints = CA:FALSE
`))
	openssl(t, dir, "req", "-x509", "-config", "ca.cnf", "-extensions", "v3_ca", "-newkey", "rsa:2048",
		"-keyout", "root.key", "-passout", "file:pass", "-days", "30", "-out", "root.crt")
	openssl(t, dir, "req", "-new", "-config", "ca.cnf", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384",
		"-noenc", "-keyout", "int.key", "-subj", "/CN=OpenSSL Test Intermediate", "-out", "int.csr")
	openssl(t, dir, "x509", "-req", "-in", "int.csr", "-CA", "root.crt", "-CAkey", "root.key", "-passin", "file:pass",
		"-CAcreateserial", "-extfile", "ca.cnf", "-extensions", "v3_int", "-days", "20", "-out", "int.crt")
	openssl(t, dir, "req", "-x509", "-config", "ca.cnf", "-extensions", "v3_leaf", "-newkey", "ec",
		"-pkeyopt", "ec_paramgen_curve:P-256", "-noenc", "-keyout", "notca.key", "-subj", "/CN=not a CA", "-days", "1", "-out", "notca.crt")

	rootPEM, intPEM := readFile(t, filepath.Join(dir, "root.crt")), readFile(t, filepath.Join(dir, "int.crt"))
	tests := []struct {
		name      string
		certPEM   []byte
		key       string
		pass      string
		wantChain int    // certificates after a leaf
		wantErr   error  // matched with errors.Is
		wantMsg   string // substring of the error
	}{
		{"root with encrypted key", rootPEM, "root.key", "ca pass", 0, nil, ""},
		{"intermediate then root", append(append([]byte{}, intPEM...), rootPEM...), "int.key", "", 1, nil, ""},
		{"root then intermediate", append(append([]byte{}, rootPEM...), intPEM...), "int.key", "", 1, nil, ""},
		{"intermediate alone", intPEM, "int.key", "", 1, nil, ""},
		{"wrong passphrase", rootPEM, "root.key", "nope", 0, ErrWrongPassphrase, ""},
		{"no passphrase", rootPEM, "root.key", "", 0, ErrPassphraseRequired, ""},
		{"key of another cert", rootPEM, "int.key", "", 0, nil, "does not belong"},
		{"not a CA", readFile(t, filepath.Join(dir, "notca.crt")), "notca.key", "", 0, nil, "not a CA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca, err := LoadCA(tt.certPEM, readFile(t, filepath.Join(dir, tt.key)), []byte(tt.pass))
			if tt.wantErr != nil || tt.wantMsg != "" {
				if err == nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("err = %v; want %v / %q", err, tt.wantErr, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ca.Chain) != tt.wantChain {
				t.Errorf("Chain has %d certificates; want %d", len(ca.Chain), tt.wantChain)
			}
			leaf := mustIssue(t, ca, LeafRequest{Names: []string{"app.test"}})
			if ca.Root.Subject.CommonName != "OpenSSL Test Root" && tt.wantChain == 1 && len(tt.certPEM) > len(intPEM) {
				t.Errorf("Root = %q; want the openssl root", ca.Root.Subject.CommonName)
			}
			if leaf.NotAfter.After(ca.Cert.NotAfter) {
				t.Errorf("leaf outlives its CA: %v > %v", leaf.NotAfter, ca.Cert.NotAfter)
			}
			ldir := t.TempDir()
			chain := writeFile(t, ldir, "chain.pem", ca.ChainPEM(leaf))
			openssl(t, ldir, "verify", "-purpose", "sslserver", "-CAfile", filepath.Join(dir, "root.crt"), "-untrusted", chain, chain)
		})
	}
}

// TestTLSHandshake serves an issued leaf + chain with crypto/tls; a client
// that trusts only the root accepts it, and mTLS with a client leaf works.
func TestTLSHandshake(t *testing.T) {
	ca, _ := mustLocalCA(t)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Root)
	serverCert := tlsCert(t, ca, LeafRequest{Names: []string{"app.test", "127.0.0.1"}})
	clientCert := tlsCert(t, ca, LeafRequest{Names: []string{"alice@app.test"}, Client: true})

	for _, serverName := range []string{"app.test", "127.0.0.1"} {
		t.Run(serverName, func(t *testing.T) {
			server := &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: roots}
			client := &tls.Config{RootCAs: roots, ServerName: serverName, Certificates: []tls.Certificate{clientCert}}
			if err := handshake(t, server, client); err != nil {
				t.Fatalf("handshake: %v", err)
			}
		})
	}
	t.Run("wrong name", func(t *testing.T) {
		server := &tls.Config{Certificates: []tls.Certificate{serverCert}}
		if err := handshake(t, server, &tls.Config{RootCAs: roots, ServerName: "other.test"}); err == nil {
			t.Fatal("handshake for a name not in the certificate succeeded")
		}
	})
}

func tlsCert(t *testing.T, ca *CA, req LeafRequest) tls.Certificate {
	t.Helper()
	key := mustGenerateKey(t, KeyECDSAP256)
	req.PublicKey = key.Public()
	leaf := mustIssue(t, ca, req)
	c, err := tls.X509KeyPair(ca.ChainPEM(leaf), mustMarshal(t, key))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// handshake runs a TLS handshake over loopback TCP and returns the client's
// error (the server's, if the client saw none).
func handshake(t *testing.T, server, client *tls.Config) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	serverErr := make(chan error, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			serverErr <- err
			return
		}
		conn := tls.Server(raw, server)
		err = conn.Handshake()
		conn.Close()
		serverErr <- err
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn := tls.Client(raw, client)
	err = conn.Handshake()
	if err == nil {
		// TLS 1.3 reports a refused client certificate after the handshake.
		_, err = conn.Read(make([]byte, 1))
		if errors.Is(err, io.EOF) {
			err = nil
		}
	}
	conn.Close()
	if sErr := <-serverErr; err == nil {
		err = sErr
	}
	return err
}

func mustMarshal(t *testing.T, key crypto.Signer) []byte {
	t.Helper()
	b, err := MarshalPrivateKeyPEM(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
