package certs

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/config"
)

// TestLocalLeavesRenewThemselves: local-CA leaves are CertMagic-managed, so
// maintenance renews them before they expire, with no reload. The leaf here
// lives two minutes, well inside its renewal window from the start.
func TestLocalLeavesRenewThemselves(t *testing.T) {
	m, err := New(Options{
		DataDir:           t.TempDir(),
		LocalLeafValidity: 2 * time.Minute,
		RenewInterval:     time.Second,
		Logger:            slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	ctx := context.Background()
	if _, err := m.Apply(ctx, []config.Site{{Hosts: []string{"a.test"}, TLS: &config.TLS{Mode: config.TLSLocal}}}, ACME{}); err != nil {
		t.Fatal(err)
	}
	serial := func() string {
		list, err := m.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range list {
			if len(c.Names) == 1 && c.Names[0] == "a.test" {
				return c.Serial
			}
		}
		return ""
	}
	first := serial()
	if first == "" {
		t.Fatal("a.test not listed")
	}
	deadline := time.Now().Add(20 * time.Second)
	for serial() == first {
		if time.Now().After(deadline) {
			t.Fatalf("the local leaf %s was not renewed within 20s", first)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The renewed leaf is the one handshakes get. List reads storage, which
	// the renewal writes just before it swaps the cache: wait for the swap.
	oldInCache := func() bool {
		for _, c := range m.cache.AllMatchingCertificates("a.test") {
			if fmt.Sprintf("%x", c.Leaf.SerialNumber) == first {
				return true
			}
		}
		return false
	}
	for oldInCache() {
		if time.Now().After(deadline) {
			t.Fatalf("the old leaf %s is still in the cache", first)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
