package pki

import (
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDescribeCertificate(t *testing.T) {
	ca, _ := mustLocalCA(t)
	leaf := mustIssue(t, ca, LeafRequest{
		Names:     []string{"app.test", "127.0.0.1", "dev@app.test"},
		PublicKey: mustGenerateKey(t, KeyRSA2048).Public(),
		Validity:  10 * 24 * time.Hour,
	})
	dir := t.TempDir()
	path := writeFile(t, dir, "leaf.crt", EncodeCertificatesPEM(leaf))
	info := DescribeCertificate(leaf, time.Now())

	// Fingerprints and serial as openssl computes them.
	for _, alg := range []struct{ flag, got string }{{"-sha256", info.SHA256}, {"-sha1", info.SHA1}} {
		out := openssl(t, dir, "x509", "-in", path, "-noout", "-fingerprint", alg.flag)
		want := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(out[strings.Index(out, "=")+1:]), ":", ""))
		if alg.got != want {
			t.Errorf("%s fingerprint = %s; openssl says %s", alg.flag, alg.got, want)
		}
	}
	out := openssl(t, dir, "x509", "-in", path, "-noout", "-serial")
	if want := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(out, "serial="))); info.Serial != want {
		t.Errorf("serial = %s; openssl says %s", info.Serial, want)
	}

	checks := []struct {
		name      string
		got, want any
	}{
		{"SANs", info.SANs, []string{"app.test", "127.0.0.1", "dev@app.test"}},
		{"KeyType", info.KeyType, "rsa-2048"},
		{"KeyBits", info.KeyBits, 2048},
		{"DaysLeft", info.DaysLeft, 9},
		{"IsCA", info.IsCA, false},
		{"SelfSigned", info.SelfSigned, false},
		{"KeyUsage", info.KeyUsage, []string{"digitalSignature", "keyEncipherment"}},
		{"ExtKeyUsage", info.ExtKeyUsage, []string{"serverAuth"}},
		{"Issuer", info.Issuer, ca.Cert.Subject.String()},
	}
	for _, c := range checks {
		if !equalAny(c.got, c.want) {
			t.Errorf("%s = %v; want %v", c.name, c.got, c.want)
		}
	}
	root := DescribeCertificate(ca.Root, time.Now())
	if !root.IsCA || !root.SelfSigned || root.KeyType != "ecdsa-p256" || root.KeyBits != 256 ||
		!slices.Equal(root.KeyUsage, []string{"digitalSignature", "keyCertSign", "cRLSign"}) {
		t.Errorf("root info = %+v", root)
	}
	if expired := DescribeCertificate(leaf, leaf.NotAfter.Add(49*time.Hour)); expired.DaysLeft != -3 {
		t.Errorf("DaysLeft two days after expiry = %d; want -3 (whole days, rounded down)", expired.DaysLeft)
	}
}

func equalAny(a, b any) bool {
	as, ok1 := a.([]string)
	bs, ok2 := b.([]string)
	if ok1 && ok2 {
		return slices.Equal(as, bs)
	}
	return a == b
}

func TestChainProblems(t *testing.T) {
	ca, _ := mustLocalCA(t)
	other, _ := mustLocalCA(t)
	leaf := mustIssue(t, ca, LeafRequest{Names: []string{"app.test"}})
	inter, root := ca.Cert, ca.Root
	tests := []struct {
		name  string
		chain []*x509.Certificate
		want  []string // one substring per expected problem
	}{
		{"leaf and intermediate", []*x509.Certificate{leaf, inter}, nil},
		{"root included", []*x509.Certificate{leaf, inter, root}, nil},
		{"leaf alone", []*x509.Certificate{leaf}, nil},
		{"empty", nil, []string{"empty"}},
		{"leaf not first", []*x509.Certificate{inter, leaf}, []string{"must come first", "certificate 1", "certificate 2"}},
		{"intermediate missing", []*x509.Certificate{leaf, root}, []string{"certificate 1"}},
		{"wrong intermediate", []*x509.Certificate{leaf, other.Cert}, []string{"not issued by"}},
		{"duplicate", []*x509.Certificate{leaf, inter, inter}, []string{"duplicates certificate 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ChainProblems(tt.chain)
			all := strings.Join(got, "\n")
			if len(tt.want) == 0 && len(got) > 0 {
				t.Fatalf("problems = %q; want none", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("problems %q lack %q", got, w)
				}
			}
		})
	}
}

