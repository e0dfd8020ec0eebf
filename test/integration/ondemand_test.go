package integration

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/test/testenv"
)

// askService is an on_demand.ask endpoint: it allows the names allow says
// yes to and counts every call per name.
type askService struct {
	*httptest.Server
	mu    sync.Mutex
	calls map[string]int
}

func startAskService(t *testing.T, allow func(name string) bool) *askService {
	t.Helper()
	a := &askService{calls: make(map[string]int)}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("domain")
		a.mu.Lock()
		a.calls[name]++
		a.mu.Unlock()
		if !allow(name) {
			http.Error(w, "not a customer", http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *askService) count(name string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[name]
}

func (a *askService) total() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, c := range a.calls {
		n += c
	}
	return n
}

// onDemandHandshake does one TLS handshake for name, bounded long enough
// for an on-demand order at Pebble (the harness's handshake allows 5s).
func onDemandHandshake(addr, name string, pool *x509.CertPool) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: 30 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: name, RootCAs: pool})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

const onDemandBurst = 4

// onDemandAskToken is a secret in the ask URL's query, as SaaS operators
// put one there: it must never appear in tlsgate's log.
const onDemandAskToken = "ask-s3cret-token"

func onDemandConfig(p *pebbleCA, ask string) string {
	return header + p.acmeConfig("http-01") + fmt.Sprintf(`on_demand: {ask: "%s/allowed?token=`+onDemandAskToken+`", burst: %d, interval: 10m}
sites:
  - hosts: ["*.example.com"]
    tls: on_demand
    routes: [{path: /, respond: {body: "shop"}}]
  - hosts: ["*"]
    tls: on_demand
    routes: [{path: /, respond: {body: "customer"}}]
`, ask, onDemandBurst)
}

