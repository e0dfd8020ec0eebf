package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/pki"
	"github.com/tlsgate/tlsgate/internal/testproc"
)

// TestWarnExpiring: the daily check warns about a certificate within a week
// of expiry, and not about one that is fine.
func TestWarnExpiring(t *testing.T) {
	dir := t.TempDir()
	// A CA made two months ago, so a leaf can have been issued 27 days ago.
	ca, _, err := pki.NewLocalCA("Test CA", time.Now().Add(-60*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// Issued 27 days ago for 30 days: 3 days left.
	old := *ca
	old.Now = func() time.Time { return time.Now().Add(-27 * 24 * time.Hour) }
	soon := writeTestPair(t, dir, "soon", &old, "soon.test", 30*24*time.Hour)
	fine := writeTestPair(t, dir, "fine", ca, "fine.test", 90*24*time.Hour)

	logs := &testproc.SyncBuffer{}
	m, err := New(Options{DataDir: dir, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	_, err = m.Apply(context.Background(), []config.Site{
		{Hosts: []string{"soon.test"}, TLS: &config.TLS{Mode: config.TLSFile, CertFile: soon[0], KeyFile: soon[1]}},
		{Hosts: []string{"fine.test"}, TLS: &config.TLS{Mode: config.TLSFile, CertFile: fine[0], KeyFile: fine[1]}},
	}, ACME{})
	if err != nil {
		t.Fatal(err)
	}
	m.warnExpiring()
	out := logs.String()
	if !strings.Contains(out, "certificate expires soon") || !strings.Contains(out, "soon.test") {
		t.Errorf("no warning for soon.test:\n%s", out)
	}
	if strings.Contains(out, "fine.test") {
		t.Errorf("warned about fine.test:\n%s", out)
	}
}

func writeTestPair(t *testing.T, dir, name string, ca *pki.CA, host string, validity time.Duration) [2]string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(pki.LeafRequest{Names: []string{host}, PublicKey: key.Public(), Validity: validity})
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pki.MarshalPrivateKeyPEM(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	crt, kf := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(crt, ca.ChainPEM(leaf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kf, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return [2]string{crt, kf}
}

// TestRejectedApplyOrdersNothing: a config that fails for one site must not
// start ACME orders for the others (a typo must not cost rate limits).
func TestRejectedApplyOrdersNothing(t *testing.T) {
	dir := t.TempDir()
	logs := &testproc.SyncBuffer{}
	m, err := New(Options{DataDir: dir, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	_, err = m.Apply(context.Background(), []config.Site{
		{Hosts: []string{"new.example.com"}, TLS: &config.TLS{Mode: config.TLSACME}},
		{Hosts: []string{"broken.test"}, TLS: &config.TLS{Mode: config.TLSFile, CertFile: filepath.Join(dir, "missing.crt"), KeyFile: filepath.Join(dir, "missing.key")}},
	}, ACME{Directory: "https://127.0.0.1:9/dir", Challenges: []string{"http-01"}})
	if err == nil {
		t.Fatal("Apply with a missing certificate file succeeded")
	}
	time.Sleep(300 * time.Millisecond)
	if out := logs.String(); strings.Contains(out, "new.example.com") {
		t.Errorf("a rejected config started work for new.example.com:\n%s", out)
	}
	if got := m.managed.Load().byName; len(got) != 0 {
		t.Errorf("managed after a rejected Apply: %v", got)
	}
}
