package proxy

import (
	"fmt"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/config"
)

// resetBackend reads each request with its body, counts it, and resets
// the connection without answering: the upstream may have acted on it.
func resetBackend(t *testing.T) (url string, hits *atomic.Int64) {
	t.Helper()
	hits = new(atomic.Int64)
	srv := echoBackendHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		hits.Add(1)
		c, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // RST, not FIN
		}
		c.Close()
	}))
	return srv.URL, hits
}

func TestRetries(t *testing.T) {
	big := strings.Repeat("x", MaxReplayBody+1)
	cases := []struct {
		name     string
		method   string
		body     string
		retries  int
		wantCode int
		wantHits int64 // requests the resetting backend saw
		wantBody string
	}{
		{name: "GET retried", method: "GET", retries: 1, wantCode: 200, wantHits: 1},
		{name: "PUT body replayed", method: "PUT", body: "hello", retries: 1, wantCode: 200, wantHits: 1, wantBody: "hello"},
		{name: "DELETE retried", method: "DELETE", retries: 1, wantCode: 200, wantHits: 1},
		// POST may have been acted on: never sent twice.
		{name: "POST not retried", method: "POST", body: "pay", retries: 1, wantCode: 502, wantHits: 1},
		{name: "PATCH not retried", method: "PATCH", body: "p", retries: 1, wantCode: 502, wantHits: 1},
		// Too big to keep: streamed once, so not retried.
		{name: "PUT over MaxReplayBody not retried", method: "PUT", body: big, retries: 1, wantCode: 502, wantHits: 1},
		{name: "no retries configured", method: "GET", retries: 0, wantCode: 502, wantHits: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad, hits := resetBackend(t)
			good := echoBackend(t, "good")
			// lb first: the resetting backend is always tried first.
			srv := frontend(t, Options{Upstreams: []string{bad, good.URL}, LB: config.LBFirst, Retries: tc.retries})
			code, s, raw := do(t, srv.Client(), tc.method, srv.URL+"/x", tc.body, nil)
			if code != tc.wantCode {
				t.Fatalf("%s = %d %q; want %d", tc.method, code, raw, tc.wantCode)
			}
			if got := hits.Load(); got != tc.wantHits {
				t.Errorf("resetting backend saw %d requests; want %d", got, tc.wantHits)
			}
			if code == 200 && (s.Name != "good" || s.Body != tc.wantBody) {
				t.Errorf("answered by %q with body %q; want good with %q", s.Name, s.Body, tc.wantBody)
			}
		})
	}
}

// A refused connect never reached the upstream: every method moves on,
// body intact, retries or not.
func TestRefusedDialMovesOnForPOST(t *testing.T) {
	good := echoBackend(t, "good")
	dead := deadUpstream(t)
	health := NewHealth(HealthOptions{Logger: testLogger(t)})
	srv := frontend(t, Options{Upstreams: []string{dead, good.URL}, LB: config.LBFirst, Name: "r", Health: health})
	code, s, raw := do(t, srv.Client(), "POST", srv.URL+"/x", "order", nil)
	if code != 200 || s.Name != "good" || s.Body != "order" {
		t.Fatalf("POST = %d %q (%q, body %q); want 200 from good with the body", code, raw, s.Name, s.Body)
	}
	// tlsgate_upstream_requests_total counts each attempt.
	for _, c := range []struct{ upstream, outcome string }{{dead, "connect_error"}, {good.URL, "ok"}} {
		if got := testutil.ToFloat64(health.requests.WithLabelValues("r", c.upstream, c.outcome)); got != 1 {
			t.Errorf("requests{upstream=%s,outcome=%s} = %v; want 1", c.upstream, c.outcome, got)
		}
	}
}

