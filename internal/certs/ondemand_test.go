package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/tlsgate/tlsgate/internal/config"
)

func TestOnDemandNameProblem(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"a.test", true},
		{"shop.example.com", true},
		{"xn--bcher-kva.example", true},
		{"127.0.0.1", true},
		{"2001:db8::1", true},
		{"", false},                              // no SNI
		{"localhost", false},                     // one label: no CA issues
		{"bad_name.test", false},                 // underscore
		{"a..test", false},                       // empty label
		{"-a.test", false},                       // leading hyphen
		{"a.test.", false},                       // callers strip the trailing dot first
		{"*.example.com", false},                 // never a wildcard on demand
		{"fe80::1%eth0", false},                  // zone
		{"1.2.3.999", false},                     // numeric last label, not an IP
		{strings.Repeat("a.", 127) + "b", false}, // 255 characters
		{strings.Repeat("a", 64) + ".test", false},
		{"a b.test", false},
	} {
		if got := onDemandNameProblem(tt.name); (got == "") != tt.ok {
			t.Errorf("onDemandNameProblem(%q) = %q; want ok=%v", tt.name, got, tt.ok)
		}
	}
}

func TestOnDemandHostsCovers(t *testing.T) {
	o := onDemandHosts{hosts: []string{"*.example.com", "Exact.Org"}}
	for name, want := range map[string]bool{
		"shop.example.com":   true,
		"a.b.example.com":    false, // one label only, like route.Hosts
		"example.com":        false,
		"exact.org":          true,
		"other.org":          false,
		".example.com":       false,
		"SHOP.EXAMPLE.COM":   true,
		"shop.example.com.x": false,
	} {
		if got := o.covers(name); got != want {
			t.Errorf("covers(%q) = %v; want %v", name, got, want)
		}
	}
	if !(onDemandHosts{hosts: []string{"*"}}).covers("anything.test") {
		t.Error("the catch-all does not cover anything.test")
	}
}

// clock is a settable time for the gate.
type clock struct{ t atomic.Pointer[time.Time] }

func newClock() *clock {
	c := &clock{}
	c.set(time.Unix(1_000_000, 0))
	return c
}
func (c *clock) now() time.Time          { return *c.t.Load() }
func (c *clock) set(t time.Time)         { c.t.Store(&t) }
func (c *clock) advance(d time.Duration) { c.set(c.now().Add(d)) }

