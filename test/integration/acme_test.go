package integration

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/test/testenv"
)

// acmeSites is a config with two ACME sites, three names.
const acmeSites = `sites:
  - hosts: [a.example.com, b.example.com]
    routes: [{path: /, respond: {body: "site one"}}]
  - hosts: [c.example.org]
    routes: [{path: /, respond: {body: "site two"}}]
`

// startACME starts Pebble pointed at a new instance's ports, then the
// instance with the given acme settings and sites.
func startACME(t *testing.T, opts pebbleOptions, acmeBlock func(*pebbleCA) string, sites string) (*pebbleCA, *instance) {
	t.Helper()
	g := newGateConfig(t)
	if opts.HTTPPort == 0 {
		opts.HTTPPort = portOf(t, g.HTTP)
	}
	if opts.TLSPort == 0 {
		opts.TLSPort = portOf(t, g.HTTPS)
	}
	p := startPebble(t, opts)
	return p, startWith(t, g, header+acmeBlock(p)+sites)
}

// served is the leaf certificate the instance presents for name, verified
// against pool.
func served(inst *instance, name string, pool *x509.CertPool) (*x509.Certificate, error) {
	cs, err := handshake(inst.HTTPS, &tls.Config{ServerName: name, RootCAs: pool})
	if err != nil {
		return nil, err
	}
	return cs.PeerCertificates[0], nil
}

func TestACMEIssuance(t *testing.T) {
	for _, challenge := range []string{"http-01", "tls-alpn-01"} {
		t.Run(challenge, func(t *testing.T) {
			t.Parallel()
			// Pebble validates the other challenge type on a dead port, so
			// only the configured one can succeed.
			dead := testenv.FreePort(t)
			opts := pebbleOptions{HTTPPort: dead}
			if challenge == "http-01" {
				opts = pebbleOptions{TLSPort: dead}
			}
			p, inst := startACME(t, opts, func(p *pebbleCA) string { return p.acmeConfig(challenge) }, acmeSites)
			pool := p.roots(t)
			client := inst.client(t, pool, true)
			for name, want := range map[string]string{"a.example.com": "site one", "b.example.com": "site one", "c.example.org": "site two"} {
				leaf, err := served(inst, name, pool)
				if err != nil {
					t.Fatalf("%s: served chain does not verify against Pebble's root: %v", name, err)
				}
				if !strings.HasPrefix(leaf.Issuer.CommonName, "Pebble") {
					t.Errorf("%s: issuer %q; want Pebble", name, leaf.Issuer.CommonName)
				}
				// Like Let's Encrypt since 2025, Pebble's certificates name no
				// OCSP responder: nothing is stapled.
				cs, err := handshake(inst.HTTPS, &tls.Config{ServerName: name, RootCAs: pool})
				if err != nil {
					t.Fatal(err)
				}
				if len(leaf.OCSPServer) == 0 && len(cs.OCSPResponse) > 0 {
					t.Errorf("%s: an OCSP response is stapled for a certificate without an OCSP URL", name)
				}
				if status, body := get(t, client, inst.url(name, "/")); status != 200 || body != want {
					t.Errorf("%s: %d %q; want 200 %q", name, status, body, want)
				}
			}
			if !strings.Contains(inst.Stderr.String(), "challenge_type="+challenge) {
				t.Errorf("tlsgate's log does not show the %s challenge being solved", challenge)
			}
		})
	}
}

