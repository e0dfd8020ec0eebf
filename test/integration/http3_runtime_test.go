package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/tlsgate/tlsgate/test/testenv"
)

// h3Get is one GET over c; it returns the status and body.
func h3Get(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.Proto != "HTTP/3.0" {
		return 0, "", fmt.Errorf("answer over %s; want HTTP/3.0", resp.Proto)
	}
	return resp.StatusCode, string(b), err
}

// closeH3 closes the client's QUIC connections.
func closeH3(c *http.Client) { c.Transport.(*http3.Transport).Close() }

// waitMetric polls /metrics until sample has the value want.
func waitMetric(t *testing.T, inst *instance, sample string, want float64) {
	t.Helper()
	eventually(t, 10*time.Second, fmt.Sprintf("%s = %v", sample, want), func() error {
		if got := metricValue(t, inst, sample); got != want {
			return fmt.Errorf("%s = %v", sample, got)
		}
		return nil
	})
}

// TestHTTP3Runtime: over HTTP/3, the Runtime's limits and telemetry hold as
// over h1/h2: a body over max_body_bytes gets 413, a body that stalls past
// body_read_timeout 408, a site's rate limit
// 429, the access log says HTTP/3.0, tlsgate_connections_open{listener=
// "http3"} and tlsgate_tls_handshakes_total count QUIC connections (ok and
// failed), limits.max_connections refuses the connection past the cap
// (counted) and admits one again when another closes, and
// max_concurrent_streams is what the QUIC handshake allows.
func TestHTTP3Runtime(t *testing.T) {
	t.Parallel()
	echo := echoBackend(t, "echo")
	g := newGateConfig(t)
	g.Vars = map[string]string{"Echo": echo}
	inst := startWith(t, g, header+`access_log: {output: "{{.Dir}}/access.log", format: json}
limits: {max_connections: 3, max_concurrent_streams: 4, idle_timeout: 1m, body_read_timeout: 1s}
sites:
  - hosts: [h3.test]
    tls: local
    routes:
      - path: /upload/
        to: ["{{.Vars.Echo}}"]
        max_body_bytes: 1KiB
      - path: /limited/
        respond: {body: "ok"}
        rate_limit: {requests: 1, per: 1h, burst: 2}
      - path: /
        respond: {body: "served"}
`)
	pool := inst.rootPool(t)
	open := `tlsgate_connections_open{listener="http3"}`
	okHandshakes := `tlsgate_tls_handshakes_total{result="ok",site="h3.test",version="TLSv1.3"}`
	failedHandshakes := `tlsgate_tls_handshakes_total{result="failed",site="h3.test",version="TLSv1.3"}`

	c := h3Client(t, pool)
	if code, body, err := h3Get(c, inst.url("h3.test", "/")); err != nil || code != 200 || body != "served" {
		t.Fatalf("GET over HTTP/3: %d %q %v", code, body, err)
	}
	waitMetric(t, inst, open, 1)

	t.Run("body limit", func(t *testing.T) {
		resp, err := c.Post(inst.url("h3.test", "/upload/x"), "application/octet-stream", bytes.NewReader(make([]byte, 4096)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "413 Request Entity Too Large") {
			t.Errorf("4KiB POST over HTTP/3 to a 1KiB route: %d %q; want 413", resp.StatusCode, b)
		}
		resp, err = c.Post(inst.url("h3.test", "/upload/x"), "text/plain", strings.NewReader("small"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("small POST over HTTP/3: %d; want 200", resp.StatusCode)
		}
	})

	t.Run("body_read_timeout", func(t *testing.T) {
		// A body that stops arriving: 408 once body_read_timeout (1s) passes.
		pr, pw := io.Pipe()
		defer pw.Close()
		go pw.Write([]byte("the start of a body that never ends"))
		req, _ := http.NewRequest("POST", inst.url("h3.test", "/upload/stall"), pr)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Errorf("stalled POST body over HTTP/3: %d %q; want 408", resp.StatusCode, b)
		}
	})

	t.Run("rate limit", func(t *testing.T) {
		var codes []int
		for range 3 {
			code, _, err := h3Get(c, inst.url("h3.test", "/limited/"))
			if err != nil {
				t.Fatal(err)
			}
			codes = append(codes, code)
		}
		if codes[0] != 200 || codes[1] != 200 || codes[2] != http.StatusTooManyRequests {
			t.Errorf("3 GETs over HTTP/3 against burst 2: %v; want [200 200 429]", codes)
		}
	})

	t.Run("access log", func(t *testing.T) {
		eventually(t, 5*time.Second, "HTTP/3.0 lines in the access log", func() error {
			b, err := os.ReadFile(filepath.Join(inst.Dir, "access.log"))
			if err != nil {
				return err
			}
			for _, want := range []string{`"status":413`, `"status":429`} {
				found := false
				for line := range strings.SplitSeq(string(b), "\n") {
					if strings.Contains(line, want) && strings.Contains(line, `"proto":"HTTP/3.0"`) &&
						strings.Contains(line, `"tls_version":"TLSv1.3"`) && strings.Contains(line, `"sni":"h3.test"`) &&
						strings.Contains(line, `"client_ip":"127.0.0.1"`) {
						found = true
					}
				}
				if !found {
					return fmt.Errorf("no HTTP/3.0 line with %s, TLSv1.3, sni h3.test and client_ip 127.0.0.1:\n%s", want, b)
				}
			}
			return nil
		})
	})

	t.Run("max_concurrent_streams", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := quic.DialAddr(ctx, inst.HTTPS, &tls.Config{RootCAs: pool, ServerName: "h3.test", NextProtos: []string{http3.NextProtoH3}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.CloseWithError(0, "")
		// OpenStream does not wait: past the peer's initial_max_streams_bidi
		// it fails at once.
		for i := range 4 {
			if _, err := conn.OpenStream(); err != nil {
				t.Fatalf("stream %d of 4: %v", i+1, err)
			}
		}
		if _, err := conn.OpenStream(); !errors.As(err, new(*quic.StreamLimitReachedError)) {
			t.Errorf("a 5th stream with max_concurrent_streams 4: %v; want the stream limit reached", err)
		}
	})

	// The max_concurrent_streams connection has ended: one open again.
	waitMetric(t, inst, open, 1)
	if v := metricValue(t, inst, okHandshakes); v < 1 {
		t.Errorf("%s = %v after a closed QUIC connection; want it counted", okHandshakes, v)
	}

	t.Run("failed handshake", func(t *testing.T) {
		before := max(metricValue(t, inst, failedHandshakes), 0)
		// A client that does not trust the local CA rejects the certificate.
		if _, _, err := h3Get(h3Client(t, x509.NewCertPool()), inst.url("h3.test", "/")); err == nil {
			t.Fatal("an HTTP/3 client without the local root got an answer")
		}
		waitMetric(t, inst, failedHandshakes, before+1)
	})

	t.Run("max_connections", func(t *testing.T) {
		closeH3(c)
		waitMetric(t, inst, open, 0)
		var held []*http.Client
		for range 3 {
			hc := h3Client(t, pool)
			if code, _, err := h3Get(hc, inst.url("h3.test", "/")); err != nil || code != 200 {
				t.Fatalf("connection under the cap: %d %v", code, err)
			}
			held = append(held, hc)
		}
		waitMetric(t, inst, open, 3)
		over := h3Client(t, pool)
		_, _, err := h3Get(over, inst.url("h3.test", "/"))
		if err == nil || !strings.Contains(err.Error(), "CONNECTION_REFUSED") {
			t.Fatalf("a 4th HTTP/3 connection with max_connections 3: %v; want CONNECTION_REFUSED", err)
		}
		if v := metricValue(t, inst, `tlsgate_listener_cap_refused_total{listener="http3"}`); v < 1 {
			t.Errorf("tlsgate_listener_cap_refused_total = %v; want the refusal counted", v)
		}
		if v := metricValue(t, inst, `tlsgate_listener_cap_waits_total{listener="http3"}`); v < 1 {
			t.Errorf("tlsgate_listener_cap_waits_total = %v; want reaching the cap counted", v)
		}
		if v := metricValue(t, inst, `tlsgate_listener_at_cap_seconds_total{listener="http3"}`); v <= 0 {
			t.Errorf("tlsgate_listener_at_cap_seconds_total = %v; want time at the cap", v)
		}
		closeH3(held[0])
		waitMetric(t, inst, open, 2)
		if code, _, err := h3Get(h3Client(t, pool), inst.url("h3.test", "/")); err != nil || code != 200 {
			t.Errorf("a new connection once one closed: %d %v; want 200", code, err)
		}
	})
}

// TestHTTP3IdleTimeout: limits.idle_timeout closes an idle QUIC
// connection (the client's own idle timeout is quic-go's 30s).
func TestHTTP3IdleTimeout(t *testing.T) {
	t.Parallel()
	inst := startTLSGate(t, header+`
limits: {idle_timeout: 2s}
sites:
  - hosts: [idle.test]
    tls: local
    routes: [{path: /, respond: {body: "served"}}]
`)
	c := h3Client(t, inst.rootPool(t))
	if code, _, err := h3Get(c, inst.url("idle.test", "/")); err != nil || code != 200 {
		t.Fatalf("GET over HTTP/3: %d %v", code, err)
	}
	open := `tlsgate_connections_open{listener="http3"}`
	waitMetric(t, inst, open, 1)
	waitMetric(t, inst, open, 0)
}

// TestHTTP3ReloadMoveDrains: a reload that moves listen.http3 binds the new
// UDP address first and drains the old one: a request in flight on the old
// address completes, the old socket stays bound while it runs, and once the
// client has closed its connection on the GOAWAY the old socket goes, well
// before shutdown_timeout; a SIGTERM while a moved address drains still
// lets its request finish.
func TestHTTP3ReloadMoveDrains(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}, 1), make(chan struct{})
	// /echo/last is the second phase's request, with its own gate.
	started2, release2 := make(chan struct{}, 1), make(chan struct{})
	slow := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, rel := started, release
		if r.URL.Path == "/echo/last" {
			st, rel = started2, release2
		}
		st <- struct{}{}
		select {
		case <-r.Context().Done():
			return
		case <-rel:
		}
		io.WriteString(w, "finished")
	}))
	vars := map[string]string{"Echo": slow, "H3": ""}
	inst := startTLSGateVars(t, vars, http3Config)
	pool := inst.rootPool(t)
	old := h3Client(t, pool)

	type result struct {
		code int
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, body, err := h3Get(old, inst.url("a.test", "/echo/slow"))
		done <- result{code, body, err}
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the HTTP/3 request never reached the backend")
	}

	newPort := testenv.FreePort(t)
	vars["H3"] = fmt.Sprintf(`, http3: "127.0.0.1:%d"`, newPort)
	inst.writeConfig(t, http3Config)
	inst.Signal(t, syscall.SIGHUP)
	inst.mustLog(t, "config reloaded", 5*time.Second)

	// The new address serves at once; the old one is still bound, draining.
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	fresh := h3Client(t, pool)
	freshDone := make(chan result, 1)
	go func() {
		code, body, err := h3Get(fresh, fmt.Sprintf("https://a.test:%d/echo/new", newPort))
		freshDone <- result{code, body, err}
	}()
	if pc, err := net.ListenPacket("udp", inst.HTTPS); err == nil {
		pc.Close()
		t.Fatalf("the old HTTP/3 address %s was released with a request in flight on it", inst.HTTPS)
	}
	close(release)
	released = true
	for name, ch := range map[string]chan result{"in flight on the old address": done, "on the new address": freshDone} {
		select {
		case r := <-ch:
			if r.err != nil || r.code != 200 || r.body != "finished" {
				t.Errorf("HTTP/3 request %s: %d %q %v; want 200 finished", name, r.code, r.body, r.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("HTTP/3 request %s did not end", name)
		}
	}
	// shutdown_timeout is 10s: a drain that ends within 5s ended because the
	// client closed its connection on the GOAWAY.
	eventually(t, 5*time.Second, "the old HTTP/3 address released after the drain", func() error {
		pc, err := net.ListenPacket("udp", inst.HTTPS)
		if err != nil {
			return err
		}
		pc.Close()
		return nil
	})
	inst.mustLog(t, "drained=true", time.Second)

	// SIGTERM while a moved address drains: its request in flight still
	// completes and tlsgate exits 0.
	go func() {
		code, body, err := h3Get(fresh, fmt.Sprintf("https://a.test:%d/echo/last", newPort))
		done <- result{code, body, err}
	}()
	select {
	case <-started2:
	case <-time.After(10 * time.Second):
		t.Fatal("the second HTTP/3 request never reached the backend")
	}
	thirdPort := testenv.FreePort(t)
	vars["H3"] = fmt.Sprintf(`, http3: "127.0.0.1:%d"`, thirdPort)
	inst.writeConfig(t, http3Config)
	inst.Signal(t, syscall.SIGHUP)
	// Reloads run one at a time before a signal to stop is handled: once
	// the third port is bound, the SIGTERM comes after this reload.
	eventually(t, 5*time.Second, "the third HTTP/3 address bound", func() error {
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", thirdPort))
		if err == nil {
			pc.Close()
			return errors.New("still free")
		}
		return nil
	})
	inst.Signal(t, syscall.SIGTERM)
	close(release2)
	select {
	case r := <-done:
		if r.err != nil || r.code != 200 || r.body != "finished" {
			t.Errorf("HTTP/3 request in flight on a draining address at SIGTERM: %d %q %v; want 200 finished", r.code, r.body, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the HTTP/3 request on the draining address did not end")
	}
	if code := inst.WaitExit(t, 15*time.Second); code != 0 {
		t.Fatalf("tlsgate exited %d after SIGTERM; want 0\nstderr:\n%s", code, inst.Stderr)
	}
	if s := inst.Stderr.String(); strings.Contains(s, "cut off") {
		t.Errorf("shutdown cut requests off:\n%s", s)
	}
}

// TestHTTP3Certificates: over HTTP/3 every certificate source is picked by
// SNI as over TCP, the same certificate (serial) each way: an ACME site
// (real Pebble), a file certificate (encrypted key), the local CA, adhoc
// (self-signed) and an on-demand name whose first handshake is the QUIC
// one (ask says yes, Pebble issues while it waits).
func TestHTTP3Certificates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	caCrt, caKey := opensslCA(t, dir)
	pass := writeFile(t, dir, "pass.txt", "correct horse battery staple\n")
	crt, key, fileSerial := opensslLeaf(t, dir, "leaf", "file.test", caCrt, caKey, pass)
	ask := startAskService(t, func(name string) bool { return name == "ok.shop.example.com" })

	g := newGateConfig(t)
	p := startPebble(t, pebbleOptions{HTTPPort: portOf(t, g.HTTP), TLSPort: portOf(t, g.HTTPS)})
	g.Vars = map[string]string{"Crt": crt, "Key": key, "Pass": pass, "Ask": ask.URL}
	inst := startWith(t, g, header+p.acmeConfig("http-01")+`on_demand: {ask: "{{.Vars.Ask}}/allowed", burst: 2, interval: 10m}
sites:
  - hosts: [acme.example.com]
    tls: acme
    routes: [{path: /, respond: {body: "acme site"}}]
  - hosts: [file.test]
    tls: {cert_file: "{{.Vars.Crt}}", key_file: "{{.Vars.Key}}", key_passphrase_file: "{{.Vars.Pass}}"}
    routes: [{path: /, respond: {body: "file site"}}]
  - hosts: [local.test]
    tls: local
    routes: [{path: /, respond: {body: "local site"}}]
  - hosts: [adhoc.test]
    tls: adhoc
    routes: [{path: /, respond: {body: "adhoc site"}}]
  - hosts: ["*.shop.example.com"]
    tls: on_demand
    routes: [{path: /, respond: {body: "shop"}}]
`)
	pool := p.roots(t)
	for _, f := range []string{caCrt, inst.RootPath()} {
		b, err := os.ReadFile(f)
		if err != nil || !pool.AppendCertsFromPEM(b) {
			t.Fatalf("root %s: %v", f, err)
		}
	}

	// leafOverH3 is the certificate an HTTP/3 GET for name is answered
	// with, checking the site's body.
	leafOverH3 := func(t *testing.T, c *http.Client, name, body string) *x509.Certificate {
		t.Helper()
		resp, err := c.Get(inst.url(name, "/"))
		if err != nil {
			t.Fatalf("%s over HTTP/3: %v", name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != body || resp.Proto != "HTTP/3.0" {
			t.Fatalf("%s over HTTP/3: %d %s %q; want 200 over HTTP/3.0 %q", name, resp.StatusCode, resp.Proto, b, body)
		}
		if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
			t.Fatalf("%s over HTTP/3: no peer certificate", name)
		}
		return resp.TLS.PeerCertificates[0]
	}
	// sameOverTCP checks the TCP listener serves the same certificate.
	sameOverTCP := func(t *testing.T, name string, leaf *x509.Certificate, cfg *tls.Config) {
		t.Helper()
		cfg.ServerName = name
		cs, err := handshake(inst.HTTPS, cfg)
		if err != nil {
			t.Fatalf("%s over TCP: %v", name, err)
		}
		if got := cs.PeerCertificates[0].SerialNumber; got.Cmp(leaf.SerialNumber) != 0 {
			t.Errorf("%s: serial %x over TCP, %x over HTTP/3; want the same certificate", name, got, leaf.SerialNumber)
		}
	}

	c := h3Client(t, pool)
	// The on-demand name first, over QUIC: nothing has asked for it yet.
	orders := p.orders()
	leaf := leafOverH3(t, c, "ok.shop.example.com", "shop")
	if !strings.HasPrefix(leaf.Issuer.CommonName, "Pebble") || leaf.VerifyHostname("ok.shop.example.com") != nil {
		t.Errorf("on-demand over HTTP/3: %v issued by %q; want a Pebble certificate for the name", leaf.DNSNames, leaf.Issuer.CommonName)
	}
	if got := p.orders() - orders; got != 1 || ask.count("ok.shop.example.com") != 1 {
		t.Errorf("on-demand over HTTP/3: %d orders, %d ask calls; want 1 and 1", got, ask.count("ok.shop.example.com"))
	}
	sameOverTCP(t, "ok.shop.example.com", leaf, &tls.Config{RootCAs: pool})
	// A name ask refuses gets no certificate over HTTP/3 either.
	if _, err := c.Get(inst.url("no.shop.example.com", "/")); err == nil {
		t.Error("no.shop.example.com (refused by ask) got an answer over HTTP/3")
	}

	for _, tc := range []struct{ name, body, issuer string }{
		{"acme.example.com", "acme site", "Pebble"},
		{"local.test", "local site", "tlsgate"},
		{"file.test", "file site", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leaf := leafOverH3(t, c, tc.name, tc.body)
			if leaf.VerifyHostname(tc.name) != nil {
				t.Errorf("certificate for %v; want %s", leaf.DNSNames, tc.name)
			}
			if tc.name == "file.test" && leaf.SerialNumber.Text(16) != fileSerial {
				t.Errorf("file.test serial %s; want the file's %s", leaf.SerialNumber.Text(16), fileSerial)
			}
			if tc.issuer != "" && !strings.Contains(leaf.Issuer.CommonName, tc.issuer) {
				t.Errorf("issuer %q; want %s", leaf.Issuer.CommonName, tc.issuer)
			}
			sameOverTCP(t, tc.name, leaf, &tls.Config{RootCAs: pool})
		})
	}

	t.Run("adhoc.test", func(t *testing.T) {
		// Self-signed: nothing to trust but the certificate itself.
		insecure := h3Client(t, pool)
		insecure.Transport.(*http3.Transport).TLSClientConfig.InsecureSkipVerify = true
		leaf := leafOverH3(t, insecure, "adhoc.test", "adhoc site")
		if leaf.VerifyHostname("adhoc.test") != nil || leaf.Issuer.String() != leaf.Subject.String() {
			t.Errorf("adhoc.test: %v issued by %q; want a self-signed certificate for adhoc.test", leaf.DNSNames, leaf.Issuer)
		}
		sameOverTCP(t, "adhoc.test", leaf, &tls.Config{InsecureSkipVerify: true})
	})
}

// TestHTTP3EdgePolicy: the site's edge policy answers the same over
// HTTP/3 as over h2, status and headers: HSTS, security and custom
// response headers, basic auth (401 with its challenge, 200 with the
// password), an IP deny list (403), a redirect, compression, and 421 for a
// request whose Host is another site than the handshake's.
func TestHTTP3EdgePolicy(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("compress me please ", 200)
	inst := startTLSGate(t, fmt.Sprintf(header+`
sites:
  - hosts: [edge.test]
    tls: local
    hsts: {max_age: 365d}
    security_headers: {content_type_nosniff: true, referrer_policy: no-referrer, frame_options: DENY}
    headers: {response: {set: {X-Site: edge}}}
    compress: true
    routes:
      - path: /private/
        basic_auth: {users: {alice: "%s"}}
        respond: {body: "secret"}
      - path: /blocked/
        deny_ips: [127.0.0.1]
        respond: {body: "never"}
      - path: /old/
        redirect: {to: "https://{host}/new/{path}", status: 301}
      - path: /
        respond: {body: "%s", headers: {Content-Type: text/plain}}
  - hosts: [other.test]
    tls: local
    routes: [{path: /, respond: {body: "other"}}]
`, hashPassword(t, "alice-pass"), big))
	pool := inst.rootPool(t)
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	// Both clients make their handshake for edge.test, whatever the URL.
	h2tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: "edge.test"},
		ForceAttemptHTTP2: true,
		DialContext:       loopbackDialer,
	}
	t.Cleanup(h2tr.CloseIdleConnections)
	h3tr := &http3.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		Dial: func(ctx context.Context, addr string, tlsCfg *tls.Config, cfg *quic.Config) (*quic.Conn, error) {
			tlsCfg = tlsCfg.Clone()
			tlsCfg.ServerName = "edge.test"
			return quic.DialAddr(ctx, inst.HTTPS, tlsCfg, cfg)
		},
	}
	t.Cleanup(func() { h3tr.Close() })
	clients := map[string]*http.Client{
		"HTTP/2.0": {Transport: h2tr, Timeout: 10 * time.Second, CheckRedirect: noRedirect},
		"HTTP/3.0": {Transport: h3tr, Timeout: 10 * time.Second, CheckRedirect: noRedirect},
	}
	compared := []string{"Strict-Transport-Security", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options",
		"X-Site", "Www-Authenticate", "Location", "Content-Encoding", "Content-Type"}

	cases := []struct {
		name, host, path string
		user             bool
		wantStatus       int
	}{
		{"plain", "edge.test", "/", false, 200},
		{"no password", "edge.test", "/private/", false, 401},
		{"password", "edge.test", "/private/", true, 200},
		{"deny_ips", "edge.test", "/blocked/", false, 403},
		{"redirect", "edge.test", "/old/x", false, 301},
		{"another site's Host", "other.test", "/", false, 421},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			type answer struct {
				status int
				header http.Header
				body   string
			}
			got := map[string]answer{}
			for proto, c := range clients {
				req, _ := http.NewRequest("GET", inst.url(tc.host, tc.path), nil)
				req.Header.Set("Accept-Encoding", "gzip")
				if tc.user {
					req.SetBasicAuth("alice", "alice-pass")
				}
				resp, err := c.Do(req)
				if err != nil {
					t.Fatalf("%s: %v", proto, err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.Proto != proto {
					t.Fatalf("answer over %s; want %s", resp.Proto, proto)
				}
				got[proto] = answer{resp.StatusCode, resp.Header, string(b)}
			}
			h2, h3 := got["HTTP/2.0"], got["HTTP/3.0"]
			if h2.status != tc.wantStatus || h3.status != tc.wantStatus {
				t.Errorf("status %d over h2, %d over HTTP/3; want %d", h2.status, h3.status, tc.wantStatus)
			}
			for _, k := range compared {
				if a, b := h2.header.Values(k), h3.header.Values(k); strings.Join(a, "\n") != strings.Join(b, "\n") {
					t.Errorf("%s: %q over h2, %q over HTTP/3; want the same", k, a, b)
				}
			}
			if h2.body != h3.body {
				t.Errorf("bodies differ: h2 %d bytes, HTTP/3 %d bytes", len(h2.body), len(h3.body))
			}
			if tc.name == "plain" && h3.header.Get("Content-Encoding") != "gzip" {
				t.Errorf("HTTP/3 answer Content-Encoding %q; want gzip", h3.header.Get("Content-Encoding"))
			}
			if tc.name == "plain" && h3.header.Get("Strict-Transport-Security") == "" {
				t.Error("HTTP/3 answer without Strict-Transport-Security")
			}
		})
	}
}