// askServer answers 200 for names in allow, 403 for others, counting calls.
func askServer(t *testing.T, handler func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		handler(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func allowOnly(names ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		for _, n := range names {
			if r.URL.Query().Get("domain") == n {
				return // 200
			}
		}
		w.WriteHeader(http.StatusForbidden)
	}
}

func newTestGate(t *testing.T, ask string, burst int, interval time.Duration, c *clock) *onDemandGate {
	t.Helper()
	g, err := newOnDemandGate(config.OnDemand{Ask: ask, Burst: burst, Interval: config.Duration(interval)}, slog.New(slog.DiscardHandler), c.now)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestGateBurstWindow(t *testing.T) {
	srv, _ := askServer(t, func(http.ResponseWriter, *http.Request) {})
	c := newClock()
	g := newTestGate(t, srv.URL, 2, time.Minute, c)
	ctx := context.Background()
	decide := func(name string) error { return g.decideNew(ctx, name, false) }
	for _, n := range []string{"a.test", "b.test"} {
		if err := decide(n); err != nil {
			t.Fatalf("%s: %v; want allowed (within burst)", n, err)
		}
	}
	if err := decide("c.test"); !errors.Is(err, errRefused) {
		t.Fatalf("c.test: %v; want refused (burst 2 used)", err)
	}
	// Renewals are not new names: the burst does not apply.
	if err := g.decideNew(ctx, "a.test", true); err != nil {
		t.Errorf("renewal: %v; want allowed", err)
	}
	c.advance(30 * time.Second)
	if err := decide("c.test"); !errors.Is(err, errRefused) {
		t.Fatalf("c.test after 30s: %v; want refused (a sliding window of 1m)", err)
	}
	c.advance(31 * time.Second)
	if err := decide("c.test"); err != nil {
		t.Fatalf("c.test after the interval: %v; want allowed", err)
	}
}

func TestGateRemembersRefusals(t *testing.T) {
	srv, calls := askServer(t, allowOnly("a.test"))
	c := newClock()
	g := newTestGate(t, srv.URL+"/check?token=x", 10, time.Minute, c)
	ctx := context.Background()
	for range 5 {
		if err := g.decideNew(ctx, "b.test", false); !errors.Is(err, errRefused) {
			t.Fatalf("b.test: %v; want refused", err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("ask called %d times for one refused name; want 1", n)
	}
	c.advance(time.Minute)
	_ = g.decideNew(ctx, "b.test", false)
	if n := calls.Load(); n != 2 {
		t.Errorf("ask called %d times after the interval; want 2 (asked again)", n)
	}
	if err := g.decideNew(ctx, "a.test", false); err != nil {
		t.Errorf("a.test: %v; want allowed (the ask URL keeps its own query)", err)
	}
}

func TestGateAskAnswers(t *testing.T) {
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	srv, _ := askServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("domain") {
		case "ok.test":
		case "moved.test":
			http.Redirect(w, r, "/elsewhere?domain=ok.test", http.StatusFound)
		case "slow.test":
			select { // until the gate gives up
			case <-r.Context().Done():
			case <-block:
			}
		case "broken.test":
			w.WriteHeader(http.StatusInternalServerError)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	})
	g := newTestGate(t, srv.URL, 100, time.Minute, newClock())
	g.askTimeout = 200 * time.Millisecond
	for name, want := range map[string]string{
		"ok.test":     "",
		"moved.test":  "302 Found", // a redirect is not a yes
		"slow.test":   "did not answer within 200ms",
		"broken.test": "500",
		"nope.test":   "404",
	} {
		err := g.askService(context.Background(), name)
		if (err == nil) != (want == "") || err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("ask %s: %v; want %q", name, err, want)
		}
	}
}

func TestRefusalsBounded(t *testing.T) {
	r := refusals{until: make(map[string]time.Time)}
	now := time.Unix(0, 0)
	for i := range maxRemembered + 50 {
		r.add(fmt.Sprintf("n%d.test", i), now, now.Add(time.Hour))
	}
	if len(r.until) != maxRemembered {
		t.Errorf("remembered %d names; want the cap %d", len(r.until), maxRemembered)
	}
	if r.has("n0.test", now) || !r.has(fmt.Sprintf("n%d.test", maxRemembered+49), now) {
		t.Error("the oldest names should go first when the cap is reached")
	}
	r.add("late.test", now.Add(2*time.Hour), now.Add(3*time.Hour))
	if len(r.until) != 1 {
		t.Errorf("after every entry expired, %d remain; want 1", len(r.until))
	}
}

// storeCert puts a certificate for name, valid from notBefore for
// lifetime, where CertMagic keeps iss's certificates.
func storeCert(t *testing.T, m *Manager, iss *certmagic.ACMEIssuer, name string, notBefore time.Time, lifetime time.Duration) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: []string{name}, NotBefore: notBefore, NotAfter: notBefore.Add(lifetime)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := m.storage.Store(context.Background(), certmagic.StorageKeys.SiteCert(iss.IssuerKey(), name), data); err != nil {
		t.Fatal(err)
	}
}

// A stored certificate that is not due is loaded without asking (restarts
// never call ask); one in its renewal window is renewed only after ask says
// yes again, and renewals do not use up the burst.
func TestDecideOnDemandStored(t *testing.T) {
	c := newClock()
	m, err := New(Options{DataDir: t.TempDir(), Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	srv, calls := askServer(t, allowOnly("due.test", "new.test", "other.test"))
	m.gate.Store(newTestGate(t, srv.URL, 1, time.Hour, c))
	iss := &certmagic.ACMEIssuer{CA: "https://ca.test/dir"}
	issuers := []*certmagic.ACMEIssuer{iss}
	storeCert(t, m, iss, "fresh.test", c.now().Add(-time.Hour), 90*24*time.Hour)
	storeCert(t, m, iss, "due.test", c.now().Add(-80*24*time.Hour), 90*24*time.Hour)
	storeCert(t, m, iss, "gone.test", c.now().Add(-80*24*time.Hour), 90*24*time.Hour)
	ctx := context.Background()

	if err := m.decideOnDemand(ctx, "fresh.test", issuers); err != nil || calls.Load() != 0 {
		t.Errorf("fresh stored: %v, %d asks; want allowed without asking", err, calls.Load())
	}
	if err := m.decideOnDemand(ctx, "due.test", issuers); err != nil || calls.Load() != 1 {
		t.Errorf("due stored: %v, %d asks; want allowed after one ask", err, calls.Load())
	}
	if err := m.decideOnDemand(ctx, "gone.test", issuers); !errors.Is(err, errRefused) {
		t.Errorf("due, ask refuses: %v; want refused (a customer who left is not renewed)", err)
	}
	if err := m.decideOnDemand(ctx, "new.test", issuers); err != nil {
		t.Errorf("new name: %v; want allowed (burst 1, the renewal did not count)", err)
	}
	if err := m.decideOnDemand(ctx, "other.test", issuers); !errors.Is(err, errRefused) {
		t.Errorf("second new name: %v; want refused by the burst", err)
	}
	if err := m.decideOnDemand(ctx, "bad_name.test", issuers); !errors.Is(err, errRefused) || calls.Load() != 4 {
		t.Errorf("bad name: %v after %d asks; want refused before asking (4 asks so far)", err, calls.Load())
	}
}

// Many different names at once: past maxConcurrentAsks the gate refuses
// without calling ask, and does not remember the name.
func TestGateBoundsConcurrentAsks(t *testing.T) {
	release := make(chan struct{})
	srv, calls := askServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	g := newTestGate(t, srv.URL, 1000, time.Minute, newClock())
	g.askTimeout = 10 * time.Second
	errs := make(chan error, maxConcurrentAsks)
	for i := range maxConcurrentAsks {
		go func() { errs <- g.decideNew(context.Background(), fmt.Sprintf("n%d.test", i), false) }()
	}
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load() < maxConcurrentAsks {
		if time.Now().After(deadline) {
			t.Fatalf("%d asks in flight; want %d", calls.Load(), maxConcurrentAsks)
		}
		time.Sleep(5 * time.Millisecond) // polling the counter, bounded by deadline
	}
	if err := g.decideNew(context.Background(), "late.test", false); !errors.Is(err, errRefused) {
		t.Errorf("one more name: %v; want refused", err)
	}
	if n := calls.Load(); n != maxConcurrentAsks {
		t.Errorf("ask called %d times; want %d (the extra name not asked)", n, maxConcurrentAsks)
	}
	close(release)
	for range maxConcurrentAsks {
		if err := <-errs; err != nil {
			t.Errorf("a name in flight: %v; want allowed", err)
		}
	}
	if g.rememberedRefusal("late.test") {
		t.Error("the name refused for load is remembered; want it asked next time")
	}
}

// The ask URL's query often carries a secret token: it must reach neither
// the log nor the error, whatever ask does (refused connection, timeout,
// an answer that is not 200).
func TestGateNeverLogsAskQuery(t *testing.T) {
	const token = "s3cret-token"
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	srv, _ := askServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("domain") == "slow.test" {
			select {
			case <-r.Context().Done():
			case <-block:
			}
			return
		}
		w.WriteHeader(http.StatusForbidden)
	})
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // connection refused from now on
	for _, ask := range []string{srv.URL + "/check?token=" + token, deadURL + "/check?token=" + token, "http://user:" + token + "@" + strings.TrimPrefix(deadURL, "http://") + "/check"} {
		var logs syncBuffer
		g, err := newOnDemandGate(config.OnDemand{Ask: ask, Burst: 10, Interval: config.Duration(time.Minute)},
			slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), newClock().now)
		if err != nil {
			t.Fatal(err)
		}
		g.askTimeout = 200 * time.Millisecond
		for _, name := range []string{"no.test", "slow.test"} {
			err := g.decideNew(context.Background(), name, false)
			if !errors.Is(err, errRefused) {
				t.Fatalf("%s via %s: %v; want refused", name, ask, err)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("the error holds the ask token: %v", err)
			}
		}
		if strings.Contains(logs.String(), token) {
			t.Errorf("the log holds the ask token:\n%s", logs.String())
		}
		if !strings.Contains(logs.String(), "/check") {
			t.Errorf("the log does not name the ask address:\n%s", logs.String())
		}
	}
}