func TestACMERestartReusesCertificate(t *testing.T) {
	t.Parallel()
	p, inst := startACME(t, pebbleOptions{}, func(p *pebbleCA) string { return p.acmeConfig("http-01") }, acmeSites)
	pool := p.roots(t)
	before, err := served(inst, "a.example.com", pool)
	if err != nil {
		t.Fatal(err)
	}
	orders := p.orders()
	if code := inst.Stop(t); code != 0 {
		t.Fatalf("stop: exit %d", code)
	}
	// With no instance running, certs reads the data directory.
	offline := tlsgate(t, inst.Dir, "certs", "--data-dir", inst.DataDir)
	for _, want := range []string{"a.example.com", "c.example.org", "acme", "Pebble"} {
		if offline.Code != 0 || !strings.Contains(offline.Stdout, want) {
			t.Errorf("offline certs lacks %q: %s", want, offline)
		}
	}
	again := startWith(t, inst.gateConfig, header+p.acmeConfig("http-01")+acmeSites)
	after, err := served(again, "a.example.com", pool)
	if err != nil {
		t.Fatal(err)
	}
	if before.SerialNumber.Cmp(after.SerialNumber) != 0 {
		t.Errorf("serial changed across restart: %x -> %x", before.SerialNumber, after.SerialNumber)
	}
	if got := p.orders(); got != orders {
		t.Errorf("pebble saw %d orders after the restart; want still %d", got, orders)
	}

	// renew with no instance running starts the listeners itself to
	// answer the challenge; the next start serves the renewed certificate.
	if code := again.Stop(t); code != 0 {
		t.Fatalf("stop: exit %d", code)
	}
	res := tlsgate(t, inst.Dir, "renew", "-c", inst.ConfigPath, "--force", "a.example.com")
	if res.Code != 0 {
		t.Fatalf("offline renew: %s", res)
	}
	third := startWith(t, inst.gateConfig, header+p.acmeConfig("http-01")+acmeSites)
	renewed, err := served(third, "a.example.com", pool)
	if err != nil {
		t.Fatal(err)
	}
	if renewed.SerialNumber.Cmp(after.SerialNumber) == 0 {
		t.Errorf("offline renew did not change the served certificate (serial %x)", renewed.SerialNumber)
	}
	if want := fmt.Sprintf("serial %x", renewed.SerialNumber); !strings.Contains(res.Stdout, want) {
		t.Errorf("offline renew printed %q; want %q", res.Stdout, want)
	}
}

// handshakeLoad sends requests with a new TLS handshake each until stop is
// closed, and counts failures. It returns when its workers have.
type handshakeLoad struct {
	ok, failed atomic.Int64
	lastErr    atomic.Value
	stop       chan struct{}
	wg         sync.WaitGroup
}

func startHandshakeLoad(t *testing.T, inst *instance, name string, pool *x509.CertPool) *handshakeLoad {
	t.Helper()
	l := &handshakeLoad{stop: make(chan struct{})}
	client := inst.client(t, pool, false)
	client.Transport.(interface{ CloseIdleConnections() }).CloseIdleConnections()
	for range 3 {
		l.wg.Go(func() {
			deadline := time.Now().Add(2 * time.Minute) // bounded whatever happens
			for time.Now().Before(deadline) {
				select {
				case <-l.stop:
					return
				default:
				}
				req, _ := newGet(inst.url(name, "/"))
				req.Close = true // a new handshake each time: the served certificate is seen to change
				resp, err := client.Do(req)
				if err == nil && resp.StatusCode == 200 {
					resp.Body.Close()
					l.ok.Add(1)
					continue
				}
				if err == nil {
					resp.Body.Close()
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
				l.failed.Add(1)
				l.lastErr.Store(err.Error())
			}
		})
	}
	return l
}

func (l *handshakeLoad) finish(t *testing.T) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	if n := l.failed.Load(); n > 0 {
		t.Errorf("%d of %d requests failed; last: %v", n, n+l.ok.Load(), l.lastErr.Load())
	}
	if l.ok.Load() == 0 {
		t.Error("no request succeeded")
	}
}

func TestACMEForcedRenewalUnderLoad(t *testing.T) {
	t.Parallel()
	p, inst := startACME(t, pebbleOptions{}, func(p *pebbleCA) string { return p.acmeConfig("http-01") }, acmeSites)
	pool := p.roots(t)
	before, err := served(inst, "a.example.com", pool)
	if err != nil {
		t.Fatal(err)
	}
	load := startHandshakeLoad(t, inst, "a.example.com", pool)
	time.Sleep(300 * time.Millisecond)
	res := tlsgate(t, inst.Dir, "renew", "-c", inst.ConfigPath, "--force", "a.example.com")
	if res.Code != 0 {
		t.Fatalf("renew: %s", res)
	}
	time.Sleep(300 * time.Millisecond)
	load.finish(t)
	after, err := served(inst, "a.example.com", pool)
	if err != nil {
		t.Fatal(err)
	}
	if before.SerialNumber.Cmp(after.SerialNumber) == 0 {
		t.Fatalf("serial unchanged after forced renewal: %x", after.SerialNumber)
	}
	if want := fmt.Sprintf("serial %x", after.SerialNumber); !strings.Contains(res.Stdout, want) {
		t.Errorf("renew printed %q; want it to contain %q", res.Stdout, want)
	}
}