func TestOnDemand(t *testing.T) {
	t.Parallel()
	ask := startAskService(t, func(name string) bool {
		return name == "a.test" || name == "shop.example.com" || strings.HasPrefix(name, "ok-")
	})
	g := newGateConfig(t)
	p := startPebble(t, pebbleOptions{HTTPPort: portOf(t, g.HTTP), TLSPort: portOf(t, g.HTTPS)})
	conf := onDemandConfig(p, ask.URL)
	inst := startWith(t, g, conf)
	pool := p.roots(t)

	// An allowed name: asked once, one order, a Pebble certificate for
	// that name; the next handshake is served from the cache.
	leaf, err := onDemandHandshake(inst.HTTPS, "a.test", pool)
	if err != nil {
		t.Fatalf("a.test: %v\n%s", err, inst.Stderr.String())
	}
	if !strings.HasPrefix(leaf.Issuer.CommonName, "Pebble") || leaf.VerifyHostname("a.test") != nil {
		t.Errorf("a.test got %v issued by %q; want a Pebble certificate for a.test", leaf.DNSNames, leaf.Issuer.CommonName)
	}
	if _, err := onDemandHandshake(inst.HTTPS, "a.test", pool); err != nil {
		t.Fatalf("a.test again: %v", err)
	}
	if got := p.orders(); got != 1 {
		t.Errorf("orders after a.test = %d; want 1", got)
	}
	if got := ask.count("a.test"); got != 1 {
		t.Errorf("ask called %d times for a.test; want 1", got)
	}
	testenv.Eventually(t, 5*time.Second, "cert_obtained event for a.test", func() error {
		for _, e := range inst.adminEvents(t) {
			if e.Event == "cert_obtained" && e.Name == "a.test" {
				return nil
			}
		}
		return fmt.Errorf("not in GET /events")
	})
	// It is listed like any managed certificate.
	_, certsJSON := get(t, http.DefaultClient, "http://"+inst.Admin+"/certs")
	type listedCert struct {
		Names  []string `json:"names"`
		Source string   `json:"source"`
	}
	var listed []listedCert
	if err := json.Unmarshal([]byte(certsJSON), &listed); err != nil {
		t.Fatalf("GET /certs: %v", err)
	}
	if !slices.ContainsFunc(listed, func(c listedCert) bool {
		return slices.Equal(c.Names, []string{"a.test"}) && c.Source == "acme"
	}) {
		t.Errorf("GET /certs does not list a.test from acme: %s", certsJSON)
	}
	status, body := get(t, inst.client(t, pool, true), inst.url("a.test", "/"))
	if status != 200 || body != "customer" {
		t.Errorf("GET https://a.test/ = %d %q; want 200 \"customer\"", status, body)
	}

	// A wildcard pattern gets a certificate for the concrete name only.
	leaf, err = onDemandHandshake(inst.HTTPS, "shop.example.com", pool)
	if err != nil {
		t.Fatalf("shop.example.com: %v", err)
	}
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "shop.example.com" {
		t.Errorf("shop.example.com got names %v; want [shop.example.com], not a wildcard", leaf.DNSNames)
	}

	// A name ask refuses: an alert, no order, and ask is not called again
	// for it within the interval.
	orders := p.orders()
	for range 3 {
		_, err := onDemandHandshake(inst.HTTPS, "b.test", pool)
		if err == nil || !strings.Contains(err.Error(), "unrecognized name") {
			t.Fatalf("b.test: %v; want the unrecognized_name alert", err)
		}
	}
	if got := ask.count("b.test"); got != 1 {
		t.Errorf("ask called %d times for b.test in three handshakes; want 1", got)
	}
	if got := p.orders(); got != orders {
		t.Errorf("orders went from %d to %d for a refused name", orders, got)
	}
	if !inst.WaitLog("on-demand certificate refused", 5*time.Second) {
		t.Errorf("no refusal logged:\n%s", inst.Stderr.String())
	}
	testenv.Eventually(t, 5*time.Second, "b.test refusal logged at info with its reason", func() error {
		for _, line := range strings.Split(inst.Stderr.String(), "\n") {
			if strings.Contains(line, "on-demand certificate refused") && strings.Contains(line, "b.test") && strings.Contains(line, "403") {
				return nil
			}
		}
		return fmt.Errorf("no line names b.test and ask's 403")
	})

	// Names that are not DNS names are refused before ask is called.
	before := ask.total()
	for _, name := range []string{"bad_name.test", "nodots", "a..test"} {
		if _, err := onDemandHandshake(inst.HTTPS, name, pool); err == nil {
			t.Errorf("%s: handshake succeeded; want an alert", name)
		}
	}
	if got := ask.total(); got != before {
		t.Errorf("ask called %d times for names that are not DNS names; want 0", got-before)
	}

	// 50 handshakes for new allowed names place at most burst orders in
	// all (two are used above); the rest get the alert.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 5)
	for i := range 50 {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			_, _ = onDemandHandshake(inst.HTTPS, fmt.Sprintf("ok-%d-%d.test", i, time.Now().UnixNano()), pool)
		})
	}
	wg.Wait()
	if got := p.orders(); got > onDemandBurst || got < 3 {
		t.Errorf("orders after 50 new names = %d; want at most burst (%d) and more than the 2 before", got, onDemandBurst)
	}
	t.Logf("50 new names: %d orders in all, ask called %d times", p.orders(), ask.total())
	if !inst.WaitLog("on_demand.burst", 5*time.Second) {
		t.Errorf("the burst refusals are not logged")
	}

	// A reload with the same on_demand block keeps what the gate knows:
	// b.test stays refused without asking, the burst stays used up. A
	// changed ask URL starts afresh.
	if r := tlsgate(t, inst.Dir, "reload", "-c", inst.ConfigPath); r.Code != 0 {
		t.Fatalf("reload: %s", r)
	}
	if _, err := onDemandHandshake(inst.HTTPS, "b.test", pool); err == nil {
		t.Fatal("b.test after reload: handshake succeeded")
	}
	if _, err := onDemandHandshake(inst.HTTPS, "ok-after-reload.test", pool); err == nil {
		t.Error("a new name after a reload got a certificate; want the burst still used up")
	}
	if got := ask.count("b.test"); got != 1 {
		t.Errorf("ask called %d times for b.test after a reload; want still 1", got)
	}
	inst.writeConfig(t, strings.Replace(conf, "/allowed?", "/allowed?v=2&", 1))
	if r := tlsgate(t, inst.Dir, "reload", "-c", inst.ConfigPath); r.Code != 0 {
		t.Fatalf("reload: %s", r)
	}
	_, _ = onDemandHandshake(inst.HTTPS, "b.test", pool)
	if got := ask.count("b.test"); got != 2 {
		t.Errorf("ask called %d times for b.test after ask changed; want 2 (a new gate)", got)
	}

	// A restart serves a.test from storage without asking again.
	orders = p.orders()
	if code := inst.Stop(t); code != 0 {
		t.Fatalf("stop: exit %d", code)
	}
	again := startWith(t, g, conf)
	if _, err := onDemandHandshake(again.HTTPS, "a.test", pool); err != nil {
		t.Fatalf("a.test after restart: %v\n%s", err, again.Stderr.String())
	}
	if got := ask.count("a.test"); got != 1 {
		t.Errorf("ask called %d times for a.test after the restart; want still 1", got)
	}
	if got := p.orders(); got != orders {
		t.Errorf("orders went from %d to %d after the restart", orders, got)
	}
	for _, log := range []string{inst.Stderr.String(), again.Stderr.String()} {
		if strings.Contains(log, onDemandAskToken) {
			t.Errorf("the ask URL's token is in the log:\n%s", log)
		}
	}
}

// Caddy refuses on-demand TLS without ask; so does tlsgate, saying why and where.
func TestOnDemandNeedsAsk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeFile(t, dir, "tlsgate.yaml", "sites:\n  - hosts: [\"*\"]\n    tls: on_demand\n    routes: [{respond: {body: x}}]\n")
	res := tlsgate(t, dir, "validate", "-c", path)
	if res.Code != 2 {
		t.Fatalf("validate: exit %d; want 2\n%s", res.Code, res)
	}
	for _, want := range []string{path + ":3:10: sites[0].tls:", "on_demand.ask", "anyone who points a DNS name at this server"} {
		if !strings.Contains(res.Stderr, want) {
			t.Errorf("validate output lacks %q:\n%s", want, res.Stderr)
		}
	}
}
