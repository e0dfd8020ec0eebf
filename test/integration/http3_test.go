package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/tlsgate/tlsgate/test/testenv"
)

// http3Config serves one site; listen.http3 is {{.Vars.H3}} when set
// (the default, the https address, when the line says so).
const http3Config = `data_dir: {{.DataDir}}
listen: {http: "{{.HTTP}}", https: "{{.HTTPS}}"{{.Vars.H3}}}
admin: "{{.Admin}}"
shutdown_timeout: 10s
sites:
  - hosts: [a.test]
    tls: local
    routes:
      - path: /echo/
        to: ["{{.Vars.Echo}}"]
`

// h3Client is an HTTP/3 client that trusts pool and sends every name's
// QUIC packets to 127.0.0.1 (the URL's port), with the URL's host as SNI.
func h3Client(t *testing.T, pool *x509.CertPool) *http.Client {
	t.Helper()
	tr := &http3.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		Dial: func(ctx context.Context, addr string, tlsCfg *tls.Config, cfg *quic.Config) (*quic.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			tlsCfg = tlsCfg.Clone()
			tlsCfg.ServerName = host
			return quic.DialAddr(ctx, net.JoinHostPort("127.0.0.1", port), tlsCfg, cfg)
		},
	}
	t.Cleanup(func() { tr.Close() })
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// TestHTTP3: HTTP/3 on the https port by default reaches the backend the way
// h2 does, h1/h2 answers announce it, a reload rebinds a changed address,
// and SIGTERM with an HTTP/3 connection open still stops cleanly.
func TestHTTP3(t *testing.T) {
	t.Parallel()
	echo := echoBackend(t, "echo")
	vars := map[string]string{"Echo": echo, "H3": ""}
	inst := startTLSGateVars(t, vars, http3Config)
	pool := inst.rootPool(t)
	h2 := inst.client(t, pool, true)
	h3 := h3Client(t, pool)

	// The UDP port is taken: tlsgate holds it.
	if pc, err := net.ListenPacket("udp", inst.HTTPS); err == nil {
		pc.Close()
		t.Fatalf("UDP %s was free; want tlsgate's HTTP/3 socket on it", inst.HTTPS)
	}

	want := fmt.Sprintf(`h3=":%d"; ma=86400`, inst.HTTPSPort)
	resp, err := h2.Get(inst.url("a.test", "/echo/x"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if got := resp.Header.Values("Alt-Svc"); len(got) != 1 || got[0] != want {
		t.Errorf("h2 answer Alt-Svc %q; want %q", got, want)
	}

	req, _ := http.NewRequest("GET", inst.url("a.test", "/echo/x?y=1"), nil)
	req.Header.Set("X-Forwarded-Proto", "http") // spoofed; replaced
	resp, err = h3.Do(req)
	if err != nil {
		t.Fatalf("GET over HTTP/3: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Proto != "HTTP/3.0" {
		t.Fatalf("HTTP/3 GET: %d %s: %s; want 200 over HTTP/3.0", resp.StatusCode, resp.Proto, body)
	}
	if a := resp.Header.Values("Alt-Svc"); len(a) != 0 {
		t.Errorf("HTTP/3 answer carries Alt-Svc %q; want none (it is already HTTP/3)", a)
	}
	e := decodeEcho(t, string(body))
	checks := []struct{ header, want string }{
		{"X-Forwarded-Proto", "https"},
		{"X-Forwarded-Host", fmt.Sprintf("a.test:%d", inst.HTTPSPort)},
		{"X-Forwarded-For", "127.0.0.1"},
	}
	for _, c := range checks {
		if got := e.values(c.header); len(got) != 1 || got[0] != c.want {
			t.Errorf("backend got %s %q over HTTP/3; want exactly %q", c.header, got, c.want)
		}
	}
	if e.Path != "/echo/x" || e.RawQuery != "y=1" {
		t.Errorf("backend got path %q query %q; want /echo/x y=1", e.Path, e.RawQuery)
	}

	// A reload that moves HTTP/3 rebinds the UDP socket and announces it.
	newPort := testenv.FreePort(t)
	vars["H3"] = fmt.Sprintf(`, http3: "127.0.0.1:%d"`, newPort)
	inst.writeConfig(t, http3Config)
	inst.Signal(t, syscall.SIGHUP)
	want = fmt.Sprintf(`h3=":%d"; ma=86400`, newPort)
	testenv.Eventually(t, 10*time.Second, "Alt-Svc with the new HTTP/3 port after reload", func() error {
		resp, err := h2.Get(inst.url("a.test", "/echo/x"))
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if got := resp.Header.Get("Alt-Svc"); got != want {
			return fmt.Errorf("Alt-Svc %q; want %q", got, want)
		}
		return nil
	})
	resp, err = h3.Get(fmt.Sprintf("https://a.test:%d/echo/moved", newPort))
	if err != nil {
		t.Fatalf("GET over HTTP/3 on the new port: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("HTTP/3 on the new port: status %d", resp.StatusCode)
	}
	if pc, err := net.ListenPacket("udp", inst.HTTPS); err != nil {
		t.Errorf("the old HTTP/3 address %s is still bound after the reload: %v", inst.HTTPS, err)
	} else {
		pc.Close()
	}

	// SIGTERM with the HTTP/3 connection still open: GOAWAY, clean exit.
	start := time.Now()
	inst.Signal(t, syscall.SIGTERM)
	if code := inst.WaitExit(t, 15*time.Second); code != 0 {
		t.Fatalf("tlsgate exited %d after SIGTERM; want 0\nstderr:\n%s", code, inst.Stderr)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("shutdown took %s with an idle HTTP/3 connection open; want it well under shutdown_timeout (10s)", d)
	}
	if s := inst.Stderr.String(); strings.Contains(s, "cut off") {
		t.Errorf("shutdown cut requests off:\n%s", s)
	}
}

// TestHTTP3Off: listen.http3 "" binds no UDP socket and announces nothing.
func TestHTTP3Off(t *testing.T) {
	t.Parallel()
	inst := startTLSGateVars(t, map[string]string{"Echo": echoBackend(t, "echo"), "H3": `, http3: ""`}, http3Config)
	pc, err := net.ListenPacket("udp", inst.HTTPS)
	if err != nil {
		t.Fatalf("UDP %s is bound with http3 \"\": %v", inst.HTTPS, err)
	}
	pc.Close()
	resp, err := inst.client(t, inst.rootPool(t), true).Get(inst.url("a.test", "/echo/x"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if a := resp.Header.Values("Alt-Svc"); len(a) != 0 {
		t.Errorf("Alt-Svc %q with http3 \"\"; want none", a)
	}
}

// TestHTTP3PortTaken: a UDP port in use stops the start with a clear error,
// as a TCP one does.
func TestHTTP3PortTaken(t *testing.T) {
	t.Parallel()
	g := newGateConfig(t)
	pc, err := net.ListenPacket("udp", g.HTTPS)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	g.Vars = map[string]string{"Echo": "http://127.0.0.1:1", "H3": ""}
	path := writeFile(t, g.Dir, "tlsgate.yaml", g.render(t, http3Config))
	r := tlsgate(t, g.Dir, "run", "-c", path)
	if r.Code == 0 || !strings.Contains(r.Stderr, "http3 UDP address "+g.HTTPS+" is already in use") {
		t.Fatalf("want a failed start naming the taken UDP address; got %s", r)
	}
}

// TestHTTP3ClientAuth: client_auth decides over HTTP/3 as over h2: no
// certificate, no request; alice's certificate gets through and the backend
// sees the same client identity headers.
func TestHTTP3ClientAuth(t *testing.T) {
	t.Parallel()
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
	crt, key := filepath.Join(dir, "alice.crt"), filepath.Join(dir, "alice.key")
	if r := tlsgate(t, dir, "ca", "issue", "alice@example.com", "--client", "--data-dir", inst.DataDir,
		"--cert-out", crt, "--key-out", key); r.Code != 0 {
		t.Fatalf("ca issue --client: %s", r)
	}
	pair, err := tls.LoadX509KeyPair(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	pool := inst.rootPool(t)
	url := inst.url("mtls.test", "/who")

	if resp, err := h3Client(t, pool).Get(url); err == nil {
		resp.Body.Close()
		t.Fatalf("HTTP/3 without a client certificate got %d; want the handshake refused", resp.StatusCode)
	}

	h3 := h3Client(t, pool)
	h3.Transport.(*http3.Transport).TLSClientConfig.Certificates = []tls.Certificate{pair}
	h2tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}},
		ForceAttemptHTTP2: true,
		DialContext:       loopbackDialer,
	}
	t.Cleanup(h2tr.CloseIdleConnections)
	h2 := &http.Client{Transport: h2tr, Timeout: 10 * time.Second}

	got := map[string]echoed{}
	for name, c := range map[string]*http.Client{"h2": h2, "h3": h3} {
		req, _ := http.NewRequest("GET", url, nil)
		got[name] = doEcho(t, c, req)
	}
	for _, h := range []string{"X-Client-Cert-Subject", "X-Client-Cert-Fingerprint", "Client-Cert", "X-Forwarded-Proto"} {
		a, b := got["h2"].get(h), got["h3"].get(h)
		if a == "" || a != b {
			t.Errorf("backend got %s %q over h2 and %q over HTTP/3; want the same, not empty", h, a, b)
		}
	}
	if s := got["h3"].get("X-Client-Cert-Subject"); !strings.Contains(s, "alice@example.com") {
		t.Errorf("HTTP/3: backend got X-Client-Cert-Subject %q; want alice's", s)
	}
}

// TestHTTP3InFlight: an HTTP/3 request waiting on a slow backend completes
// across a SIGHUP reload, and one in flight at SIGTERM completes before
// tlsgate exits 0.
func TestHTTP3InFlight(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 1)
	slow := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(time.Second):
		}
		io.WriteString(w, "finished")
	}))
	inst := startTLSGateVars(t, map[string]string{"Echo": slow, "H3": ""}, http3Config)
	h3 := h3Client(t, inst.rootPool(t))

	// during sends one request, gives sig once the backend has it, and
	// checks the answer arrives whole.
	during := func(sig syscall.Signal, after func()) {
		t.Helper()
		type result struct {
			code int
			body string
			err  error
		}
		done := make(chan result, 1)
		go func() {
			resp, err := h3.Get(inst.url("a.test", "/echo/slow"))
			if err != nil {
				done <- result{err: err}
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			done <- result{resp.StatusCode, string(b), err}
		}()
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("the HTTP/3 request never reached the backend")
		}
		inst.Signal(t, sig)
		after()
		select {
		case r := <-done:
			if r.err != nil || r.code != 200 || r.body != "finished" {
				t.Errorf("HTTP/3 request in flight at %v: %d %q %v; want 200 finished", sig, r.code, r.body, r.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the in-flight HTTP/3 request did not end within 10s of %v", sig)
		}
	}
	during(syscall.SIGHUP, func() { inst.mustLog(t, "config reloaded", 5*time.Second) })
	during(syscall.SIGTERM, func() {})
	if code := inst.WaitExit(t, 15*time.Second); code != 0 {
		t.Fatalf("tlsgate exited %d after SIGTERM; want 0\nstderr:\n%s", code, inst.Stderr)
	}
}
