package proxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tlsgate/tlsgate/internal/testproc"
)

// healthBackend is an echo backend whose /healthz answers status, which
// the test can change, and which counts the requests it serves.
type healthBackend struct {
	*httptest.Server
	status atomic.Int32
	hits   atomic.Int64
}

func newHealthBackend(t *testing.T, name string) *healthBackend {
	t.Helper()
	b := &healthBackend{}
	b.status.Store(200)
	echo := echoHandler(name)
	b.Server = echoBackendHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.WriteHeader(int(b.status.Load()))
			return
		}
		b.hits.Add(1)
		echo.ServeHTTP(w, r)
	}))
	return b
}

// recorder collects Health changes.
type recorder struct {
	mu      sync.Mutex
	changes []Change
}

func (r *recorder) add(c Change) { r.mu.Lock(); r.changes = append(r.changes, c); r.mu.Unlock() }
func (r *recorder) list() []Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Change(nil), r.changes...)
}

var fastCheck = &HealthCheck{Path: "/healthz", Interval: 20 * time.Millisecond, Timeout: time.Second, ExpectStatus: 200, UnhealthyAfter: 2, HealthyAfter: 2}

// servedBy sends n GETs through srv and counts the backends that answered.
func servedBy(t *testing.T, srv *httptest.Server, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		code, s, body := do(t, srv.Client(), "GET", srv.URL+"/x", "", nil)
		if code != 200 {
			t.Fatalf("GET = %d %q; want 200", code, body)
		}
		got[s.Name]++
	}
	return got
}

func TestActiveHealthCheck(t *testing.T) {
	a, b := newHealthBackend(t, "a"), newHealthBackend(t, "b")
	rec := &recorder{}
	health := NewHealth(HealthOptions{Logger: testLogger(t), OnChange: rec.add})
	h, err := New(Options{Upstreams: []string{a.URL, b.URL}, Name: "site/", Health: health, HealthCheck: fastCheck, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	h.Start()
	t.Cleanup(h.Stop)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	b.status.Store(500)
	testproc.Eventually(t, 5*time.Second, "b leaves rotation", func() error {
		if got := servedBy(t, srv, 4); got["b"] != 0 {
			return fmt.Errorf("served by %v", got)
		}
		return nil
	})
	want := fmt.Sprintf(`# HELP tlsgate_upstream_healthy 1 when the upstream is in rotation, 0 when health checks or failed requests took it out.
# TYPE tlsgate_upstream_healthy gauge
tlsgate_upstream_healthy{route="site/",upstream=%q} 1
tlsgate_upstream_healthy{route="site/",upstream=%q} 0
`, a.URL, b.URL)
	if err := testutil.CollectAndCompare(health, strings.NewReader(want), "tlsgate_upstream_healthy"); err != nil {
		t.Error(err)
	}
	b.status.Store(200)
	testproc.Eventually(t, 5*time.Second, "b back in rotation", func() error {
		if got := servedBy(t, srv, 4); got["b"] == 0 {
			return fmt.Errorf("served by %v", got)
		}
		return nil
	})
	changes := rec.list()
	if len(changes) != 2 || changes[0].Up || !changes[1].Up || changes[0].Upstream != b.URL {
		t.Fatalf("changes = %+v; want b down once, then up once", changes)
	}
	if !strings.Contains(changes[0].Reason, "status 500") {
		t.Errorf("down reason = %q; want it to name the status", changes[0].Reason)
	}
}

// When every upstream fails its checks, they are tried anyway: a wrong
// health check must not take a working site down.
func TestAllUnhealthyTriedAnyway(t *testing.T) {
	a := newHealthBackend(t, "a")
	a.status.Store(500)
	health := NewHealth(HealthOptions{Logger: testLogger(t)})
	h, err := New(Options{Upstreams: []string{a.URL}, Name: "r", Health: health, HealthCheck: fastCheck, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	h.Start()
	t.Cleanup(h.Stop)
	testproc.Eventually(t, 5*time.Second, "a out of rotation", func() error {
		if l := health.List(); len(l) != 1 || l[0].Healthy {
			return fmt.Errorf("health = %+v", l)
		}
		return nil
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	if got := servedBy(t, srv, 3); got["a"] != 3 {
		t.Fatalf("served by %v; want a, tried anyway", got)
	}
}

// A reload builds a new Handler for the same route: it shares the state
// (no flap), its checkers replace the old ones, and Retain drops upstreams
// the new config no longer has.
func TestHealthSurvivesReload(t *testing.T) {
	a, b := newHealthBackend(t, "a"), newHealthBackend(t, "b")
	b.status.Store(500)
	rec := &recorder{}
	health := NewHealth(HealthOptions{Logger: testLogger(t), OnChange: rec.add})
	opts := Options{Upstreams: []string{a.URL, b.URL}, Name: "r", Health: health, HealthCheck: fastCheck, Logger: testLogger(t)}
	h1, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h1.Start()
	testproc.Eventually(t, 5*time.Second, "b down", func() error {
		if len(rec.list()) != 1 {
			return fmt.Errorf("changes %+v", rec.list())
		}
		return nil
	})
	h2, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h1.Stop()
	h2.Start()
	checkers := func() (n int) {
		for _, u := range health.List() {
			n += u.Checkers
		}
		return n
	}
	testproc.Eventually(t, 5*time.Second, "two checkers", func() error {
		if n := checkers(); n != 2 {
			return fmt.Errorf("%d checkers", n)
		}
		return nil
	})
	srv := httptest.NewServer(h2)
	t.Cleanup(srv.Close)
	if got := servedBy(t, srv, 4); got["b"] != 0 {
		t.Fatalf("after reload served by %v; want b still out", got)
	}

	// The next config drops b.
	opts.Upstreams = []string{a.URL}
	h3, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h2.Stop()
	health.Retain(map[string][]string{h3.Name(): h3.Keys()})
	h3.Start()
	if l := health.List(); len(l) != 1 || l[0].Upstream != a.URL {
		t.Fatalf("after Retain: %+v; want only a", l)
	}
	h3.Stop()
	if n := checkers(); n != 0 {
		t.Fatalf("%d checkers after Stop; want 0", n)
	}
	if n := len(rec.list()); n != 1 {
		t.Fatalf("changes = %+v; want only the first down (no flap)", rec.list())
	}
}

// A reload that removes the health check brings back an upstream the
// last checks took out: nothing else ever would.
func TestHealthCheckRemoved(t *testing.T) {
	a := newHealthBackend(t, "a")
	a.status.Store(500)
	rec := &recorder{}
	health := NewHealth(HealthOptions{Logger: testLogger(t), OnChange: rec.add})
	opts := Options{Upstreams: []string{a.URL}, Name: "r", Health: health, HealthCheck: fastCheck, Logger: testLogger(t)}
	h1, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h1.Start()
	testproc.Eventually(t, 5*time.Second, "a down", func() error {
		if l := health.List(); l[0].Healthy {
			return fmt.Errorf("%+v", l)
		}
		return nil
	})
	opts.HealthCheck = nil
	h2, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h1.Stop()
	h2.Start()
	t.Cleanup(h2.Stop)
	if l := health.List(); !l[0].Healthy {
		t.Fatalf("after the check was removed: %+v; want a in rotation", l)
	}
	if c := rec.list(); len(c) != 2 || !c[1].Up {
		t.Fatalf("changes = %+v; want down, then up", c)
	}
}