func TestACMECAOutageKeepsCertificate(t *testing.T) {
	t.Parallel()
	p, inst := startACME(t, pebbleOptions{}, func(p *pebbleCA) string { return p.acmeConfig("http-01") }, acmeSites)
	pool := p.roots(t)
	before, err := served(inst, "c.example.org", pool)
	if err != nil {
		t.Fatal(err)
	}
	p.stop()
	res := tlsgate(t, inst.Dir, "renew", "-c", inst.ConfigPath, "--force", "c.example.org")
	if res.Code == 0 {
		t.Fatalf("renew with the CA down succeeded: %s", res)
	}
	now, err := served(inst, "c.example.org", pool)
	if err != nil {
		t.Fatalf("after a failed renewal the old certificate no longer serves: %v", err)
	}
	if now.SerialNumber.Cmp(before.SerialNumber) != 0 {
		t.Fatalf("serial changed although renewal failed")
	}
	var list []struct {
		Names     []string `json:"names"`
		LastError string   `json:"last_error"`
	}
	out := tlsgate(t, inst.Dir, "certs", "-c", inst.ConfigPath, "--json")
	if err := json.Unmarshal([]byte(out.Stdout), &list); err != nil {
		t.Fatalf("certs --json: %v\n%s", err, out)
	}
	found := false
	for _, c := range list {
		if strings.Join(c.Names, ",") == "c.example.org" && c.LastError != "" {
			found = true
		}
	}
	if !found {
		t.Errorf("certs does not show the last error for c.example.org:\n%s", out.Stdout)
	}

	// The CA comes back (a new Pebble: new root, and it forgot our
	// account, which a real CA never does; the first try re-registers):
	// a later retry succeeds.
	p.start()
	for try := 1; ; try++ {
		res = tlsgate(t, inst.Dir, "renew", "-c", inst.ConfigPath, "--force", "c.example.org")
		if res.Code == 0 {
			break
		}
		if try == 3 {
			t.Fatalf("renew after the CA came back, %d tries: %s", try, res)
		}
	}
	after, err := served(inst, "c.example.org", p.roots(t))
	if err != nil {
		t.Fatal(err)
	}
	if after.SerialNumber.Cmp(before.SerialNumber) == 0 {
		t.Error("serial unchanged after the successful retry")
	}
}

func TestACMEEAB(t *testing.T) {
	t.Parallel()
	mac := base64.RawURLEncoding.EncodeToString([]byte("a mac key of thirty-two bytes!!!"))
	p, inst := startACME(t, pebbleOptions{EAB: map[string]string{"kid-1": mac}}, func(p *pebbleCA) string {
		return p.acmeConfig("http-01") + fmt.Sprintf("  eab: {key_id: kid-1, mac_key: %q}\n", mac)
	}, acmeSites)
	if _, err := served(inst, "a.example.com", p.roots(t)); err != nil {
		t.Fatal(err)
	}
}

func TestACMEShortLivedRenewsByItself(t *testing.T) {
	t.Parallel()
	p, inst := startACME(t, pebbleOptions{Profiles: map[string]time.Duration{"shortlived": 30 * time.Second}},
		func(p *pebbleCA) string {
			return "renew_interval: 1s\n" + p.acmeConfig("tls-alpn-01") + "  profile: shortlived\n"
		}, `sites:
  - hosts: [short.example.com]
    routes: [{path: /, respond: {body: "ok"}}]
`)
	pool := p.roots(t)
	first, err := served(inst, "short.example.com", pool)
	if err != nil {
		t.Fatal(err)
	}
	if life := first.NotAfter.Sub(first.NotBefore); life > time.Minute {
		t.Fatalf("certificate lives %v; the profile asked for 30s", life)
	}
	load := startHandshakeLoad(t, inst, "short.example.com", pool)
	eventually(t, 45*time.Second, "a renewed certificate", func() error {
		now, err := served(inst, "short.example.com", pool)
		if err != nil {
			return err
		}
		if now.SerialNumber.Cmp(first.SerialNumber) == 0 {
			return fmt.Errorf("still serial %x", first.SerialNumber)
		}
		return nil
	})
	load.finish(t)
}

