package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/tlsgate/tlsgate/test/testenv"
)

// bindServer is a BIND 9 named started by a test: authoritative for the
// zones wild.test and two.test on a loopback port, taking updates (TXT and
// HTTPS records) signed with one TSIG key per zone.
type bindServer struct {
	Addr string
	// Keys maps each zone to the TSIG key allowed to update it.
	Keys map[string]tsigKey
}

type tsigKey struct{ Name, Secret string }

// bindBin finds a BIND program (named, tsig-keygen; in /usr/sbin, which
// is not on every user's PATH), or skips (-short) or fails with how to get it.
func bindBin(t *testing.T, name string) string {
	t.Helper()
	for _, p := range []string{name, "/usr/sbin/" + name} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	msg := "BIND 9's " + name + " is not installed: apt-get install -y bind9 bind9-utils (scripts/test.sh does this)"
	if testing.Short() {
		t.Skip(msg)
	}
	t.Fatal(msg)
	return ""
}

// newTSIGKey makes a key with tsig-keygen, as a user would.
func newTSIGKey(t *testing.T, name string) tsigKey {
	t.Helper()
	out, err := exec.Command(bindBin(t, "tsig-keygen"), "-a", "hmac-sha256", name).Output()
	if err != nil {
		t.Fatalf("tsig-keygen: %v", err)
	}
	m := regexp.MustCompile(`secret "([^"]+)"`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("tsig-keygen printed no secret:\n%s", out)
	}
	return tsigKey{Name: name, Secret: string(m[1])}
}

// extraGrant lets the two.test key also change TXT records under
// acme.wild.test: the zone a CNAME-delegated challenge points into.
func extraGrant(zone string, keys map[string]tsigKey) string {
	if zone != "wild.test" {
		return ""
	}
	return fmt.Sprintf("grant %s subdomain acme.wild.test. TXT; ", keys["two.test"].Name)
}

// startBIND runs named in the foreground (-g) in a temp dir, as whatever
// user the test runs as (it needs no privilege on a high port).
func startBIND(t *testing.T) *bindServer {
	t.Helper()
	bin := bindBin(t, "named")
	dir := t.TempDir()
	port := testenv.FreePort(t)
	b := &bindServer{Addr: fmt.Sprintf("127.0.0.1:%d", port), Keys: map[string]tsigKey{
		"wild.test": newTSIGKey(t, "tlsgate-wild."),
		"two.test":  newTSIGKey(t, "tlsgate-two."),
	}}
	var conf strings.Builder
	fmt.Fprintf(&conf, `options {
	directory "%s";
	pid-file "%s/named.pid";
	listen-on port %d { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	notify no;
};
controls { };
`, dir, dir, port)
	for zone, key := range b.Keys {
		fmt.Fprintf(&conf, `key "%s" { algorithm hmac-sha256; secret "%s"; };
zone "%s" {
	type primary;
	file "%s/%s.zone";
	update-policy { grant %s subdomain %s. TXT HTTPS; %s};
};
`, key.Name, key.Secret, zone, dir, zone, key.Name, zone, extraGrant(zone, b.Keys))
		records := strings.ReplaceAll("$TTL 60\n@ IN SOA ns.{zone}. admin.{zone}. 1 60 60 600 60\n@ IN NS ns.{zone}.\nns IN A 127.0.0.1\n", "{zone}", zone)
		if zone == "wild.test" {
			// CNAME delegation: a.deleg.wild.test's challenge is answered at
			// a name under acme.wild.test, the only names the two.test key
			// may also change. (BIND without recursion follows a CNAME only
			// inside one zone, so the target stays in wild.test; a.deleg is a
			// name *.wild.test does not cover, so its own certificate serves it.)
			records += "_acme-challenge.a.deleg IN CNAME a-deleg.acme.wild.test.\n"
		}
		writeFile(t, dir, zone+".zone", records)
	}
	confPath := writeFile(t, dir, "named.conf", conf.String())
	cmd := exec.Command(bin, "-g", "-c", confPath)
	cmd.Dir = dir
	testenv.Start(t, cmd)
	eventually(t, 15*time.Second, "named answering", func() error {
		for zone := range b.Keys {
			r, err := b.query(zone, mdns.TypeSOA)
			if err != nil {
				return err
			}
			if len(r.Answer) == 0 {
				return fmt.Errorf("no SOA for %s yet", zone)
			}
		}
		return nil
	})
	return b
}

