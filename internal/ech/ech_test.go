package ech

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

func TestConfigRoundTrip(t *testing.T) {
	k, err := NewKey("ech.example.com", time.Unix(0, 0), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	list, err := MarshalConfigList(k.Config)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseConfigList(list)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("got %d configs; want 1", len(got))
	}
	c := got[0]
	if c.ConfigID != k.ConfigID || c.KEM != KEMX25519 || c.PublicName != "ech.example.com" || len(c.PublicKey) != 32 {
		t.Errorf("parsed %+v; want config_id %d, KEM 0x0020, public name ech.example.com, a 32-byte key", c, k.ConfigID)
	}
	if want := cipherSuites[:]; len(c.CipherSuites) != len(want) || c.CipherSuites[0] != want[0] || c.CipherSuites[1] != want[1] {
		t.Errorf("cipher suites %v; want %v", c.CipherSuites, want)
	}
	// The header: version 0xfe0d, then the length of the rest.
	if k.Config[0] != 0xfe || k.Config[1] != 0x0d || int(k.Config[2])<<8|int(k.Config[3]) != len(k.Config)-4 {
		t.Errorf("ECHConfig header % x; want fe 0d and the contents length", k.Config[:4])
	}
}

func TestMarshalConfigRefuses(t *testing.T) {
	tests := []struct {
		name string
		c    Config
	}{
		{"no public name", Config{PublicKey: []byte{1}, CipherSuites: cipherSuites[:]}},
		{"long public name", Config{PublicName: string(make([]byte, 256)), PublicKey: []byte{1}, CipherSuites: cipherSuites[:]}},
		{"no key", Config{PublicName: "a.test", CipherSuites: cipherSuites[:]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := MarshalConfig(tt.c); err == nil {
				t.Error("MarshalConfig succeeded; want an error")
			}
		})
	}
}

// clock is a settable time for rotation tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newManager(t *testing.T, st Storage, clk *clock) *Manager {
	t.Helper()
	m, err := NewManager(Options{Storage: st, PublicName: "ech.test", Rotate: time.Hour, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	return m
}

// The real check of the marshalling: Go's own client accepts the config,
// and the server decrypts with the key.
func TestHandshakeAndRotation(t *testing.T) {
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	st := &certmagic.FileStorage{Path: t.TempDir()}
	m := newManager(t, st, clk)
	first := m.ConfigList()
	if r := handshake(t, m, first); r.err != nil || !r.accepted || r.serverName != "inner.test" {
		t.Fatalf("first config: %+v; want ECH accepted with inner name inner.test", r)
	}

	clk.add(time.Hour)
	if err := m.refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	second := m.ConfigList()
	if string(second) == string(first) {
		t.Fatal("the config list did not change after one rotation period")
	}
	for name, list := range map[string][]byte{"current": second, "previous": first} {
		if r := handshake(t, m, list); r.err != nil || !r.accepted {
			t.Errorf("%s config after one rotation: %+v; want accepted", name, r)
		}
	}

	clk.add(time.Hour)
	if err := m.refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Two rotations on, the first key is gone: the server declines ECH and
	// sends the current config as the retry config.
	r := handshake(t, m, first)
	var rej *tls.ECHRejectionError
	if !errors.As(r.err, &rej) {
		t.Fatalf("first config after two rotations: %+v (%v); want an ECHRejectionError", r, r.err)
	}
	if string(rej.RetryConfigList) != string(m.ConfigList()) {
		t.Errorf("retry config list is not the current one")
	}
	if r := handshake(t, m, rej.RetryConfigList); r.err != nil || !r.accepted {
		t.Errorf("with the retry config: %+v; want accepted", r)
	}
}

// Two instances on one storage use the same keys; the second does not
// rotate what the first made.
func TestSharedStorage(t *testing.T) {
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	st := &certmagic.FileStorage{Path: t.TempDir()}
	a := newManager(t, st, clk)
	b := newManager(t, st, clk)
	if string(a.ConfigList()) != string(b.ConfigList()) {
		t.Fatal("two managers on one storage made different keys")
	}
	clk.add(time.Hour)
	if err := a.refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := b.refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if string(a.ConfigList()) != string(b.ConfigList()) {
		t.Fatal("after a rotation the managers disagree")
	}
	set, err := Load(t.Context(), st)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 {
		t.Errorf("stored %d keys after one rotation; want 2 (current and previous)", len(set.Keys))
	}
	info, err := os.Stat(filepath.Join(st.Path, StorageKey))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode %o; want 600", perm)
	}
}

