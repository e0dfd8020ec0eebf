package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/pki"
)

// TestClientAuthRefusals checks mutual TLS with the local CA against curl and
// openssl s_client: each wrong certificate is refused in the handshake and
// the log says why; a `tlsgate ca issue --client` certificate gets through
// and the backend sees who it was.
func TestClientAuthRefusals(t *testing.T) {
	t.Parallel()
	skipShort(t, "curl and openssl")
	echo := echoBackend(t, "echo")
	inst := startTLSGate(t, fmt.Sprintf(header+`
sites:
  - hosts: [mtls.test]
    tls: local
    client_auth: {mode: require, local_ca: true}
    routes:
      - path: /
        to: ["%s"]
`, echo))
	dir := t.TempDir()
	root := inst.RootPath()

	// A client certificate the way a user makes one.
	good := tlsgate(t, dir, "ca", "issue", "alice@example.com", "--client", "--data-dir", inst.DataDir,
		"--cert-out", filepath.Join(dir, "alice.crt"), "--key-out", filepath.Join(dir, "alice.key"))
	if good.Code != 0 {
		t.Fatalf("ca issue --client: %s", good)
	}

	ca, err := pki.LoadLocalCA(filepath.Join(inst.DataDir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	// Expired: issued by the right CA a month ago for a day.
	expired := *ca
	expired.Now = func() time.Time { return time.Now().Add(-30 * 24 * time.Hour) }
	writeLeaf(t, dir, "expired", &expired, pki.LeafRequest{Names: []string{"old@example.com"}, Client: true, Validity: 24 * time.Hour})
	// A server certificate presented as a client certificate.
	writeLeaf(t, dir, "server", ca, pki.LeafRequest{Names: []string{"mtls.test"}})
	// A client certificate from a CA this site does not trust.
	other, _, err := pki.InitLocalCA(filepath.Join(dir, "otherca"), "Other CA")
	if err != nil {
		t.Fatal(err)
	}
	writeLeaf(t, dir, "stranger", other, pki.LeafRequest{Names: []string{"eve@example.com"}, Client: true})

	for _, tc := range []struct {
		name, cert string
		logReason  string
	}{
		{"no certificate", "", "without a certificate"},
		{"other CA", "stranger", "does not trust"},
		{"expired", "expired", "expired"},
		{"server certificate", "server", "not a client certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"--cacert", root}
			if tc.cert != "" {
				args = append(args, "--cert", filepath.Join(dir, tc.cert+".crt"), "--key", filepath.Join(dir, tc.cert+".key"))
			}
			if r := curl(t, inst, "mtls.test", "/", args...); r.Code == 0 {
				t.Errorf("curl with %s got through: %s", tc.name, r)
			}
			// TLS 1.2: the refusal is part of the handshake s_client reports
			// (in 1.3 it comes after, when the client reads).
			sargs := []string{"-tls1_2", "-servername", "mtls.test", "-CAfile", root}
			if tc.cert != "" {
				sargs = append(sargs, "-cert", filepath.Join(dir, tc.cert+".crt"), "-key", filepath.Join(dir, tc.cert+".key"))
			}
			r := sClient(t, inst.HTTPS, sargs...)
			if !strings.Contains(r.Stdout+r.Stderr, "alert") {
				t.Errorf("openssl s_client with %s: no TLS alert:\n%s", tc.name, r)
			}
			if !inst.WaitLog(tc.logReason, 5*time.Second) {
				t.Errorf("log does not say %q", tc.logReason)
			}
		})
	}

	t.Run("client certificate from ca issue --client", func(t *testing.T) {
		r := curl(t, inst, "mtls.test", "/", "--cacert", root, "-H", "X-Client-Cert-Subject: CN=admin",
			"--cert", filepath.Join(dir, "alice.crt"), "--key", filepath.Join(dir, "alice.key"))
		if r.Code != 0 {
			t.Fatalf("curl: %s", r)
		}
		e := decodeEcho(t, r.Stdout)
		if got := e.get("X-Client-Cert-Subject"); !strings.Contains(got, "alice@example.com") || strings.Contains(got, "admin") {
			t.Errorf("backend got X-Client-Cert-Subject %q; want alice's subject, not the spoofed one", got)
		}
		pemData, err := os.ReadFile(filepath.Join(dir, "alice.crt"))
		if err != nil {
			t.Fatal(err)
		}
		chain, err := pki.ParseCertificatesPEM(pemData)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(chain[0].Raw)
		if got := e.get("X-Client-Cert-Fingerprint"); got != hex.EncodeToString(sum[:]) {
			t.Errorf("fingerprint %q; want %x", got, sum)
		}
		if e.get("Client-Cert") == "" {
			t.Error("no Client-Cert header")
		}
	})
}

// writeLeaf issues a leaf with a new key and writes NAME.crt and NAME.key.
func writeLeaf(t *testing.T, dir, name string, ca *pki.CA, req pki.LeafRequest) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	req.PublicKey = key.Public()
	leaf, err := ca.Issue(req)
	if err != nil {
		t.Fatalf("issue %s: %v", name, err)
	}
	keyPEM, err := pki.MarshalPrivateKeyPEM(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, name+".crt", string(ca.ChainPEM(leaf)))
	writeFile(t, dir, name+".key", string(keyPEM))
}

// TestClientAuthOnlyWhereConfigured: the handshake asks for a client
// certificate only for the site that uses client_auth, chosen by SNI; and
// security headers are sent where a site turns them on.
func TestClientAuthOnlyWhereConfigured(t *testing.T) {
	t.Parallel()
	inst := startTLSGate(t, header+`
sites:
  - hosts: [open.test]
    tls: local
    security_headers: {content_type_nosniff: true, referrer_policy: no-referrer, frame_options: DENY}
    routes: [{path: /, respond: {body: "open"}}]
  - hosts: [locked.test]
    tls: local
    client_auth: {mode: optional, local_ca: true}
    routes: [{path: /, respond: {body: "locked"}}]
`)
	for _, tc := range []struct {
		name  string
		asked bool
	}{{"open.test", false}, {"locked.test", true}} {
		asked := false
		_, err := handshake(inst.HTTPS, &tls.Config{
			ServerName: tc.name,
			RootCAs:    inst.rootPool(t),
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				asked = true
				return &tls.Certificate{}, nil
			},
		})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if asked != tc.asked {
			t.Errorf("%s: asked for a client certificate = %v; want %v", tc.name, asked, tc.asked)
		}
	}
	resp, err := inst.client(t, inst.rootPool(t), true).Get(inst.url("open.test", "/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s: %q; want %q", h, got, want)
		}
	}
}