// countingStorage counts Loads, to see what reaches storage.
type countingStorage struct {
	certmagic.Storage
	loads atomic.Int64
}

func (s *countingStorage) Load(ctx context.Context, key string) ([]byte, error) {
	s.loads.Add(1)
	return s.Storage.Load(ctx, key)
}

func newOnDemandTestManager(t *testing.T, c *clock) (*Manager, *countingStorage) {
	t.Helper()
	dir := t.TempDir()
	st := &countingStorage{Storage: &certmagic.FileStorage{Path: dir}}
	m, err := New(Options{DataDir: dir, Now: c.now, Storage: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	return m, st
}

// A certificate the cache already holds is renewed by CertMagic on its own
// schedule (ARI, a random time, emergencies), possibly before tlsgate's
// renewalTime: the decision must ask even though storage says "not due",
// and a customer who left is refused.
func TestDecideOnDemandCachedIsRenewal(t *testing.T) {
	c := newClock()
	m, _ := newOnDemandTestManager(t, c)
	srv, calls := askServer(t, allowOnly("kept.test"))
	m.gate.Store(newTestGate(t, srv.URL, 1, time.Hour, c))
	iss := &certmagic.ACMEIssuer{CA: "https://ca.test/dir"}
	issuers := []*certmagic.ACMEIssuer{iss}
	cfg := certmagic.New(m.cache, certmagic.Config{Storage: m.storage})
	for _, name := range []string{"kept.test", "left.test", "newer.test"} {
		// Fresh in storage: without the cache check, no ask at all.
		storeCert(t, m, iss, name, c.now().Add(-time.Hour), 90*24*time.Hour)
		if name == "newer.test" {
			continue
		}
		if _, err := cfg.CacheUnmanagedTLSCertificate(context.Background(), selfSigned(t, name, c.now()), nil); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	if err := m.decideOnDemand(ctx, "kept.test", issuers); err != nil || calls.Load() != 1 {
		t.Errorf("cached, ask allows: %v after %d asks; want allowed after one ask", err, calls.Load())
	}
	if err := m.decideOnDemand(ctx, "left.test", issuers); !errors.Is(err, errRefused) || calls.Load() != 2 {
		t.Errorf("cached, ask refuses: %v after %d asks; want refused after asking", err, calls.Load())
	}
	// Not cached, fresh in storage (a restart): loaded without asking.
	if err := m.decideOnDemand(ctx, "newer.test", issuers); err != nil || calls.Load() != 2 {
		t.Errorf("stored only: %v after %d asks; want allowed without asking", err, calls.Load())
	}
}

// selfSigned makes a tls.Certificate for name valid around now.
func selfSigned(t *testing.T, name string, now time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), DNSNames: []string{name}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(90 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// A name ask refused recently is refused again before storage is read: a
// scanner repeating it costs no storage (etcd) round trip per handshake.
func TestDecideOnDemandRefusedSkipsStorage(t *testing.T) {
	c := newClock()
	m, st := newOnDemandTestManager(t, c)
	srv, calls := askServer(t, allowOnly())
	m.gate.Store(newTestGate(t, srv.URL, 10, time.Hour, c))
	issuers := []*certmagic.ACMEIssuer{{CA: "https://ca.test/dir"}}
	ctx := context.Background()
	if err := m.decideOnDemand(ctx, "b.test", issuers); !errors.Is(err, errRefused) {
		t.Fatalf("b.test: %v; want refused", err)
	}
	loads := st.loads.Load()
	for range 5 {
		if err := m.decideOnDemand(ctx, "b.test", issuers); !errors.Is(err, errRefused) {
			t.Fatalf("b.test again: %v; want refused", err)
		}
	}
	if got := st.loads.Load() - loads; got != 0 || calls.Load() != 1 {
		t.Errorf("5 repeats of a refused name: %d storage reads, %d asks; want 0 and 1 in all", got, calls.Load())
	}
}

// Names that are not DNS names are refused without being remembered (random
// junk must not push real refusals out of the bounded memory) and logged at
// debug only.
func TestDecideOnDemandInvalidNames(t *testing.T) {
	c := newClock()
	m, _ := newOnDemandTestManager(t, c)
	srv, calls := askServer(t, allowOnly())
	var logs syncBuffer
	g, err := newOnDemandGate(config.OnDemand{Ask: srv.URL, Burst: 10, Interval: config.Duration(time.Hour)},
		slog.New(slog.NewTextHandler(&logs, nil)), c.now) // info and above
	if err != nil {
		t.Fatal(err)
	}
	m.gate.Store(g)
	issuers := []*certmagic.ACMEIssuer{{CA: "https://ca.test/dir"}}
	for i := range 100 {
		name := fmt.Sprintf("bad_%d.test", i)
		if err := m.decideOnDemand(context.Background(), name, issuers); !errors.Is(err, errRefused) {
			t.Fatalf("%s: %v; want refused", name, err)
		}
	}
	g.mu.Lock()
	remembered := len(g.refused.until)
	g.mu.Unlock()
	if remembered != 0 || calls.Load() != 0 {
		t.Errorf("100 invalid names: %d remembered, %d asks; want 0 and 0", remembered, calls.Load())
	}
	if logs.String() != "" {
		t.Errorf("invalid names logged at info:\n%s", logs.String())
	}
}

// The cache is bounded (on-demand names would grow it without end): past
// the capacity a managed certificate is evicted (CertMagic loads it again
// from storage at its next handshake).
func TestCacheCapacity(t *testing.T) {
	if m, err := New(Options{DataDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	} else {
		m.Stop()
		if m.opts.CacheCapacity != defaultCacheCapacity {
			t.Errorf("default capacity %d; want %d", m.opts.CacheCapacity, defaultCacheCapacity)
		}
	}
	dir := t.TempDir()
	m, err := New(Options{DataDir: dir, CacheCapacity: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	iss := &certmagic.ACMEIssuer{CA: "https://ca.test/dir"}
	cfg := certmagic.New(m.cache, certmagic.Config{Storage: m.storage, Issuers: []certmagic.Issuer{iss}})
	ctx := context.Background()
	names := []string{"one.test", "two.test", "three.test"}
	for _, name := range names {
		storeKeyPair(t, m, iss, name)
		if _, err := cfg.CacheManagedCertificate(ctx, name); err != nil {
			t.Fatalf("caching %s: %v", name, err)
		}
	}
	cached := 0
	for _, name := range names {
		if m.cachedFor(name) {
			cached++
		}
	}
	if cached != 2 {
		t.Errorf("%d of 3 certificates cached with capacity 2; want 2", cached)
	}
}

// storeKeyPair puts a certificate, key and metadata for name where
// CertMagic loads iss's managed certificates from.
func storeKeyPair(t *testing.T, m *Manager, iss *certmagic.ACMEIssuer, name string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(3), DNSNames: []string{name}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(60 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for k, v := range map[string][]byte{
		certmagic.StorageKeys.SiteCert(iss.IssuerKey(), name):       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		certmagic.StorageKeys.SitePrivateKey(iss.IssuerKey(), name): pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		certmagic.StorageKeys.SiteMeta(iss.IssuerKey(), name):       []byte(`{"sans":["` + name + `"],"issuer_data":{}}`),
	} {
		if err := m.storage.Store(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
}