func (b *bindServer) query(name string, qtype uint16) (*mdns.Msg, error) {
	return dnsQuery(b.Addr, name, qtype)
}

func dnsQuery(server, name string, qtype uint16) (*mdns.Msg, error) {
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), qtype)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r, _, err := (&mdns.Client{}).ExchangeContext(ctx, m, server)
	return r, err
}

// txts lists the TXT values server holds for name.
func txts(t *testing.T, server, name string) []string {
	t.Helper()
	r, err := dnsQuery(server, name, mdns.TypeTXT)
	if err != nil {
		t.Fatalf("TXT %s at %s: %v", name, server, err)
	}
	var out []string
	for _, rr := range r.Answer {
		if txt, ok := rr.(*mdns.TXT); ok {
			out = append(out, strings.Join(txt.Txt, ""))
		}
	}
	return out
}

// startPebbleDNS starts Pebble alone, resolving every name through the
// DNS server at dnsAddr (BIND, or a challtestsrv the test drives).
func startPebbleDNS(t *testing.T, dnsAddr string) *pebbleCA {
	t.Helper()
	dir := t.TempDir()
	// Nothing answers http-01 or tls-alpn-01 on these: only dns-01 can pass.
	p := &pebbleCA{opts: pebbleOptions{HTTPPort: testenv.FreePort(t), TLSPort: testenv.FreePort(t)}, dir: dir, t: t, dns: dnsAddr}
	p.CertFile, _ = writeSelfSigned(t, dir, "pebble")
	p.start()
	return p
}

// waitServed waits until the instance serves name with a chain that
// verifies against Pebble's root.
func waitServed(t *testing.T, inst *instance, p *pebbleCA, name string) {
	t.Helper()
	pool := p.roots(t)
	eventually(t, 40*time.Second, "certificate for "+name, func() error {
		leaf, err := served(inst, name, pool)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(leaf.Issuer.CommonName, "Pebble") {
			return fmt.Errorf("issuer %q; want Pebble", leaf.Issuer.CommonName)
		}
		return nil
	})
}