// A new public name gets a new key at once; the old current key stays
// accepted for the clients that hold it.
func TestPublicNameChange(t *testing.T) {
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	st := &certmagic.FileStorage{Path: t.TempDir()}
	old := newManager(t, st, clk)
	m, err := NewManager(Options{Storage: st, PublicName: "other.test", Rotate: time.Hour, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	cs, err := ParseConfigList(m.ConfigList())
	if err != nil || cs[0].PublicName != "other.test" {
		t.Fatalf("config %+v, %v; want public name other.test", cs, err)
	}
	if r := handshake(t, m, old.ConfigList()); r.err != nil || !r.accepted {
		t.Errorf("the previous public name's config: %+v; want accepted", r)
	}
}

type result struct {
	accepted   bool
	serverName string // the name the server saw (the inner one when accepted)
	err        error
}

// handshake runs a TLS 1.3 handshake over loopback TCP (a net.Pipe has no
// buffer: the server's session ticket and the client's alert would block
// each other): a client with list
// asking for inner.test, a server with m's keys and a certificate for
// both inner.test and ech.test.
func handshake(t *testing.T, m *Manager, list []byte) result {
	t.Helper()
	cert, pool := testCert(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	seen := make(chan string, 1)
	srv := tls.Server(sc, &tls.Config{
		GetEncryptedClientHelloKeys: m.Keys,
		GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
			seen <- h.ServerName
			return cert, nil
		},
	})
	done := make(chan error, 1)
	go func() { done <- srv.HandshakeContext(t.Context()) }()
	cli := tls.Client(cc, &tls.Config{ServerName: "inner.test", RootCAs: pool, MinVersion: tls.VersionTLS13,
		EncryptedClientHelloConfigList: list})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	err = cli.HandshakeContext(ctx)
	cli.Close()
	<-done
	r := result{accepted: err == nil && cli.ConnectionState().ECHAccepted, err: err}
	select {
	case r.serverName = <-seen:
	default:
	}
	return r
}

var (
	certOnce sync.Once
	certVal  *tls.Certificate
	certPool *x509.CertPool
)

func testCert(t *testing.T) (*tls.Certificate, *x509.CertPool) {
	certOnce.Do(func() {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
			DNSNames: []string{"inner.test", "ech.test", "other.test"}, NotBefore: time.Now().Add(-time.Hour),
			NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		c, _ := x509.ParseCertificate(der)
		certPool = x509.NewCertPool()
		certPool.AddCert(c)
		certVal = &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: c}
	})
	return certVal, certPool
}

// A publish that keeps failing is retried with backoff, not at every
// re-read; a new list is tried at once, and success stops the retries.
func TestPublishBackoff(t *testing.T) {
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	var calls int
	var fail = true
	const reread = time.Minute
	m, err := NewManager(Options{
		Storage: &certmagic.FileStorage{Path: t.TempDir()}, PublicName: "ech.test", Rotate: time.Hour, Reread: reread, Now: clk.Now,
		Publish: func(context.Context, []byte) error {
			calls++
			if fail {
				return errors.New("dns server refused")
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	var p publishState
	// step advances the clock by d and runs n re-reads' publish checks.
	step := func(d time.Duration, n int) {
		clk.add(d)
		for range n {
			m.publish(t.Context(), &p)
		}
	}
	for _, s := range []struct {
		advance   time.Duration
		wantCalls int
		why       string
	}{
		{0, 1, "the first publish is tried"},
		{reread / 2, 1, "not before one re-read period"},
		{reread / 2, 2, "retried after one re-read period"},
		{reread, 2, "then after two periods, not one"},
		{reread, 3, "retried after two periods"},
		{3 * reread, 3, "then after four"},
		{reread, 4, "retried after four periods"},
	} {
		step(s.advance, 3)
		if calls != s.wantCalls {
			t.Fatalf("%s: %d calls; want %d", s.why, calls, s.wantCalls)
		}
	}
	// A rotation brings a new list: it is tried at once.
	clk.add(time.Hour)
	if err := m.refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	step(0, 3)
	if calls != 5 {
		t.Fatalf("a new list: %d calls; want 5 (tried at once, once)", calls)
	}
	fail = false
	step(reread, 3)
	step(10*reread, 3)
	if calls != 6 {
		t.Errorf("after a success: %d calls; want 6 (no more once published)", calls)
	}
	// The backoff is bounded.
	p = publishState{}
	fail = true
	clk.add(time.Hour)
	if err := m.refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	for range 30 { // each time the retry is due
		step(p.retryAt.Sub(clk.Now()), 1)
	}
	if p.failures != 30 {
		t.Fatalf("%d failures; want 30", p.failures)
	}
	if got := p.retryAt.Sub(clk.Now()); got != maxPublishBackoff {
		t.Errorf("after 30 failures: retry in %s; want the bound %s", got, maxPublishBackoff)
	}
}

// Randomness is an option: the config_id comes from it, and a source that
// fails makes key generation (and so Start) fail rather than use another.
func TestKeyRandomness(t *testing.T) {
	fixed := func(n int) io.Reader { return bytes.NewReader(bytes.Repeat([]byte{0x2a}, n)) }
	k, err := NewKey("ech.test", time.Unix(0, 0), nil, fixed(4096))
	if err != nil {
		t.Fatal(err)
	}
	if k.ConfigID != 0x2a {
		t.Errorf("config_id %#x; want 0x2a, from the given source", k.ConfigID)
	}
	// The only id the source offers is the one to avoid: it runs dry.
	if _, err := NewKey("ech.test", time.Unix(0, 0), &k, fixed(4096)); err == nil {
		t.Error("NewKey avoiding the only id its source gives succeeded; want an error")
	}
	m, err := NewManager(Options{Storage: &certmagic.FileStorage{Path: t.TempDir()}, PublicName: "ech.test", Rotate: time.Hour, Rand: fixed(0)})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(t.Context()); err == nil {
		t.Error("Start with an empty random source succeeded; want an error")
	}
}
