package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/testproc"
)

// TestReloadClosesAuthConnections: the kept-alive connection to a
// forward_auth service is closed when a reload retires the Runtime that
// used it, not left open until the transport's idle timeout (90s).
func TestReloadClosesAuthConnections(t *testing.T) {
	var mu sync.Mutex
	states := map[net.Conn]http.ConnState{}
	authSvc := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	authSvc.Config.ConnState = func(c net.Conn, s http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		states[c] = s
	}
	authSvc.Start()
	defer authSvc.Close()
	open := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, s := range states {
			if s != http.StateClosed && s != http.StateHijacked {
				n++
			}
		}
		return n
	}

	const listen = `listen: {http: "127.0.0.1:0", https: "127.0.0.1:0"}
`
	ts := startServer(t, listen+fmt.Sprintf(`sites:
  - hosts: [a.test]
    forward_auth: {url: "%s/verify"}
    routes: [{path: /, respond: {body: "in"}}]
`, authSvc.URL))
	if status, body := get(t, ts.Addr("https"), "a.test", "a.test"); status != 200 || body != "in" {
		t.Fatalf("through forward_auth: %d %q", status, body)
	}
	if n := open(); n != 1 {
		t.Fatalf("%d connections open at the auth service after one request; want 1 (kept alive)", n)
	}
	ts.setConfig(listen + `sites:
  - hosts: [a.test]
    routes: [{path: /, respond: {body: "open"}}]
`)
	if err := ts.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	testproc.Eventually(t, 5*time.Second, "auth service connection closed after the reload", func() error {
		if n := open(); n != 0 {
			return errors.New(fmt.Sprint(n, " still open"))
		}
		return nil
	})
}