func TestDNS01RFC2136(t *testing.T) {
	t.Parallel()
	b := startBIND(t)
	p := startPebbleDNS(t, b.Addr)
	wild, two := b.Keys["wild.test"], b.Keys["two.test"]

	t.Run("wildcard, per-site override and CNAME delegation", func(t *testing.T) {
		t.Parallel()
		// *.wild.test uses acme.dns (the wild.test key); a.two.test its own
		// dns block with the other key, which only two.test accepts;
		// a.deleg.wild.test's challenge is a CNAME to a name only the
		// two.test key may change.
		cfg := header + p.acmeConfig("dns-01") + fmt.Sprintf(`  dns:
    provider: rfc2136
    server: %s
    tsig_key_name: %s
    tsig_secret: %s
    propagation_timeout: 20s
sites:
  - hosts: ["*.wild.test"]
    tls: acme
    routes: [{path: /, respond: {body: "wild"}}]
  - hosts: [a.two.test]
    tls: acme
    dns: {provider: rfc2136, server: "%s", tsig_key_name: %s, tsig_secret: "%s", zone: two.test}
    routes: [{path: /, respond: {body: "two"}}]
  - hosts: [a.deleg.wild.test]
    tls: acme
    dns: {provider: rfc2136, server: "%s", tsig_key_name: %s, tsig_secret: "%s", resolvers: ["%s"]}
    routes: [{path: /, respond: {body: "delegated"}}]
`, b.Addr, wild.Name, wild.Secret, b.Addr, two.Name, two.Secret, b.Addr, two.Name, two.Secret, b.Addr)
		inst := startWith(t, newGateConfig(t), cfg)
		for _, name := range []string{"x.wild.test", "other.wild.test", "a.two.test", "a.deleg.wild.test"} {
			waitServed(t, inst, p, name)
		}
		client := inst.client(t, p.roots(t), true)
		if status, body := get(t, client, inst.url("x.wild.test", "/")); status != 200 || body != "wild" {
			t.Errorf("x.wild.test: %d %q; want 200 \"wild\"", status, body)
		}
		// The challenge records are gone once the orders are done.
		for _, name := range []string{"_acme-challenge.wild.test", "_acme-challenge.a.two.test", "a-deleg.acme.wild.test"} {
			eventually(t, 10*time.Second, "cleanup of "+name, func() error {
				if got := txts(t, b.Addr, name); len(got) > 0 {
					return fmt.Errorf("TXT %s still holds %q", name, got)
				}
				return nil
			})
		}
		if log := inst.Stderr.String(); !strings.Contains(log, "target=a-deleg.acme.wild.test.") {
			t.Errorf("the log does not show the CNAME being followed")
		}
	})

	t.Run("wrong TSIG secret", func(t *testing.T) {
		t.Parallel()
		cfg := header + p.acmeConfig("dns-01") + fmt.Sprintf(`  dns: {provider: rfc2136, server: "%s", tsig_key_name: %s, tsig_secret: "%s"}
sites:
  - hosts: ["*.wild.test"]
    tls: acme
    routes: [{path: /, respond: {body: "wild"}}]
`, b.Addr, wild.Name, "d3JvbmcgLSBub3QgdGhlIHNlcnZlcidzIGtleSEhIQ==")
		inst := startWith(t, newGateConfig(t), cfg)
		want := "the TSIG key was refused: check tsig_key_name/tsig_secret/tsig_algorithm against the server's key"
		if !inst.WaitLog(want, 20*time.Second) {
			t.Fatalf("no %q in the log:\n%s", want, inst.Stderr.String())
		}
	})

	t.Run("record not visible", func(t *testing.T) {
		t.Parallel()
		// The update goes to BIND, but propagation is checked at a server
		// that never has it: the error names that resolver.
		dead := deadAddr(t)
		cfg := header + p.acmeConfig("dns-01") + fmt.Sprintf(`  dns: {provider: rfc2136, server: "%s", tsig_key_name: %s, tsig_secret: "%s", propagation_timeout: 2s, resolvers: ["%s"]}
sites:
  - hosts: ["*.wild.test"]
    tls: acme
    routes: [{path: /, respond: {body: "wild"}}]
`, b.Addr, wild.Name, wild.Secret, dead)
		inst := startWith(t, newGateConfig(t), cfg)
		want := "was not visible at resolver " + dead
		if !inst.WaitLog(want, 25*time.Second) {
			t.Fatalf("no %q in the log:\n%s", want, inst.Stderr.String())
		}
	})
}

// challtestsrv is a pebble-challtestsrv whose management API the test
// (and the exec hook and webhook receiver) drive.
type challtestsrv struct{ DNS, Mgmt string }

func startChalltestsrv(t *testing.T) *challtestsrv {
	t.Helper()
	c := &challtestsrv{DNS: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), Mgmt: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))}
	cmd := exec.Command(pebbleBin(t, "pebble-challtestsrv"),
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-dnsserver", c.DNS, "-management", c.Mgmt,
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("start pebble-challtestsrv: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	eventually(t, 10*time.Second, "challtestsrv", func() error { return tcpDial(c.Mgmt) })
	return c
}

// call posts {"host", "value"} to one of challtestsrv's endpoints.
func (c *challtestsrv) call(path, host, value string) error {
	body, _ := json.Marshal(map[string]string{"host": host, "value": value})
	resp, err := http.Post("http://"+c.Mgmt+path, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", path, resp.Status)
	}
	return nil
}

// hookReceiver is a webhook provider's server: it checks the bearer token
// and sets or clears the TXT record in challtestsrv.
type hookReceiver struct {
	mu    sync.Mutex
	calls []string // "present FQDN" / "cleanup FQDN"
}

func (h *hookReceiver) handler(c *challtestsrv, token string) http.Handler {
	mux := http.NewServeMux()
	for action, path := range map[string]string{"present": "/set-txt", "cleanup": "/clear-txt"} {
		mux.HandleFunc("POST /hook/"+action, func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+token {
				http.Error(w, "wrong token\nsecond line", http.StatusForbidden)
				return
			}
			var req struct{ FQDN, Value string }
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.FQDN == "" || req.Value == "" {
				http.Error(w, "bad request", http.StatusBadRequest)
				return
			}
			if err := c.call(path, req.FQDN, req.Value); err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			h.mu.Lock()
			h.calls = append(h.calls, action+" "+req.FQDN)
			h.mu.Unlock()
		})
	}
	return mux
}

