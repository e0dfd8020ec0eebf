package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/test/testenv"
)

// reloadConfig is a one-site config answering body; broken adds an unknown key.
func reloadConfig(body string, broken bool) string {
	cfg := header + `
sites:
  - hosts: [a.test]
    tls: local
    routes:
      - path: /
        respond: {status: 200, body: "` + body + `"}
`
	if broken {
		cfg += "bogus_key: 1\n"
	}
	return cfg
}

// loadLoop keeps requests going from several keep-alive clients and counts
// answers until stopped.
type loadLoop struct {
	total, failed atomic.Int64
	mu            sync.Mutex
	bodies        map[string]int // guarded by mu
	errs          []string       // guarded by mu; the first few failures
	stop          chan struct{}
	wg            sync.WaitGroup
}

// startLoad runs workers keep-alive clients (half of them HTTP/2) against
// a.test, where an answer is a failure unless it is 200 with one of the
// allowed bodies.
func startLoad(t *testing.T, inst *instance, workers int, allowed ...string) *loadLoop {
	t.Helper()
	ok := map[string]bool{}
	for _, a := range allowed {
		ok[a] = true
	}
	pool := inst.rootPool(t)
	clients := make([]*http.Client, workers)
	for i := range clients {
		clients[i] = inst.client(t, pool, i%2 == 0)
	}
	return startRequestLoad(t, workers, func(worker int) (string, error) {
		resp, err := clients[worker].Get(inst.url("a.test", "/"))
		if err != nil {
			return "", err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && (resp.StatusCode != 200 || !ok[string(body)]) {
			err = fmt.Errorf("status %d body %q", resp.StatusCode, body)
		}
		return string(body), err
	})
}

// startRequestLoad runs workers goroutines, each calling request (with its
// worker number) in a bounded loop until halt; a request returns the answer's
// body, counted by count, or an error, counted as a failure.
func startRequestLoad(t *testing.T, workers int, request func(worker int) (string, error)) *loadLoop {
	l := &loadLoop{bodies: map[string]int{}, stop: make(chan struct{})}
	for i := range workers {
		l.wg.Go(func() {
			for n := 0; n < 100000; n++ {
				select {
				case <-l.stop:
					return
				default:
				}
				body, err := request(i)
				l.total.Add(1)
				l.mu.Lock()
				if err != nil {
					l.failed.Add(1)
					if len(l.errs) < 5 {
						l.errs = append(l.errs, err.Error())
					}
				} else {
					l.bodies[body]++
				}
				l.mu.Unlock()
			}
		})
	}
	t.Cleanup(l.halt)
	return l
}

func (l *loadLoop) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

func (l *loadLoop) count(body string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bodies[body]
}

// waitFor waits until cond holds, failing after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, d, "waiting for "+what, func() error {
		if cond() {
			return nil
		}
		return errors.New("not yet")
	})
}

