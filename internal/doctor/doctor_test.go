package doctor

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/tlsgate/tlsgate/internal/pki"
)

// now is the pinned clock of these tests.
var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testCert makes a self-signed certificate valid from nb to na, with extra
// extensions.
func testCert(t *testing.T, nb, na time.Time, ext ...pkix.Extension) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: nb, NotAfter: na, DNSNames: []string{"localhost"}, ExtraExtensions: ext}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestExpiresSoon(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		name   string
		nb, na time.Time
		want   bool
	}{
		{"90-day certificate with 10 days left", now.Add(-80 * day), now.Add(10 * day), true},
		{"90-day certificate with 30 days left", now.Add(-60 * day), now.Add(30 * day), false},
		// tlsgate's local leaves live 7 days and renew with a third left.
		{"7-day local leaf with 5 days left", now.Add(-2 * day), now.Add(5 * day), false},
		{"7-day local leaf with 1 day left", now.Add(-6 * day), now.Add(day), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := expiresSoon(&x509.Certificate{NotBefore: tt.nb, NotAfter: tt.na}, now); got != tt.want {
				t.Errorf("got %v; want %v", got, tt.want)
			}
		})
	}
}

func TestMustStaple(t *testing.T) {
	val, _ := asn1.Marshal([]int{5})
	ms := testCert(t, now.Add(-time.Hour), now.Add(time.Hour), pkix.Extension{Id: oidTLSFeature, Value: val})
	plain := testCert(t, now.Add(-time.Hour), now.Add(time.Hour))
	if !mustStaple(ms) || mustStaple(plain) {
		t.Errorf("mustStaple: with extension %v, without %v; want true, false", mustStaple(ms), mustStaple(plain))
	}
}

// TestCheckOCSP judges hand-made observations: a revoked response and a
// must-staple certificate served without a staple.
func TestCheckOCSP(t *testing.T) {
	tests := []struct {
		name string
		r    *OCSPResult
		want string
		sev  Severity
	}{
		{"revoked", &OCSPResult{Stapled: true, Source: "stapled", Response: &ocsp.Response{Status: ocsp.Revoked, RevokedAt: now}}, "revoked", Error},
		{"must-staple without staple", &OCSPResult{MustStaple: true}, "must_staple_missing", Error},
		{"good", &OCSPResult{Stapled: true, Source: "stapled", Response: &ocsp.Response{Status: ocsp.Good, ThisUpdate: now}}, "ocsp_good", Info},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs := &Observation{Now: now, OCSP: tt.r, opts: &Options{}}
			fs := checkOCSP(obs)
			if len(fs) != 1 || fs[0].Code != tt.want || fs[0].Severity != tt.sev {
				t.Fatalf("got %+v; want one %s %s", fs, tt.sev, tt.want)
			}
		})
	}
}

func TestTrustedNicknames(t *testing.T) {
	out := []byte(`
Certificate Nickname                                         Trust Attributes
                                                             SSL,S/MIME,JAR/XPI

tlsgate alice@laptop Root CA                                 C,,  
some peer cert                                               P,,  
my client cert                                               u,u,u
`)
	got := trustedNicknames(out)
	want := []string{"tlsgate alice@laptop Root CA", "some peer cert"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %q; want %q", got, want)
	}
}

// TestStoresLookup points every store at temporary files: a system bundle
// without the root, a real NSS database (certutil) with it, and a
// REQUESTS_CA_BUNDLE with it.
func TestStoresLookup(t *testing.T) {
	dir := t.TempDir()
	ca, _, err := pki.NewLocalCA("Store Test", now)
	if err != nil {
		t.Fatal(err)
	}
	rootPEM := pki.EncodeCertificatesPEM(ca.Root)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	system := write("system.pem", pki.EncodeCertificatesPEM(ca.Cert)) // not the root
	bundle := write("bundle.pem", append(pki.EncodeCertificatesPEM(ca.Cert), rootPEM...))
	rootFile := write("root.pem", rootPEM)
	nss := filepath.Join(dir, "nssdb")
	haveCertutil := false
	if _, err := exec.LookPath("certutil"); err == nil {
		haveCertutil = true
		os.MkdirAll(nss, 0o700)
		for _, args := range [][]string{
			{"-N", "-d", "sql:" + nss, "--empty-password"},
			{"-A", "-d", "sql:" + nss, "-t", "C,,", "-n", "store test root", "-i", rootFile},
		} {
			if out, err := exec.Command("certutil", args...).CombinedOutput(); err != nil {
				t.Fatalf("certutil %v: %v\n%s", args, err, out)
			}
		}
	}
	env := map[string]string{"REQUESTS_CA_BUNDLE": bundle}
	s := TrustStores{SystemBundle: system, NSSDir: nss, Python: "/nonexistent/python3", Getenv: func(k string) string { return env[k] }}
	got := map[string]StoreResult{}
	for _, r := range s.lookup(context.Background(), 10*time.Second) {
		got[r.Kind] = r
	}
	if got[StoreSystem].Has(ca.Root, nil) {
		t.Error("system store has the root; it should not")
	}
	if !got[StorePython].Has(ca.Root, nil) || got[StorePython].Path != bundle {
		t.Errorf("REQUESTS_CA_BUNDLE store: %+v; want %s holding the root", got[StorePython], bundle)
	}
	if !got[StorePython].Has(nil, ca.Cert) {
		t.Error("REQUESTS_CA_BUNDLE store does not find the issuer of the intermediate by signature")
	}
	if haveCertutil && !got[StoreNSS].Has(ca.Root, nil) {
		t.Errorf("NSS store: %+v; want the root", got[StoreNSS])
	}
}
