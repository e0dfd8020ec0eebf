package pki

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseNames(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"Example.TEST.", "example.test", false},
		{"*.example.test", "*.example.test", false},
		{"127.0.0.1", "127.0.0.1", false},
		{"[::1]", "::1", false},
		{"admin@example.test", "admin@example.test", false},
		{"ad\tmin@example.test", "", true}, // a control character in an e-mail SAN (FuzzParseNames)
		{"admin@exam\nple.test", "", true},
		{"spiffe://example.test/ns/app", "spiffe://example.test/ns/app", false},
		{"urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66", "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66", false},
		{"bücher.example", "xn--bcher-kva.example", false},
		{"svc_name.internal", "svc_name.internal", false},
		{"localhost:8443", "", true}, // a port is a common slip; say so
		{"a b.test", "", true},
		{"foo.*.test", "", true},
		{"-bad.test", "", true},
		{"*", "", true},
		{"*.com", "", true},       // a public suffix: covers everyone's domains
		{"*.co.uk", "", true},     // a public suffix of two labels
		{"*.github.io", "", true}, // on the list's private part
		{"*.example.com", "*.example.com", false},
		{"*.test", "*.test", false}, // local development names stay allowed
		{"fe80::1%eth0", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseNames([]string{tt.in})
			if tt.wantErr {
				if err == nil {
					t.Errorf("ParseNames(%q) = %v; want an error", tt.in, got)
				}
				return
			}
			if err != nil || len(got) != 1 || got[0] != tt.want {
				t.Errorf("ParseNames(%q) = %v, %v; want [%s]", tt.in, got, err, tt.want)
			}
		})
	}
}

// TestCreateCSROpenSSL has openssl verify our CSRs and read their SANs.
func TestCreateCSROpenSSL(t *testing.T) {
	names := []string{"app.test", "127.0.0.1", "::1", "admin@example.test", "spiffe://example.test/app"}
	wantText := []string{"DNS:app.test", "IP Address:127.0.0.1", "IP Address:0:0:0:0:0:0:0:1",
		"email:admin@example.test", "URI:spiffe://example.test/app", "CN = app.test", "O = Example Org"}
	dir := t.TempDir()
	for _, kt := range KeyTypes() {
		t.Run(string(kt), func(t *testing.T) {
			key := mustGenerateKey(t, kt)
			csr, pemBytes, err := CreateCSR(key, CSRRequest{Names: names, Subject: pkix.Name{Organization: []string{"Example Org"}}})
			if err != nil {
				t.Fatal(err)
			}
			if got := DescribeCSR(csr).Names; !slices.Equal(got, []string{"app.test", "127.0.0.1", "::1", "admin@example.test", "spiffe://example.test/app"}) {
				t.Errorf("CSR names = %v", got)
			}
			path := writeFile(t, dir, string(kt)+".csr", pemBytes)
			openssl(t, dir, "req", "-in", path, "-verify", "-noout")
			text := openssl(t, dir, "req", "-in", path, "-text", "-noout")
			for _, w := range wantText {
				if !strings.Contains(text, w) {
					t.Errorf("openssl req -text lacks %q:\n%s", w, text)
				}
			}
		})
	}
	if _, _, err := CreateCSR(mustGenerateKey(t, KeyECDSAP256), CSRRequest{}); err == nil {
		t.Error("CreateCSR without names or CN succeeded")
	}
}

// TestSignCSR signs openssl-made CSRs and refuses bad ones.
func TestSignCSR(t *testing.T) {
	ca, caDir := mustLocalCA(t)
	dir := t.TempDir()
	openssl(t, dir, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "k.pem")
	openssl(t, dir, "req", "-new", "-key", "k.pem", "-subj", "/CN=app.test/O=Org",
		"-addext", "subjectAltName=DNS:app.test,DNS:www.app.test,IP:10.0.0.1",
		"-addext", "basicConstraints=critical,CA:TRUE", // a CSR asking to be a CA must not get it
		"-out", "good.csr")
	openssl(t, dir, "req", "-new", "-key", "k.pem", "-subj", "/CN=nosan.test", "-out", "nosan.csr")

	good, err := ParseCSRPEM(readFile(t, filepath.Join(dir, "good.csr")))
	if err != nil {
		t.Fatal(err)
	}
	broken := breakCSRSignature(t, readFile(t, filepath.Join(dir, "good.csr")))
	noSAN, err := ParseCSRPEM(readFile(t, filepath.Join(dir, "nosan.csr")))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		csr     *x509.CertificateRequest
		client  bool
		wantErr string
	}{
		{"openssl server", good, false, ""},
		{"openssl client", good, true, ""},
		{"broken signature", broken, false, "signature"},
		{"no names", noSAN, false, "no subject alternative names"},
		{"SAN *", rawCSR(t, []string{"*"}, nil), false, "refusing its names"},
		{"SAN *.com", rawCSR(t, []string{"app.test", "*.com"}, nil), false, "public suffix"},
		{"malformed SAN", rawCSR(t, []string{"a b.test"}, nil), false, "not a valid DNS name"},
		{"IP as DNS SAN", rawCSR(t, []string{"10.0.0.1"}, nil), false, "IP address"},
		{"malformed e-mail", rawCSR(t, []string{"app.test"}, []string{"@x"}), false, "e-mail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leaf, err := ca.SignCSR(tt.csr, tt.client, 0)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v; want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if leaf.IsCA {
				t.Error("leaf is a CA: CSR extensions were not ignored")
			}
			if got := leaf.Subject.String(); got != "CN=app.test,O=Org" {
				t.Errorf("subject = %q; want the CSR's", got)
			}
			if got := DescribeCertificate(leaf, ca.now()).SANs; !slices.Equal(got, []string{"app.test", "www.app.test", "10.0.0.1"}) {
				t.Errorf("SANs = %v", got)
			}
			purpose := map[bool]string{false: "sslserver", true: "sslclient"}[tt.client]
			verifyWithOpenSSL(t, caDir, ca, leaf, purpose)
		})
	}
}

// breakCSRSignature flips a bit of a CSR's signature.
func breakCSRSignature(t *testing.T, pemBytes []byte) *x509.CertificateRequest {
	t.Helper()
	block, _ := pem.Decode(pemBytes)
	der := append([]byte(nil), block.Bytes...)
	der[len(der)-3] ^= 0x01 // inside the signature BIT STRING, past its length bytes
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatalf("broken CSR does not parse: %v", err)
	}
	if csr.CheckSignature() == nil {
		t.Fatal("flipping a bit left the signature valid")
	}
	return csr
}

// rawCSR makes a CSR with the given SANs as written, unchecked, the way a
// hostile or careless requester could.
func rawCSR(t *testing.T, dns, emails []string) *x509.CertificateRequest {
	t.Helper()
	key := mustGenerateKey(t, KeyECDSAP256)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: dns, EmailAddresses: emails}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	return csr
}