func TestReload(t *testing.T) {
	t.Parallel()
	inst := startTLSGate(t, reloadConfig("v1", false))
	c := inst.client(t, inst.rootPool(t), true)
	serves := func(t *testing.T, want string) {
		t.Helper()
		eventually(t, 10*time.Second, "serving "+want, func() error {
			status, body, err := tryGet(c, inst.url("a.test", "/"))
			if err != nil || status != 200 || body != want {
				return fmt.Errorf("got %d %q (%v); want 200 %q", status, body, err, want)
			}
			return nil
		})
	}

	t.Run("SIGHUP under load drops nothing", func(t *testing.T) {
		load := startLoad(t, inst, 4, "v1", "v2")
		waitFor(t, 10*time.Second, "300 requests before reload", func() bool { return load.total.Load() >= 300 })
		inst.writeConfig(t, reloadConfig("v2", false))
		inst.Signal(t, syscall.SIGHUP)
		waitFor(t, 10*time.Second, "the new body after SIGHUP", func() bool { return load.count("v2") > 0 })
		after := load.total.Load()
		waitFor(t, 15*time.Second, "1000 requests after reload", func() bool { return load.total.Load() >= after+1000 })
		load.halt()
		if n := load.failed.Load(); n != 0 {
			t.Errorf("%d of %d requests failed across the reload; first: %q", n, load.total.Load(), load.errs)
		}
		t.Logf("requests: %d; bodies %v", load.total.Load(), load.bodies)
	})

	t.Run("broken config on SIGHUP keeps the old one", func(t *testing.T) {
		inst.writeConfig(t, reloadConfig("never", true))
		inst.Signal(t, syscall.SIGHUP)
		if !inst.WaitLog("bogus_key", 10*time.Second) {
			t.Errorf("no log line names the bad key bogus_key after SIGHUP with a broken config")
		}
		if inst.Exited() {
			t.Fatalf("tlsgate exited after a broken reload: %v", inst.Err())
		}
		serves(t, "v2")
	})

	t.Run("admin POST /reload", func(t *testing.T) {
		inst.writeConfig(t, reloadConfig("v3", false))
		status, body := adminCall(t, inst, "POST", "/reload")
		if status != 200 {
			t.Errorf("POST /reload with a good config: %d %s; want 200", status, body)
		}
		serves(t, "v3")

		inst.writeConfig(t, reloadConfig("never", true))
		status, body = adminCall(t, inst, "POST", "/reload")
		if status != 400 || !strings.Contains(body, "bogus_key") {
			t.Errorf("POST /reload with a broken config: %d %q; want 400 naming bogus_key", status, body)
		}
		serves(t, "v3")
	})

	t.Run("tlsgate reload -c", func(t *testing.T) {
		inst.writeConfig(t, reloadConfig("v4", false))
		if r := tlsgate(t, inst.Dir, "reload", "-c", inst.ConfigPath); r.Code != 0 {
			t.Errorf("tlsgate reload: %s", r)
		}
		serves(t, "v4")

		inst.writeConfig(t, reloadConfig("never", true))
		if r := tlsgate(t, inst.Dir, "reload", "-c", inst.ConfigPath); r.Code == 0 {
			t.Errorf("tlsgate reload with a broken config exited 0; want non-zero\n%s", r)
		}
		serves(t, "v4")
		inst.writeConfig(t, reloadConfig("v4", false))
	})

	t.Run("reload adds a site and its certificate", func(t *testing.T) {
		inst.writeConfig(t, reloadConfig("v4", false)+`
  - hosts: [added.test]
    tls: local
    routes:
      - path: /
        respond: {status: 200, body: "added"}
`)
		if status, body := adminCall(t, inst, "POST", "/reload"); status != 200 {
			t.Fatalf("POST /reload: %d %s", status, body)
		}
		eventually(t, 10*time.Second, "added.test served after reload", func() error {
			status, body, err := tryGet(c, inst.url("added.test", "/"))
			if err != nil || status != 200 || body != "added" {
				return fmt.Errorf("got %d %q (%v)", status, body, err)
			}
			return nil
		})
		serves(t, "v4")
	})

	t.Run("GET /status", func(t *testing.T) {
		status, body := adminCall(t, inst, "GET", "/status")
		if status != 200 {
			t.Fatalf("GET /status: %d %s", status, body)
		}
		var st map[string]any
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatalf("GET /status is not a JSON object: %v\n%s", err, body)
		}
		for _, k := range []string{"version", "uptime", "sites", "listeners"} {
			if _, ok := st[k]; !ok {
				t.Errorf("GET /status has no %q key: %s", k, body)
			}
		}
		if !strings.Contains(body, jsonString(inst.ConfigPath)) {
			t.Errorf("GET /status does not name the config file %s: %s", inst.ConfigPath, body)
		}
		for _, want := range []string{"a.test", inst.HTTPS} {
			if !strings.Contains(body, want) {
				t.Errorf("GET /status does not mention %s: %s", want, body)
			}
		}
	})
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return strings.Trim(string(b), `"`)
}

// adminCall calls the admin API and returns status and body.
func adminCall(t *testing.T, inst *instance, method, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+inst.Admin+path, nil)
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