func TestACMEARIWindow(t *testing.T) {
	t.Parallel()
	p, inst := startACME(t, pebbleOptions{}, func(p *pebbleCA) string { return p.acmeConfig("http-01") }, acmeSites)
	leaf, err := served(inst, "a.example.com", p.roots(t))
	if err != nil {
		t.Fatal(err)
	}
	var window struct {
		SuggestedWindow struct{ Start, End time.Time } `json:"suggestedWindow"`
	}
	id := base64.RawURLEncoding.EncodeToString(leaf.AuthorityKeyId) + "." + base64.RawURLEncoding.EncodeToString(leaf.SerialNumber.Bytes())
	dir := strings.TrimSuffix(p.Directory, "/dir")
	body, err := p.get(dir + "/draft-ietf-acme-ari-03/renewalInfo/" + id)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, &window); err != nil {
		t.Fatal(err)
	}
	var list []struct {
		Names       []string  `json:"names"`
		NextRenewal time.Time `json:"next_renewal"`
	}
	eventually(t, 10*time.Second, "next_renewal from ARI", func() error {
		out := tlsgate(t, inst.Dir, "certs", "-c", inst.ConfigPath, "--json")
		if err := json.Unmarshal([]byte(out.Stdout), &list); err != nil {
			return fmt.Errorf("certs --json: %v: %s", err, out)
		}
		for _, c := range list {
			if c.Names[0] != "a.example.com" {
				continue
			}
			w := window.SuggestedWindow
			if c.NextRenewal.Before(w.Start) || c.NextRenewal.After(w.End) {
				return fmt.Errorf("next_renewal %s is outside Pebble's ARI window %s..%s", c.NextRenewal, w.Start, w.End)
			}
			// The 1/3-of-lifetime rule would give exactly this instant;
			// a time picked at random in the ARI window will not.
			ratio := leaf.NotAfter.Add(-leaf.NotAfter.Sub(leaf.NotBefore) / 3)
			if c.NextRenewal.Equal(ratio.Truncate(time.Second)) {
				return fmt.Errorf("next_renewal %s is the lifetime rule, not ARI", c.NextRenewal)
			}
			return nil
		}
		return fmt.Errorf("a.example.com not listed")
	})
}

// TestACMECrashLoop is the Traefik failure: an instance that crashes and
// restarts while the CA rejects its orders must not place a new order on
// every start; the backoff persisted in storage holds across restarts.
func TestACMECrashLoop(t *testing.T) {
	t.Parallel()
	g := newGateConfig(t)
	// Pebble validates http-01 on a port where nothing listens: every
	// order fails.
	p := startPebble(t, pebbleOptions{HTTPPort: testenv.FreePort(t), TLSPort: testenv.FreePort(t)})
	cfg := header + p.acmeConfig("http-01") + `sites:
  - hosts: [crash.example.com]
    routes: [{path: /, respond: {body: "ok"}}]
`
	inst := &instance{gateConfig: g, ConfigPath: g.Dir + "/tlsgate.yaml"}
	inst.writeConfig(t, cfg)
	const restarts = 4
	for i := range restarts {
		proc := startProc(t, g.Dir, "run", "-c", inst.ConfigPath)
		want := "certificate order failed"
		if i > 0 {
			want = "waiting out the backoff"
		}
		if !proc.WaitLog(want, 20*time.Second) {
			t.Fatalf("start %d: no %q in the log:\n%s", i+1, want, proc.Stderr.String())
		}
		proc.Kill() // a crash, not a clean stop
	}
	if got := p.orders(); got != 1 {
		t.Errorf("pebble got %d orders over %d crashing starts; want 1 (the persisted backoff must hold)", got, restarts)
	}
}

func newGet(url string) (*http.Request, error) { return http.NewRequest(http.MethodGet, url, nil) }

// TestACMEFallback: when the primary CA cannot be reached, the fallback
// directory issues (as Caddy falls back from Let's Encrypt to ZeroSSL).
func TestACMEFallback(t *testing.T) {
	t.Parallel()
	dead := fmt.Sprintf("https://127.0.0.1:%d/dir", testenv.FreePort(t))
	p, inst := startACME(t, pebbleOptions{}, func(p *pebbleCA) string {
		return fmt.Sprintf(`email: ops@example.com
acme:
  directory: %s
  fallback: %s
  trusted_roots: [%s]
  challenges: [http-01]
`, dead, p.Directory, p.CertFile)
	}, acmeSites)
	leaf, err := served(inst, "a.example.com", p.roots(t))
	if err != nil {
		t.Fatalf("no certificate from the fallback CA: %v", err)
	}
	if !strings.HasPrefix(leaf.Issuer.CommonName, "Pebble") {
		t.Errorf("issuer %q; want Pebble (the fallback)", leaf.Issuer.CommonName)
	}
}
