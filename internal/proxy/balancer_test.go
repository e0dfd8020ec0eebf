package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/config"
)

func TestRetryOnRefusedConnection(t *testing.T) {
	live := echoBackend(t, "live")
	for _, lb := range []string{config.LBFirst, config.LBRoundRobin, config.LBLeastConn} {
		t.Run(lb, func(t *testing.T) {
			// The dead upstream comes first, so "first" always needs the retry.
			srv := frontend(t, Options{Upstreams: []string{deadUpstream(t), live.URL}, LB: lb})
			for i := range 4 {
				body := fmt.Sprintf("payload %d", i)
				status, s, raw := do(t, srv.Client(), "POST", srv.URL+"/submit", body, nil)
				if status != 200 {
					t.Fatalf("request %d: status %d: %s", i, status, raw)
				}
				if s.Name != "live" || s.Body != body || s.Method != "POST" {
					t.Errorf("request %d: backend %q got %s %q; want live POST %q", i, s.Name, s.Method, s.Body, body)
				}
			}
		})
	}
}

func TestAllUpstreamsRefuse(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprint(n, " upstreams"), func(t *testing.T) {
			var ups []string
			for range n {
				ups = append(ups, deadUpstream(t))
			}
			ups = append(ups, "unix:/nonexistent/app.sock")
			srv := frontend(t, Options{Upstreams: ups})
			for range 2 { // the second request meets upstreams in cooldown
				status, _, raw := do(t, srv.Client(), "POST", srv.URL+"/", "data", nil)
				if status != http.StatusBadGateway {
					t.Fatalf("status %d; want 502", status)
				}
				if raw != string(unreachableBody) {
					t.Errorf("body %q; want %q", raw, unreachableBody)
				}
			}
		})
	}
}

func TestUpstreamTimeout(t *testing.T) {
	release := make(chan struct{})
	slow := echoBackendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) })
	srv := frontend(t, Options{Upstreams: []string{slow}, ResponseHeaderTimeout: 50 * time.Millisecond})
	status, _, raw := do(t, srv.Client(), "GET", srv.URL+"/", "", nil)
	if status != http.StatusGatewayTimeout {
		t.Fatalf("status %d; want 504", status)
	}
	if raw != string(timeoutBody) {
		t.Errorf("body %q; want %q", raw, timeoutBody)
	}
}

// TestTimeoutSparesStreamingBody: the timeout covers the wait for headers,
// not a body that keeps coming after them.
func TestTimeoutSparesStreamingBody(t *testing.T) {
	const timeout = 50 * time.Millisecond
	up := echoBackendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		for i := range 4 {
			fmt.Fprintf(w, "chunk %d\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(timeout) // 4×timeout in all, after headers went out
		}
	})
	srv := frontend(t, Options{Upstreams: []string{up}, ResponseHeaderTimeout: timeout})
	status, _, raw := do(t, srv.Client(), "GET", srv.URL+"/", "", nil)
	if status != 200 || raw != "chunk 0\nchunk 1\nchunk 2\nchunk 3\n" {
		t.Errorf("got %d %q; want the whole stream", status, raw)
	}
}

func TestServerSentEventsStream(t *testing.T) {
	firstSeen := make(chan struct{})
	up := echoBackendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		// Finish only once the client has read the first event through the
		// proxy: if the proxy buffered, this would never happen.
		select {
		case <-firstSeen:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "data: two\n\n")
	})
	srv := frontend(t, Options{Upstreams: []string{up}})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/events", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: one\n" {
		t.Fatalf("first event: %q, %v (was the stream buffered?)", line, err)
	}
	close(firstSeen)
	rest, _ := io.ReadAll(br)
	if string(rest) != "\ndata: two\n\n" {
		t.Errorf("rest %q", rest)
	}
}

// upgradeEcho answers an Upgrade: websocket request with 101 and then
// echoes the raw bytes on the connection.
func upgradeEcho(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") != "websocket" {
		http.Error(w, "want upgrade", http.StatusBadRequest)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	brw.Flush()
	io.Copy(conn, brw)
}

// checkUpgradeEcho upgrades a connection to the proxy at addr to a
// WebSocket (101 from upgradeEcho behind it) and checks each message
// comes back.
func checkUpgradeEcho(t *testing.T, addr string, msgs ...string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second)) // never hang the test
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d; want 101", resp.StatusCode)
	}
	for _, msg := range msgs {
		io.WriteString(conn, msg)
		if got, err := br.ReadString('\n'); err != nil || got != msg {
			t.Fatalf("echo %q, %v; want %q", got, err, msg)
		}
	}
}

func TestWebSocketUpgrade(t *testing.T) {
	tcp := echoBackendFunc(t, upgradeEcho)
	unix := unixBackend(t, http.HandlerFunc(upgradeEcho))
	for _, lb := range []string{config.LBRoundRobin, config.LBLeastConn} {
		for name, up := range map[string]string{"tcp": tcp, "unix": unix} {
			t.Run(lb+"/"+name, func(t *testing.T) {
				srv := frontend(t, Options{Upstreams: []string{up}, LB: lb})
				checkUpgradeEcho(t, srv.Listener.Addr().String(), "hello\n", "again\n")
			})
		}
	}
}

