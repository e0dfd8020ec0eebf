package certs

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/config"
)

// TestACMEConfigPerDNSSetting: sites with different dns blocks get their
// own CertMagic config (two providers, or two accounts at one, in one
// instance); sites with the same settings share one.
func TestACMEConfigPerDNSSetting(t *testing.T) {
	// Not t.TempDir: obtain attempts started by Apply may still write a
	// lock file while the test ends, which would fail its cleanup.
	dir, err := os.MkdirTemp("", "certs-dns-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	m, err := New(Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	zoneA := &config.DNS{Provider: config.DNSExec, Command: "/bin/true", Zone: "a.test."}
	zoneB := &config.DNS{Provider: config.DNSWebhook, URL: "http://127.0.0.1:1"}
	a := ACME{
		Directory:  "https://127.0.0.1:1/dir", // never reached before Stop matters
		Challenges: []string{"http-01", "dns-01"},
		DNS:        zoneA,
		HTTPAddr:   "127.0.0.1:1",
	}
	sites := []config.Site{
		{Hosts: []string{"*.a.test"}, TLS: &config.TLS{Mode: config.TLSACME}},                                                                                    // acme.dns
		{Hosts: []string{"x.a.test"}, TLS: &config.TLS{Mode: config.TLSACME}, DNS: &config.DNS{Provider: config.DNSExec, Command: "/bin/true", Zone: "a.test."}}, // same settings
		{Hosts: []string{"*.b.test"}, TLS: &config.TLS{Mode: config.TLSACME}, DNS: zoneB},                                                                        // its own
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := m.Apply(ctx, sites, a); err != nil {
		t.Fatal(err)
	}
	byName := m.managed.Load().byName
	if byName["*.a.test"] != byName["x.a.test"] {
		t.Error("sites with equal dns settings got different configs")
	}
	if byName["*.a.test"] == byName["*.b.test"] {
		t.Error("a site with its own dns block shares the config of acme.dns")
	}
	if len(m.acmes) != 2 {
		t.Errorf("%d ACME configs; want 2", len(m.acmes))
	}

	// Without dns-01 among the challenges, dns blocks are not used: one config.
	a.Challenges = []string{"http-01"}
	if _, err := m.Apply(ctx, sites[1:2], a); err != nil {
		t.Fatal(err)
	}
	if len(m.acmes) != 1 || m.acmes[0].conf.DNS != nil {
		t.Errorf("without dns-01: %d configs, dns %v; want one without dns", len(m.acmes), m.acmes[0].conf.DNS)
	}
}