func (h *hookReceiver) saw(call string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.calls {
		if c == call {
			return true
		}
	}
	return false
}

func TestDNS01ExecAndWebhook(t *testing.T) {
	t.Parallel()
	c := startChalltestsrv(t)
	p := startPebbleDNS(t, c.DNS)
	recv := &hookReceiver{}
	hook := httptest.NewServer(recv.handler(c, "s3cret"))
	t.Cleanup(hook.Close)

	script, err := filepath.Abs("testdata/dns/challtestsrv-hook.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The hook learns challtestsrv's address from its environment; tlsgate
	// passes its own environment on.
	wrapper := writeFile(t, dir, "hook.sh", fmt.Sprintf("#!/bin/sh\nCHALLTESTSRV=http://%s exec %s \"$@\"\n", c.Mgmt, script))
	failing := writeFile(t, dir, "failing-hook.sh", fmt.Sprintf("#!/bin/sh\nHOOK_FAIL=quota CHALLTESTSRV=http://%s exec %s \"$@\"\n", c.Mgmt, script))
	for _, f := range []string{wrapper, failing} {
		if err := os.Chmod(f, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("issued", func(t *testing.T) {
		t.Parallel()
		cfg := header + p.acmeConfig("dns-01") + fmt.Sprintf(`  dns: {provider: exec, command: %s, resolvers: ["%s"]}
sites:
  - hosts: [e.example.com]
    tls: acme
    routes: [{path: /, respond: {body: "exec"}}]
  - hosts: [w.example.com]
    tls: acme
    dns: {provider: webhook, url: "%s/hook", token: s3cret, resolvers: ["%s"]}
    routes: [{path: /, respond: {body: "webhook"}}]
`, wrapper, c.DNS, hook.URL, c.DNS)
		inst := startWith(t, newGateConfig(t), cfg)
		waitServed(t, inst, p, "e.example.com")
		waitServed(t, inst, p, "w.example.com")
		eventually(t, 10*time.Second, "webhook cleanup", func() error {
			if !recv.saw("present _acme-challenge.w.example.com.") || !recv.saw("cleanup _acme-challenge.w.example.com.") {
				return fmt.Errorf("webhook calls: %v", recv.calls)
			}
			return nil
		})
		for _, name := range []string{"_acme-challenge.e.example.com", "_acme-challenge.w.example.com"} {
			eventually(t, 10*time.Second, "cleanup of "+name, func() error {
				if got := txts(t, c.DNS, name); len(got) > 0 {
					return fmt.Errorf("TXT %s still holds %q", name, got)
				}
				return nil
			})
		}
	})

	t.Run("errors", func(t *testing.T) {
		t.Parallel()
		cfg := header + p.acmeConfig("dns-01") + fmt.Sprintf(`  dns: {provider: exec, command: %s, resolvers: ["%s"]}
sites:
  - hosts: [fail-exec.example.com]
    tls: acme
    routes: [{path: /, respond: {body: "exec"}}]
  - hosts: [fail-hook.example.com]
    tls: acme
    dns: {provider: webhook, url: "%s/hook", token: wrong, resolvers: ["%s"]}
    routes: [{path: /, respond: {body: "webhook"}}]
`, failing, c.DNS, hook.URL, c.DNS)
		g := newGateConfig(t)
		inst := &instance{gateConfig: g, ConfigPath: filepath.Join(g.Dir, "tlsgate.yaml")}
		inst.writeConfig(t, cfg)
		inst.Proc = startProc(t, g.Dir, "run", "-c", inst.ConfigPath)
		for _, want := range []string{
			"hook refused on purpose: quota", // the exec hook's stderr
			"403 Forbidden: wrong token",     // the webhook's status and first body line
		} {
			if !inst.WaitLog(want, 20*time.Second) {
				t.Fatalf("no %q in the log:\n%s", want, inst.Stderr.String())
			}
		}
		if strings.Contains(inst.Stderr.String(), "second line") {
			t.Errorf("the webhook error carries more than the body's first line")
		}
	})
}