func TestUnixUpstream(t *testing.T) {
	up := unixBackend(t, echoHandler("sock"))
	srv := frontend(t, Options{Upstreams: []string{up}})
	host := strings.TrimPrefix(srv.URL, "http://")
	status, s, raw := do(t, srv.Client(), "POST", srv.URL+"/a?b=c", "body", nil)
	if status != 200 {
		t.Fatalf("status %d: %s", status, raw)
	}
	if s.Name != "sock" || s.Host != host || s.URI != "/a?b=c" || s.Body != "body" {
		t.Errorf("backend saw %+v; want Host %q URI /a?b=c body", s, host)
	}
}

func TestRoundRobin(t *testing.T) {
	names := []string{"a", "b", "c"}
	var ups []string
	for _, n := range names {
		ups = append(ups, echoBackend(t, n).URL)
	}
	srv := frontend(t, Options{Upstreams: ups})
	count := map[string]int{}
	for range 30 {
		_, s, _ := do(t, srv.Client(), "GET", srv.URL+"/", "", nil)
		count[s.Name]++
	}
	for _, n := range names {
		if count[n] != 10 {
			t.Errorf("distribution %v; want 10 each", count)
			break
		}
	}
}

func TestFirst(t *testing.T) {
	a, b := echoBackend(t, "a"), echoBackend(t, "b")
	srv := frontend(t, Options{Upstreams: []string{a.URL, b.URL}, LB: config.LBFirst})
	for range 5 {
		if _, s, _ := do(t, srv.Client(), "GET", srv.URL+"/", "", nil); s.Name != "a" {
			t.Fatalf("served by %q; want a (first)", s.Name)
		}
	}
	a.Close()
	for range 3 {
		if _, s, _ := do(t, srv.Client(), "GET", srv.URL+"/", "", nil); s.Name != "b" {
			t.Fatalf("served by %q after a died; want b", s.Name)
		}
	}
}

// TestLeastConn: while one backend holds a request, the other gets all new
// ones; round robin would keep sending every second request to the busy one.
func TestLeastConn(t *testing.T) {
	release := make(chan struct{})
	busyGot := make(chan struct{}, 16)
	busy := echoBackendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		busyGot <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		io.WriteString(w, `{"name":"busy"}`)
	})
	idle := echoBackend(t, "idle")
	srv := frontend(t, Options{Upstreams: []string{busy, idle.URL}, LB: config.LBLeastConn})

	var wg sync.WaitGroup
	defer func() { close(release); wg.Wait() }()
	served := make(chan string, 16)
	busyCount := 0
	for range 10 {
		wg.Go(func() {
			resp, err := srv.Client().Get(srv.URL + "/")
			if err != nil {
				served <- "error: " + err.Error()
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			served <- string(body)
		})
		// Wait for this request to land somewhere before sending the next.
		select {
		case <-busyGot:
			busyCount++
		case s := <-served:
			if !strings.Contains(s, `"name":"idle"`) {
				t.Errorf("unexpected answer %q", s)
			}
		}
	}
	if busyCount > 1 {
		t.Errorf("busy backend got %d requests; want at most 1", busyCount)
	}
}

// echoBackendFunc starts a backend running f and returns its URL.
func echoBackendFunc(t *testing.T, f http.HandlerFunc) string {
	t.Helper()
	return echoBackendHandler(t, f).URL
}

// TestZeroTimeoutsMeanNone: proxy has no timeout defaults of its own
// (config's timeout and dial_timeout defaults fill them): zero options
// make a pool without a dial or header timeout, and the configured values
// make their own.
func TestZeroTimeoutsMeanNone(t *testing.T) {
	tr := NewTransport()
	t.Cleanup(tr.CloseIdleConnections)
	for _, o := range []Options{
		{Upstreams: []string{"http://127.0.0.1:1"}, Transport: tr},
		{Upstreams: []string{"http://127.0.0.1:1"}, Transport: tr, DialTimeout: 5 * time.Second, ResponseHeaderTimeout: time.Minute},
	} {
		if _, err := New(o); err != nil {
			t.Fatal(err)
		}
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, k := range []timeouts{{0, 0}, {5 * time.Second, time.Minute}} {
		p, ok := tr.pools[k]
		if !ok {
			t.Fatalf("no pool for %+v; pools %v", k, tr.pools)
		}
		if p.header != k.header || p.dialer.Timeout != k.dial || p.std.ResponseHeaderTimeout != k.header {
			t.Errorf("pool %+v: header %s, dial %s, std header %s", k, p.header, p.dialer.Timeout, p.std.ResponseHeaderTimeout)
		}
	}
	if len(tr.pools) != 2 {
		t.Errorf("%d pools; want 2", len(tr.pools))
	}
}