func TestDescribeKeyPEM(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "pass", []byte("pw\n"))
	openssl(t, dir, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "rsa.pem")
	openssl(t, dir, "rsa", "-in", "rsa.pem", "-aes256", "-traditional", "-passout", "file:pass", "-out", "legacy.pem")
	encrypted, err := MarshalPrivateKeyPEM(mustGenerateKey(t, KeyEd25519), []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		want KeyInfo
	}{
		{"ecdsa-p384", mustMarshal(t, mustGenerateKey(t, KeyECDSAP384)), KeyInfo{Type: "ecdsa-p384", Bits: 384}},
		{"ed25519", mustMarshal(t, mustGenerateKey(t, KeyEd25519)), KeyInfo{Type: "ed25519", Bits: 256}},
		{"openssl rsa", readFile(t, filepath.Join(dir, "rsa.pem")), KeyInfo{Type: "rsa-2048", Bits: 2048}},
		{"encrypted pkcs8", encrypted, KeyInfo{Type: "encrypted", Encrypted: true}},
		{"legacy encrypted rsa", readFile(t, filepath.Join(dir, "legacy.pem")), KeyInfo{Type: "rsa", Encrypted: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DescribeKeyPEM(tt.data)
			if err != nil || got != tt.want {
				t.Errorf("DescribeKeyPEM = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	if _, err := DescribeKeyPEM([]byte("not a key")); err == nil {
		t.Error("DescribeKeyPEM of junk succeeded")
	}
}

func TestDescribeCSR(t *testing.T) {
	csr, pemBytes, err := CreateCSR(mustGenerateKey(t, KeyECDSAP256), CSRRequest{Names: []string{"app.test", "10.1.2.3"}})
	if err != nil {
		t.Fatal(err)
	}
	got := DescribeCSR(csr)
	want := CSRInfo{Subject: "CN=app.test", Names: []string{"app.test", "10.1.2.3"}, KeyType: "ecdsa-p256", KeyBits: 256, SignatureValid: true}
	if got.Subject != want.Subject || !slices.Equal(got.Names, want.Names) || got.KeyType != want.KeyType ||
		got.KeyBits != want.KeyBits || !got.SignatureValid {
		t.Errorf("DescribeCSR = %+v; want %+v", got, want)
	}
	if DescribeCSR(breakCSRSignature(t, pemBytes)).SignatureValid {
		t.Error("broken CSR reported as validly signed")
	}
}

func TestSelfSigned(t *testing.T) {
	cert, err := SelfSigned([]string{"adhoc.test", "127.0.0.1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	leaf := cert.Leaf
	info := DescribeCertificate(leaf, time.Now())
	if !info.SelfSigned || info.IsCA || info.KeyType != "ecdsa-p256" || !slices.Equal(info.SANs, []string{"adhoc.test", "127.0.0.1"}) {
		t.Errorf("self-signed info = %+v", info)
	}
	if d := leaf.NotAfter.Sub(leaf.NotBefore); d > MaxLeafValidity+time.Hour {
		t.Errorf("lives %v; want at most %v", d, MaxLeafValidity+time.Hour)
	}
	// A client told to trust exactly this certificate accepts it.
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	server := &tls.Config{Certificates: []tls.Certificate{cert}}
	if err := handshake(t, server, &tls.Config{RootCAs: pool, ServerName: "adhoc.test"}); err != nil {
		t.Errorf("handshake: %v", err)
	}
	dir := t.TempDir()
	path := writeFile(t, dir, "self.crt", EncodeCertificatesPEM(leaf))
	openssl(t, dir, "verify", "-CAfile", path, path)
	if _, err := SelfSigned(nil, 0); err == nil {
		t.Error("SelfSigned without names succeeded")
	}
}

func TestParseCertificatesPEM(t *testing.T) {
	ca, _ := mustLocalCA(t)
	bundle := append([]byte("junk before\n"), ca.ChainPEM(ca.Root)...)
	bundle = append(bundle, mustMarshal(t, mustGenerateKey(t, KeyECDSAP256))...) // a key in the file is skipped
	certs, err := ParseCertificatesPEM(bundle)
	if err != nil || len(certs) != 2 || !certs[0].Equal(ca.Root) || !certs[1].Equal(ca.Cert) {
		t.Fatalf("ParseCertificatesPEM = %d certs, %v", len(certs), err)
	}
	if der, err := ParseCertificatesPEM(ca.Root.Raw); err != nil || !der[0].Equal(ca.Root) {
		t.Errorf("DER input: %v", err)
	}
	if _, err := ParseCertificatesPEM(mustMarshal(t, mustGenerateKey(t, KeyECDSAP256))); err == nil {
		t.Error("a key file parsed as certificates")
	}
}
