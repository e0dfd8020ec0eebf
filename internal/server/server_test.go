package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/proxy"
)

// testServer runs a Server whose config comes from yaml, which may be
// replaced between reloads. Listeners use 127.0.0.1:0.
type testServer struct {
	*Server
	mu     sync.Mutex
	yaml   string
	cancel context.CancelFunc
	done   chan error
}

func (ts *testServer) setConfig(yaml string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.yaml = yaml
}

func startServer(t *testing.T, yaml string) *testServer {
	t.Helper()
	dataDir := filepath.Join(t.TempDir(), "data")
	ts := &testServer{yaml: yaml, done: make(chan error, 1)}
	load := func() (*config.Config, error) {
		ts.mu.Lock()
		text := "data_dir: " + dataDir + "\nadmin: \"\"\n" + ts.yaml
		ts.mu.Unlock()
		return config.Parse(filepath.Join(dataDir, "tlsgate.yaml"), []byte(text), config.LoadOptions{})
	}
	srv, err := New(context.Background(), Options{
		Load:   load,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts.Server = srv
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	go func() { ts.done <- srv.Run(ctx, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ts.done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return ts
}

const twoSites = `listen: {http: "127.0.0.1:0", https: "127.0.0.1:0"}
sites:
  - hosts: [a.test]
    routes: [{path: /, respond: {body: "site a"}}]
  - hosts: [b.test]
    routes: [{path: /, respond: {body: "site b"}}]
`

// get sends one request over a TLS connection made with serverName (the
// certificate is not checked here) and Host header host.
func get(t *testing.T, addr net.Addr, serverName, host string) (int, string) {
	t.Helper()
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: serverName, InsecureSkipVerify: true},
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr.String())
		},
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + host + "/")
	if err != nil {
		t.Fatalf("GET with SNI %q Host %q: %v", serverName, host, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestHostAndSNI(t *testing.T) {
	ts := startServer(t, twoSites+`  - hosts: [c.test]
    strict_host: false
    routes: [{path: /, respond: {body: "site c"}}]
`)
	addr := ts.Addr("https")
	tests := []struct {
		name, sni, host string
		status          int
		body            string
	}{
		{"matching", "a.test", "a.test", 200, "site a"},
		{"other site", "b.test", "b.test", 200, "site b"},
		// A connection made for a.test must not reach b.test's site.
		{"host of another site", "a.test", "b.test", http.StatusMisdirectedRequest, ""},
		// strict_host (the default): an unknown Host is refused, as Caddy does.
		{"unknown host", "a.test", "x.test", http.StatusMisdirectedRequest, ""},
		// strict_host: false sends it to the connection's site, like nginx's default server.
		{"unknown host, strict_host false", "c.test", "x.test", 200, "site c"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := get(t, addr, tc.sni, tc.host)
			if status != tc.status || tc.body != "" && body != tc.body {
				t.Errorf("got %d %q; want %d %q", status, body, tc.status, tc.body)
			}
		})
	}
}

// TestLeanH1FollowsConfig: lean_h1 (default true) reaches the shared
// upstream transport at start and on every reload.
func TestLeanH1FollowsConfig(t *testing.T) {
	ts := startServer(t, twoSites)
	for _, step := range []struct {
		yaml string
		want bool
	}{{"", true}, {"lean_h1: false\n", false}, {"lean_h1: true\n", true}, {"lean_h1: false\n", false}, {"", true}} {
		ts.setConfig(step.yaml + twoSites)
		if err := ts.Reload(context.Background()); err != nil {
			t.Fatalf("Reload with %q: %v", step.yaml, err)
		}
		if got := ts.transport.LeanH1(); got != step.want {
			t.Errorf("config %q: lean client on = %v; want %v", step.yaml, got, step.want)
		}
	}
}

func TestReloadFailureKeepsServing(t *testing.T) {
	ts := startServer(t, twoSites)
	addr := ts.Addr("https")
	ts.setConfig("sites: [{hosts: [a.test], routes: [{path: /, bogus: 1}]}]\n")
	err := ts.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("Reload of a broken config: %v; want an error naming the bad key", err)
	}
	if status, body := get(t, addr, "a.test", "a.test"); status != 200 || body != "site a" {
		t.Errorf("after a failed reload: %d %q; want the old config serving", status, body)
	}
}

func TestReloadRebindsChangedAddress(t *testing.T) {
	ts := startServer(t, twoSites)
	old := ts.Addr("https")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	newAddr := ln.Addr().String()
	ln.Close()
	ts.setConfig(strings.Replace(twoSites, `https: "127.0.0.1:0"`, fmt.Sprintf("https: %q", newAddr), 1))
	if err := ts.Reload(context.Background()); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got := ts.Addr("https").String(); got != newAddr {
		t.Fatalf("https listens on %s; want %s", got, newAddr)
	}
	if status, _ := get(t, ts.Addr("https"), "a.test", "a.test"); status != 200 {
		t.Errorf("new address answers %d", status)
	}
	if c, err := net.DialTimeout("tcp", old.String(), time.Second); err == nil {
		c.Close()
		t.Errorf("old address %s still accepts connections", old)
	}
}

func TestReloadBindFailureChangesNothing(t *testing.T) {
	ts := startServer(t, twoSites)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	ts.setConfig(strings.Replace(twoSites, `https: "127.0.0.1:0"`, fmt.Sprintf("https: %q", busy.Addr()), 1))
	err = ts.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("Reload onto a busy port: %v; want 'already in use'", err)
	}
	if status, _ := get(t, ts.Addr("https"), "b.test", "b.test"); status != 200 {
		t.Errorf("after a failed rebind the old listener answers %d", status)
	}
}

func TestListenErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, err = listen("https", busy.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "already in use") || !strings.Contains(err.Error(), "listen.https") {
		t.Errorf("busy port: %v; want a message naming the address and listen.https", err)
	}
	sock := filepath.Join(t.TempDir(), "admin.sock")
	ln, err := listen("admin", "unix:"+sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := listen("admin", "unix:"+sock); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second listener on a live socket: %v; want 'in use'", err)
	}
}

// TestReloadAddsClientAuthToOpenConnections: a keep-alive connection made
// before a reload that adds client_auth must not keep reaching the site.
func TestReloadAddsClientAuthToOpenConnections(t *testing.T) {
	ts := startServer(t, twoSites)
	addr := ts.Addr("https")
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: "a.test", InsecureSkipVerify: true},
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr.String())
		},
		MaxConnsPerHost: 1,
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	status := func() int {
		t.Helper()
		resp, err := c.Get("https://a.test/")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status(); got != 200 {
		t.Fatalf("before the reload: %d", got)
	}
	ts.setConfig(strings.Replace(twoSites, "  - hosts: [a.test]\n", "  - hosts: [a.test]\n    client_auth: {mode: require, local_ca: true}\n", 1))
	if err := ts.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := status(); got != http.StatusMisdirectedRequest {
		t.Errorf("the connection made before client_auth was added got %d; want 421", got)
	}
}

func TestDropUnderscoreLookalikes(t *testing.T) {
	h := http.Header{
		"X_client_cert_subject": {"CN=admin"},
		"X_forwarded_for":       {"6.6.6.6"},
		"X_real_ip":             {"6.6.6.6"},
		"Client_cert":           {":AAAA:"},
		"X_app_token":           {"keep"},
		"X-Forwarded-For":       {"kept for the proxy to replace"},
	}
	proxy.DropLookalikes(h)
	for _, gone := range []string{"X_client_cert_subject", "X_forwarded_for", "X_real_ip", "Client_cert"} {
		if _, ok := h[gone]; ok {
			t.Errorf("%s reached the backend", gone)
		}
	}
	if h.Get("X_app_token") == "" || h.Get("X-Forwarded-For") == "" {
		t.Errorf("dropped a header it should keep: %v", h)
	}
}

// TestSessionsResumeAcrossReloadAndRotation: TLS sessions issued before a
// reload or a key rotation still resume after it, and a ticket of one site
// does not resume on another.
func TestSessionsResumeAcrossReloadAndRotation(t *testing.T) {
	ts := startServer(t, twoSites)
	cfg := &tls.Config{ServerName: "a.test", InsecureSkipVerify: true, ClientSessionCache: tls.NewLRUClientSessionCache(8)}
	resumed := func() bool {
		t.Helper()
		c, err := tls.Dial("tcp", ts.Addr("https").String(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// A request and its answer carry the TLS 1.3 ticket to the client.
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
		io.Copy(io.Discard, c)
		return c.ConnectionState().DidResume
	}
	resumed() // gets a ticket
	if !resumed() {
		t.Fatal("no resumption at all")
	}
	if err := ts.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !resumed() {
		t.Error("a session from before the reload did not resume")
	}
	ts.reloadMu.Lock()
	ts.tickets.rotate(ts.rt.Load())
	ts.reloadMu.Unlock()
	if !resumed() {
		t.Error("a session from before the key rotation did not resume")
	}

	// Offer a.test's session to b.test (a client cache keyed by address, as
	// some clients do): it must not resume.
	shared := &sharedCache{}
	cfg = &tls.Config{ServerName: "a.test", InsecureSkipVerify: true, ClientSessionCache: shared}
	resumed()
	cfg = &tls.Config{ServerName: "b.test", InsecureSkipVerify: true, ClientSessionCache: shared}
	if resumed() {
		t.Error("a ticket of a.test resumed on b.test")
	}
}

// sharedCache hands the last session it got to every server name.
type sharedCache struct {
	mu sync.Mutex
	s  *tls.ClientSessionState
}

func (c *sharedCache) Get(string) (*tls.ClientSessionState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.s, c.s != nil
}

func (c *sharedCache) Put(_ string, s *tls.ClientSessionState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s != nil {
		c.s = s
	}
}

// TestAmbiguousFramingClosesConnection: a request with both Content-Length
// and Transfer-Encoding, or HTTP/1.0 with Transfer-Encoding, gets one
// answer and its connection closes (RFC 9112 6.1), so what a proxy in front
// that framed it the other way saw as body is never read as a second
// request (issue 16).
func TestAmbiguousFramingClosesConnection(t *testing.T) {
	ts := startServer(t, twoSites)
	const next = "GET /smuggled HTTP/1.1\r\nHost: a.test\r\n\r\n"
	tests := []struct{ name, raw string }{
		{"CL and TE", "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + next},
		{"HTTP/1.0 keep-alive with TE", "POST / HTTP/1.0\r\nHost: a.test\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + next},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := tls.Dial("tcp", ts.Addr("https").String(), &tls.Config{ServerName: "a.test", InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(conn, tc.raw)
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != 200 || !resp.Close {
				t.Fatalf("got %d, close %v; want 200 and Connection: close", resp.StatusCode, resp.Close)
			}
			if resp, err := http.ReadResponse(br, nil); err == nil {
				t.Fatalf("a second answer (%d) on the connection: the rest was read as a request", resp.StatusCode)
			}
		})
	}
}
