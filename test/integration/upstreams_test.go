package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/test/testenv"
)

// flaskUpstream is one testdata/upstream_app.py process.
type flaskUpstream struct {
	name string
	url  string
	proc *testenv.Proc
}

// startFlaskUpstream starts upstream_app.py as name and waits until it answers.
func startFlaskUpstream(t *testing.T, name string) *flaskUpstream {
	t.Helper()
	requirePython(t)
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePort(t)
	cmd := exec.Command("/usr/bin/python3", "upstream_app.py", name, fmt.Sprint(port))
	cmd.Dir, cmd.Env = testdata, childEnv
	p := testenv.Start(t, cmd)
	t.Cleanup(p.Kill)
	u := &flaskUpstream{name: name, url: fmt.Sprintf("http://127.0.0.1:%d", port), proc: p}
	testenv.Eventually(t, 20*time.Second, name+" ready", func() error {
		if p.Exited() {
			t.Fatalf("%s exited early:\n%s", name, p.Stderr)
		}
		resp, err := http.Get(u.url + "/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	return u
}

// setHealth makes the upstream's /healthz answer code.
func (u *flaskUpstream) setHealth(t *testing.T, code int) {
	t.Helper()
	resp, err := http.Post(fmt.Sprintf("%s/_health/%d", u.url, code), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// upstreamStatus is the admin API's view of one upstream.
type upstreamStatus struct {
	Route    string `json:"route"`
	Upstream string `json:"upstream"`
	Healthy  bool   `json:"healthy"`
	Checkers int    `json:"checkers"`
}

func (inst *instance) upstreams(t *testing.T) []upstreamStatus {
	t.Helper()
	_, body := get(t, http.DefaultClient, "http://"+inst.Admin+"/status")
	var st struct {
		Upstreams []upstreamStatus `json:"upstreams"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("/status: %v\n%s", err, body)
	}
	return st.Upstreams
}

// healthOf finds one upstream's state; ok is false when it is not listed.
func healthOf(list []upstreamStatus, route, upstream string) (upstreamStatus, bool) {
	for _, u := range list {
		if u.Route == route && u.Upstream == upstream {
			return u, true
		}
	}
	return upstreamStatus{}, false
}

func checkerCount(list []upstreamStatus) (n int) {
	for _, u := range list {
		n += u.Checkers
	}
	return n
}

// backendOf sends a GET and returns the name of the backend that answered.
func backendOf(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	var v struct {
		Backend string `json:"backend"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return "", fmt.Errorf("%w: %s", err, body)
	}
	return v.Backend, nil
}

// resetAfterBody is a Go backend that reads each request with its body,
// counts it, and resets the connection without answering.
func resetAfterBody(t *testing.T) (url string, hits *atomic.Int64) {
	t.Helper()
	hits = new(atomic.Int64)
	url = backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		hits.Add(1)
		c, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // RST
		}
		c.Close()
	}))
	return url, hits
}

const upstreamsConfig = header + `
sites:
  - hosts: [up.test]
    tls: local
    routes:
      - path: /
        to: ["{{index .Extra 0}}", "{{index .Extra 1}}", "{{index .Extra 2}}"]
        health_check: {path: /healthz, interval: 200ms, timeout: 1s, unhealthy_after: 2, healthy_after: 2}
        passive_health: {fail_after: 1, window: 10s, cooldown: 2s}
        retries: 2
      - path: /sticky/
        to: ["{{index .Extra 0}}", "{{index .Extra 1}}", "{{index .Extra 2}}"]
        lb: ip_hash
      - path: /cookie/
        to: ["{{index .Extra 0}}", "{{index .Extra 1}}", "{{index .Extra 2}}"]
        lb: cookie
      - path: /reset/
        to: ["{{index .Extra 3}}", "{{index .Extra 0}}"]
        lb: first
        retries: 2
{{index .Extra 4}}`

func TestUpstreams(t *testing.T) {
	t.Parallel()
	ups := make([]*flaskUpstream, 3)
	var wg sync.WaitGroup
	for i, name := range []string{"a", "b", "c"} {
		wg.Go(func() { ups[i] = startFlaskUpstream(t, name) })
	}
	wg.Wait()
	reset, resetHits := resetAfterBody(t)
	g := newGateConfig(t)
	extraRoute := `      - path: /extra/
        to: ["` + ups[0].url + `"]
        health_check: {path: /healthz, interval: 200ms}
`
	cfg := func(extra string) string {
		return strings.NewReplacer(
			"{{index .Extra 0}}", ups[0].url, "{{index .Extra 1}}", ups[1].url, "{{index .Extra 2}}", ups[2].url,
			"{{index .Extra 3}}", reset, "{{index .Extra 4}}", extra).Replace(upstreamsConfig)
	}
	inst := startWith(t, g, cfg(""))
	pool := inst.rootPool(t)
	c := inst.client(t, pool, true)
	root := inst.url("up.test", "/")

	t.Run("health check takes an upstream out and brings it back", func(t *testing.T) {
		testenv.Eventually(t, 10*time.Second, "three checkers, all healthy", func() error {
			list := inst.upstreams(t)
			if n := checkerCount(list); n != 3 {
				return fmt.Errorf("%d checkers: %+v", n, list)
			}
			return nil
		})
		b := ups[1]
		b.setHealth(t, 500)
		start := time.Now()
		testenv.Eventually(t, 5*time.Second, "b out of rotation", func() error {
			if u, _ := healthOf(inst.upstreams(t), "up.test/", b.url); u.Healthy {
				return fmt.Errorf("b still healthy")
			}
			return nil
		})
		// unhealthy_after 2 × interval 200ms is 400ms; the bound allows one
		// check's timeout and a busy 2-core machine under -race.
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("b left rotation after %s; want within about 2 × 200ms", took)
		}
		for range 12 {
			name, err := backendOf(c, root+"x")
			if err != nil {
				t.Fatal(err)
			}
			if name == "b" {
				t.Fatal("b served a request while out of rotation")
			}
		}
		_, metrics := get(t, http.DefaultClient, "http://"+inst.Admin+"/metrics")
		if want := fmt.Sprintf(`tlsgate_upstream_healthy{route="up.test/",upstream=%q} 0`, b.url); !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
		if !inst.WaitLog("upstream out of rotation", 5*time.Second) {
			t.Errorf("no log line for b leaving rotation")
		}
		testenv.Eventually(t, 5*time.Second, "upstream_down event for b", func() error {
			return hasEvent(t, inst, "upstream_down", b.url)
		})

		// Reload under load with b still down: its state is kept (b never
		// serves: no flap), no request fails, and the checkers of an added
		// route start.
		var served, failed, onB atomic.Int64
		stopLoad := make(chan struct{})
		var load sync.WaitGroup
		load.Go(func() {
			for {
				select {
				case <-stopLoad:
					return
				default:
				}
				name, err := backendOf(c, root+"during-reload")
				served.Add(1)
				switch {
				case err != nil:
					failed.Add(1)
				case name == "b":
					onB.Add(1)
				}
			}
		})
		waitFor(t, 10*time.Second, "load running", func() bool { return served.Load() > 20 })
		inst.writeConfig(t, cfg(extraRoute))
		if status, body := adminCall(t, inst, "POST", "/reload"); status != 200 {
			t.Fatalf("reload: %d %s", status, body)
		}
		testenv.Eventually(t, 10*time.Second, "four checkers after reload", func() error {
			list := inst.upstreams(t)
			if _, ok := healthOf(list, "up.test/extra/", ups[0].url); !ok || checkerCount(list) != 4 {
				return fmt.Errorf("%+v", list)
			}
			if u, _ := healthOf(list, "up.test/", b.url); u.Healthy {
				t.Fatalf("b back in rotation right after a reload: its state was lost")
			}
			return nil
		})
		// And the route's removal stops them again: back to the baseline.
		inst.writeConfig(t, cfg(""))
		if status, body := adminCall(t, inst, "POST", "/reload"); status != 200 {
			t.Fatalf("reload: %d %s", status, body)
		}
		testenv.Eventually(t, 10*time.Second, "three checkers after the second reload", func() error {
			list := inst.upstreams(t)
			if _, ok := healthOf(list, "up.test/extra/", ups[0].url); ok || checkerCount(list) != 3 {
				return fmt.Errorf("%+v", list)
			}
			return nil
		})
		close(stopLoad)
		load.Wait()
		if failed.Load() != 0 || onB.Load() != 0 {
			t.Fatalf("across two reloads: %d of %d requests failed, %d served by b (down); want 0 and 0", failed.Load(), served.Load(), onB.Load())
		}

		b.setHealth(t, 200)
		testenv.Eventually(t, 5*time.Second, "b back in rotation", func() error {
			for range 6 {
				if name, err := backendOf(c, root+"x"); err != nil || name == "b" {
					return err
				}
			}
			return fmt.Errorf("b serves nothing yet")
		})
		if !inst.WaitLog("upstream back in rotation", 5*time.Second) {
			t.Errorf("no log line for b returning")
		}
		testenv.Eventually(t, 5*time.Second, "upstream_up event for b", func() error {
			return hasEvent(t, inst, "upstream_up", b.url)
		})
	})

	t.Run("POST is not retried after a reset, GET is", func(t *testing.T) {
		resp, err := c.Post(inst.url("up.test", "/reset/pay"), "text/plain", strings.NewReader("one payment"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 502 || resetHits.Load() != 1 {
			t.Fatalf("POST = %d, backend saw it %d times; want 502 and once", resp.StatusCode, resetHits.Load())
		}
		name, err := backendOf(c, inst.url("up.test", "/reset/x"))
		if err != nil || name != "a" {
			t.Fatalf("GET answered by %q (%v); want a, after a retry", name, err)
		}
		if n := resetHits.Load(); n != 2 {
			t.Errorf("resetting backend saw %d requests; want 2", n)
		}
	})

	t.Run("ip_hash keeps a client on one upstream", func(t *testing.T) {
		from := inst.clientFrom(t, pool, true, clientIP)
		got := map[string]int{}
		for range 100 {
			name, err := backendOf(from, inst.url("up.test", "/sticky/x"))
			if err != nil {
				t.Fatal(err)
			}
			got[name]++
		}
		if len(got) != 1 {
			t.Fatalf("100 requests from %s landed on %v; want one upstream", clientIP, got)
		}
	})

	t.Run("cookie keeps a client that keeps the cookie", func(t *testing.T) {
		resp, err := c.Get(inst.url("up.test", "/cookie/x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var sticky *http.Cookie
		for _, ck := range resp.Cookies() {
			if ck.Name == "tlsgate_upstream" {
				sticky = ck
			}
		}
		if sticky == nil || !sticky.HttpOnly || !sticky.Secure || sticky.SameSite != http.SameSiteLaxMode {
			t.Fatalf("Set-Cookie %q; want tlsgate_upstream, HttpOnly, Secure, SameSite=Lax", resp.Header.Values("Set-Cookie"))
		}
		first := ""
		for i := range 10 {
			req, _ := http.NewRequest("GET", inst.url("up.test", "/cookie/x"), nil)
			req.AddCookie(&http.Cookie{Name: sticky.Name, Value: sticky.Value})
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var v struct{ Backend string }
			json.NewDecoder(resp.Body).Decode(&v)
			resp.Body.Close()
			if i == 0 {
				first = v.Backend
			} else if v.Backend != first {
				t.Fatalf("with the cookie: %s, then %s; want one upstream", first, v.Backend)
			}
		}
		got := map[string]bool{}
		for range 9 {
			name, err := backendOf(c, inst.url("up.test", "/cookie/x"))
			if err != nil {
				t.Fatal(err)
			}
			got[name] = true
		}
		if len(got) < 2 {
			t.Fatalf("without the cookie served by %v; want balanced", got)
		}
	})

	// Last: it kills c.
	t.Run("killing an upstream under load fails no request", func(t *testing.T) {
		load := startRequestLoad(t, 4, func(int) (string, error) {
			return backendOf(c, root+"load")
		})
		waitFor(t, 10*time.Second, "100 requests before the kill", func() bool { return load.total.Load() >= 100 })
		ups[2].proc.Kill()
		before := load.total.Load()
		waitFor(t, 20*time.Second, "300 requests after the kill", func() bool { return load.total.Load() >= before+300 })
		load.halt()
		if n := load.failed.Load(); n != 0 {
			t.Fatalf("%d of %d requests failed after killing c (pid %d); first: %q", n, load.total.Load(), ups[2].proc.Cmd.Process.Pid, load.errs)
		}
		testenv.Eventually(t, 5*time.Second, "c out of rotation", func() error {
			if u, _ := healthOf(inst.upstreams(t), "up.test/", ups[2].url); u.Healthy {
				return fmt.Errorf("c still healthy")
			}
			return nil
		})
		_, metrics := get(t, http.DefaultClient, "http://"+inst.Admin+"/metrics")
		for _, want := range []string{
			fmt.Sprintf(`tlsgate_upstream_healthy{route="up.test/",upstream=%q} 0`, ups[2].url),
			fmt.Sprintf(`tlsgate_upstream_requests_total{outcome="ok",route="up.test/",upstream=%q}`, ups[0].url),
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
}

// hasEvent reports (as an error, for Eventually) whether the admin API's
// recent events include one named event about name.
func hasEvent(t *testing.T, inst *instance, event, name string) error {
	t.Helper()
	_, body := get(t, http.DefaultClient, "http://"+inst.Admin+"/events")
	var list []struct {
		Event  string         `json:"event"`
		Name   string         `json:"name"`
		Detail map[string]any `json:"detail"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		return fmt.Errorf("/events: %w: %s", err, body)
	}
	for _, e := range list {
		if e.Event == event && e.Name == name && e.Detail["route"] == "up.test/" {
			return nil
		}
	}
	return fmt.Errorf("no %s for %s in %s", event, name, body)
}

// startUvicorn runs testdata/fastapi_app.py on Uvicorn at port and waits
// until it answers. A port another program's outgoing connection took
// while it was free (the ephemeral range overlaps) is tried again a few
// times, since a restart on the same port is the point.
func startUvicorn(t *testing.T, port int) *testenv.Proc {
	t.Helper()
	requirePython(t)
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for attempt := 1; ; attempt++ {
		cmd := exec.Command("/usr/bin/python3", "-m", "uvicorn", "fastapi_app:app", "--host", "127.0.0.1",
			"--port", fmt.Sprint(port))
		cmd.Dir, cmd.Env = testdata, childEnv
		p := testenv.Start(t, cmd)
		t.Cleanup(p.Kill)
		var exited bool
		testenv.Eventually(t, 20*time.Second, "uvicorn ready", func() error {
			if p.Exited() {
				exited = true
				return nil
			}
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/ready", port))
			if err != nil {
				return err
			}
			resp.Body.Close()
			return nil
		})
		if !exited {
			return p
		}
		out := p.Stderr.String() + p.Stdout.String()
		if !strings.Contains(out, "address already in use") || attempt == 3 {
			t.Fatalf("uvicorn on port %d exited early (%v):\n%s", port, p.Err(), out)
		}
	}
}

const rollingConfig = header + `
sites:
  - hosts: [roll.test]
    tls: local
    routes:
      - path: /
        to: ["http://127.0.0.1:{{.Vars.P1}}", "http://127.0.0.1:{{.Vars.P2}}"]
        health_check: {path: /ready, interval: 200ms, unhealthy_after: 1, healthy_after: 2}
        passive_health: {fail_after: 1, window: 10s, cooldown: 1s}
        retries: 1
`

// TestUvicornRollingRestart is docs/UPSTREAMS.md's zero-downtime restart:
// two Uvicorn processes restarted one at a time (SIGTERM, a new process on
// the same port, wait until tlsgate sees it healthy) under a GET loop.
func TestUvicornRollingRestart(t *testing.T) {
	t.Parallel()
	ports := []int{testenv.FreePort(t), testenv.FreePort(t)}
	procs := []*testenv.Proc{startUvicorn(t, ports[0]), startUvicorn(t, ports[1])}
	inst := startTLSGateVars(t, map[string]string{"P1": fmt.Sprint(ports[0]), "P2": fmt.Sprint(ports[1])}, rollingConfig)
	c := inst.client(t, inst.rootPool(t), true)

	load := startRequestLoad(t, 3, func(int) (string, error) {
		code, body, err := tryGet(c, inst.url("roll.test", "/page"))
		if err == nil && code != 200 {
			err = fmt.Errorf("status %d", code)
		}
		return body, err
	})
	waitFor(t, 10*time.Second, "load running", func() bool { return load.total.Load() >= 50 })
	for i, port := range ports {
		procs[i].Signal(t, syscall.SIGTERM)
		// Debian's Uvicorn (0.17) can sit in "Waiting for connections to
		// close" for a long time after its listener closed (it has no
		// --timeout-graceful-shutdown); a second signal, SIGINT, is its
		// force quit, as an operator's or systemd's timeout would be.
		// Requests it cuts off are GETs, which tlsgate retries elsewhere.
		if !procs[i].WaitLog("Finished server process", 5*time.Second) {
			procs[i].Signal(t, syscall.SIGINT)
		}
		procs[i].WaitExit(t, 10*time.Second)
		procs[i] = startUvicorn(t, port)
		url := fmt.Sprintf("http://127.0.0.1:%d", port)
		testenv.Eventually(t, 10*time.Second, "restarted upstream healthy", func() error {
			if u, ok := healthOf(inst.upstreams(t), "roll.test/", url); !ok || !u.Healthy {
				return fmt.Errorf("%+v", inst.upstreams(t))
			}
			return nil
		})
	}
	before := load.total.Load()
	waitFor(t, 10*time.Second, "load after the restarts", func() bool { return load.total.Load() >= before+50 })
	load.halt()
	if n := load.failed.Load(); n != 0 {
		t.Fatalf("%d of %d requests failed across the rolling restart; first: %q", n, load.total.Load(), load.errs)
	}
	t.Logf("%d requests, none failed, across restarts of both Uvicorn processes", load.total.Load())
}