func TestRetryOn(t *testing.T) {
	var hits atomic.Int64
	busy := echoBackendHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	good := echoBackend(t, "good")
	srv := frontend(t, Options{Upstreams: []string{busy.URL, good.URL}, LB: config.LBFirst, Retries: 1, RetryOn: []int{503}})
	if code, s, raw := do(t, srv.Client(), "GET", srv.URL+"/x", "", nil); code != 200 || s.Name != "good" {
		t.Fatalf("GET = %d %q; want 200 from good", code, raw)
	}
	// POST is not retried: the 503 goes to the client as the upstream sent it.
	if code, _, raw := do(t, srv.Client(), "POST", srv.URL+"/x", "b", nil); code != 503 {
		t.Fatalf("POST = %d %q; want the upstream's 503", code, raw)
	}
	if got := hits.Load(); got != 2 {
		t.Errorf("busy backend saw %d requests; want 2", got)
	}
}

// Passive health: fail_after 503 answers within the window take the
// upstream out for the cooldown; after it, traffic returns.
func TestPassiveHealth(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	var hits atomic.Int64
	flaky := echoBackendHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		echoHandler("flaky").ServeHTTP(w, r)
	}))
	good := echoBackend(t, "good")
	rec := &recorder{}
	var clock atomic.Int64 // seconds after an epoch; the test moves it
	now := func() time.Time { return time.Unix(1e9+clock.Load(), 0) }
	health := NewHealth(HealthOptions{Logger: testLogger(t), OnChange: rec.add, Now: now})
	srv := frontend(t, Options{Upstreams: []string{flaky.URL, good.URL}, LB: config.LBFirst, Name: "r", Health: health,
		Passive: Passive{FailAfter: 2, Window: time.Minute, Cooldown: 30 * time.Second}})
	for i := range 2 {
		if code, _, _ := do(t, srv.Client(), "GET", srv.URL+"/x", "", nil); code != 503 {
			t.Fatalf("request %d = %d; want flaky's 503", i, code)
		}
	}
	if code, s, _ := do(t, srv.Client(), "GET", srv.URL+"/x", "", nil); code != 200 || s.Name != "good" {
		t.Fatalf("after 2 failures: %d from %q; want 200 from good", code, s.Name)
	}
	if got := hits.Load(); got != 2 {
		t.Fatalf("flaky saw %d requests; want 2 (out of rotation)", got)
	}
	failing.Store(false)
	clock.Add(29)
	if _, s, _ := do(t, srv.Client(), "GET", srv.URL+"/x", "", nil); s.Name != "good" {
		t.Fatalf("within the cooldown answered by %q; want good", s.Name)
	}
	clock.Add(2)
	if _, s, _ := do(t, srv.Client(), "GET", srv.URL+"/x", "", nil); s.Name != "flaky" {
		t.Fatalf("after the cooldown answered by %q; want flaky back", s.Name)
	}
	changes := rec.list()
	if len(changes) != 2 || changes[0].Up || !changes[1].Up {
		t.Fatalf("changes = %+v; want down then up", changes)
	}
	if want := fmt.Sprint(503); !strings.Contains(changes[0].Reason, want) {
		t.Errorf("down reason %q does not name %s", changes[0].Reason, want)
	}
}

// An upstream that dies in the middle of a small answer is retried: the
// body was read whole before the client saw anything.
func TestRetryMidBody(t *testing.T) {
	var hits atomic.Int64
	cut := echoBackendHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: text/plain\r\n\r\nonly part")
		brw.Flush()
		c.Close()
	}))
	good := echoBackend(t, "good")
	srv := frontend(t, Options{Upstreams: []string{cut.URL, good.URL}, LB: config.LBFirst, Retries: 1})
	if code, s, raw := do(t, srv.Client(), "GET", srv.URL+"/x", "", nil); code != 200 || s.Name != "good" {
		t.Fatalf("GET = %d %q; want 200 from good", code, raw)
	}
	if hits.Load() != 1 {
		t.Errorf("cut backend saw %d requests; want 1", hits.Load())
	}
}
