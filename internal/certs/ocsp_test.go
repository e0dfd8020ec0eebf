package certs

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/tlsgate/tlsgate/internal/config"
)

// testCA signs leaves and answers OCSP for them, like a CA's responder.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
	// revoked are the serials the responder calls revoked.
	mu      sync.Mutex
	revoked map[string]bool
	asked   atomic.Int32
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "OCSP test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, revoked: map[string]bool{}}
}

// ServeHTTP answers an OCSP POST for any serial: good unless revoked.
func (ca *testCA) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ca.asked.Add(1)
	body, _ := io.ReadAll(r.Body)
	req, err := ocsp.ParseRequest(body)
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	ca.mu.Lock()
	status := ocsp.Good
	if ca.revoked[req.SerialNumber.String()] {
		status = ocsp.Revoked
	}
	ca.mu.Unlock()
	now := time.Now()
	resp, err := ocsp.CreateResponse(ca.cert, ca.cert, ocsp.Response{
		Status: status, SerialNumber: req.SerialNumber, ThisUpdate: now.Add(-time.Minute),
		NextUpdate: now.Add(time.Hour), RevokedAt: now.Add(-time.Minute),
	}, ca.key)
	if err != nil {
		http.Error(w, "sign", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/ocsp-response")
	_, _ = w.Write(resp)
}

// leafFiles writes a leaf for name signed by ca, naming responder (none
// when ""), with extensions ext, as cert and key files; chain adds the CA
// after the leaf.
func (ca *testCA) leafFiles(t *testing.T, name, responder string, chain bool, ext ...pkix.Extension) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, ExtraExtensions: ext,
	}
	if responder != "" {
		tmpl.OCSPServer = []string{responder}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	if chain {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// syncBuffer is a log sink the test reads while the Manager writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fileSites starts a Manager serving one file-certificate site per pair of
// cert and key files, named a.test, b.test, ..., and returns their Sources
// and the log.
func fileSites(t *testing.T, files ...string) ([]Source, *syncBuffer) {
	t.Helper()
	log := &syncBuffer{}
	m, err := New(Options{DataDir: t.TempDir(), FilePollInterval: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.MultiWriter(log, t.Output()), nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	var sites []config.Site
	for i := 0; i+1 < len(files); i += 2 {
		sites = append(sites, config.Site{Hosts: []string{string(rune('a'+i/2)) + ".test"},
			TLS: &config.TLS{Mode: config.TLSFile, CertFile: files[i], KeyFile: files[i+1]}})
	}
	srcs, err := m.Apply(context.Background(), sites, ACME{})
	if err != nil {
		t.Fatal(err)
	}
	return srcs, log
}

func served(t *testing.T, src Source) *tls.Certificate {
	t.Helper()
	c, err := src.Certificate(&tls.ClientHelloInfo{}, "")
	if err != nil || c == nil {
		t.Fatalf("no certificate served: %v", err)
	}
	return c
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func stapleStatus(t *testing.T, c *tls.Certificate) int {
	t.Helper()
	resp, err := ocsp.ParseResponse(c.OCSPStaple, nil)
	if err != nil {
		t.Fatalf("staple does not parse: %v", err)
	}
	return resp.Status
}

func TestFileCertificateOCSPStaple(t *testing.T) {
	ca := newTestCA(t)
	responder := httptest.NewServer(ca)
	defer responder.Close()
	certFile, keyFile := ca.leafFiles(t, "a.test", responder.URL, true)
	srcs, _ := fileSites(t, certFile, keyFile)
	src := srcs[0]
	waitFor(t, "a staple", func() bool { return len(served(t, src).OCSPStaple) > 0 })
	if got := stapleStatus(t, served(t, src)); got != ocsp.Good {
		t.Fatalf("staple status %d; want good", got)
	}

	// Revoked at the responder, then the files are replaced by the same
	// certificate (a new mtime): the reload keeps the good staple until
	// the responder's new answer, revoked, is stapled.
	ca.mu.Lock()
	ca.revoked[served(t, src).Leaf.SerialNumber.String()] = true
	ca.mu.Unlock()
	future := time.Now().Add(time.Minute)
	if err := os.Chtimes(certFile, future, future); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a revoked staple", func() bool {
		c := served(t, src)
		return len(c.OCSPStaple) > 0 && stapleStatus(t, c) == ocsp.Revoked
	})
}

func TestFileCertificateWithoutResponderGetsNoStaple(t *testing.T) {
	ca := newTestCA(t)
	responder := httptest.NewServer(ca)
	defer responder.Close()
	certA, keyA := ca.leafFiles(t, "a.test", "", true)
	certB, keyB := ca.leafFiles(t, "b.test", responder.URL, true)
	srcs, _ := fileSites(t, certA, keyA, certB, keyB)
	// One pass of the stapling loop looks at every file certificate: once
	// b.test has its staple, a.test has been looked at too.
	waitFor(t, "b.test's staple", func() bool { return len(served(t, srcs[1]).OCSPStaple) > 0 })
	if c := served(t, srcs[0]); len(c.OCSPStaple) > 0 {
		t.Fatal("a certificate without an OCSP URL got a staple")
	}
	if n := ca.asked.Load(); n != 1 {
		t.Errorf("responder asked %d times; want once (only for the certificate that names it)", n)
	}
}

func TestFileCertificateResponderDown(t *testing.T) {
	ca := newTestCA(t)
	down := httptest.NewServer(ca)
	down.Close() // connection refused
	// TLS Feature status_request: what must-staple certificates carry.
	mustStaple := pkix.Extension{Id: mustStapleOID, Value: []byte{0x30, 0x03, 0x02, 0x01, 0x05}}
	for _, tt := range []struct {
		name, want string
		chain      bool
		ext        []pkix.Extension
	}{
		{"refused", "connection refused", true, nil},
		{"no issuer in cert_file", "append the issuing (intermediate) certificate", false, nil},
		// Serving goes on, but the operator is told what Firefox will do.
		{"must-staple", "demands OCSP stapling (must-staple): Firefox refuses it", true, []pkix.Extension{mustStaple}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			certFile, keyFile := ca.leafFiles(t, "a.test", down.URL, tt.chain, tt.ext...)
			srcs, log := fileSites(t, certFile, keyFile)
			waitFor(t, "the failure logged", func() bool { return strings.Contains(log.String(), tt.want) })
			if c := served(t, srcs[0]); c.Leaf == nil || len(c.OCSPStaple) > 0 {
				t.Fatalf("want the certificate served without a staple")
			}
		})
	}
}

func TestRefreshAt(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name             string
		this, next, want time.Duration // from now
	}{
		{"halfway", -time.Hour, 3 * time.Hour, time.Hour},
		{"no nextUpdate", 0, -1, ocspNoNextUpdate},
		// A response that is nearly stale: still not before a minute.
		{"at least a minute", -time.Hour, time.Second, ocspMinRefresh},
		// A week-long response: asked again within hours, to see a
		// revocation soon.
		{"at most 12h", 0, 7 * 24 * time.Hour, ocspMaxRefresh},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &ocsp.Response{ThisUpdate: now.Add(tt.this)}
			if tt.next >= 0 {
				resp.NextUpdate = now.Add(tt.next)
			}
			if got := refreshAt(resp, now).Sub(now); got != tt.want {
				t.Errorf("refresh in %v; want %v", got, tt.want)
			}
		})
	}
}
