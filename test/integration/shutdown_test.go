package integration

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestGracefulShutdown sends SIGTERM while a request waits on a slow
// backend: tlsgate must stop accepting, let the request finish, and exit 0.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	arrived, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	slow := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(arrived) })
		select {
		case <-release:
		case <-time.After(2 * time.Second):
		}
		fmt.Fprint(w, "done")
	}))
	inst := startTLSGate(t, fmt.Sprintf(header+`
shutdown_timeout: 30s
sites:
  - hosts: [a.test]
    tls: local
    routes:
      - path: /
        to: ["%s"]
`, slow))

	type answer struct {
		status int
		body   string
		err    error
	}
	done := make(chan answer, 1)
	c := inst.client(t, inst.rootPool(t), true)
	go func() {
		resp, err := c.Get(inst.url("a.test", "/slow"))
		if err != nil {
			done <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- answer{resp.StatusCode, string(b), err}
	}()

	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("request never reached the backend")
	}
	inst.Signal(t, syscall.SIGTERM)
	// Stop accepting: new connections are refused while the request drains.
	eventually(t, 5*time.Second, "https listener closed after SIGTERM", func() error {
		if tcpDial(inst.HTTPS) == nil && !inst.Exited() {
			return fmt.Errorf("%s still accepts connections", inst.HTTPS)
		}
		return nil
	})
	close(release)

	a := <-done
	if a.err != nil || a.status != 200 || a.body != "done" {
		t.Errorf("in-flight request across SIGTERM: status %d body %q err %v; want 200 done", a.status, a.body, a.err)
	}
	if code := inst.WaitExit(t, 15*time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM; want 0", code)
	}
}
