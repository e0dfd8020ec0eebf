package integration

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// proxyConfig routes one site to every kind of action and upstream.
// Its {{.Vars.name}} fields are filled by TestProxy.
const proxyConfig = header + `
sites:
  - hosts: [a.test]
    tls: local
    routes:
      - path: /echo/
        to: ["{{.Vars.Echo}}"]
      - path: /strip/
        to: ["{{.Vars.Echo}}"]
        strip_prefix: true
      - path: /unix/
        to: ["unix:{{.Vars.Sock}}"]
      - path: /rr/
        to: ["{{.Vars.RR1}}", "{{.Vars.RR2}}"]
        lb: round_robin
      - path: /failover/
        to: ["http://{{.Vars.Dead}}", "{{.Vars.Backup}}"]
      - path: /dead/
        to: ["http://{{.Vars.Dead}}", "http://{{.Vars.Dead2}}"]
      - path: /slow/
        to: ["{{.Vars.Slow}}"]
        timeout: 1s
      - path: /static/
        static: {{.Vars.Static}}
      - path: /healthz
        respond: {status: 200, body: "ok"}
      - path: /teapot
        respond: {status: 418, body: "short and stout"}
`

func TestProxy(t *testing.T) {
	t.Parallel()
	echo := echoBackend(t, "echo")
	sock := unixBackend(t, echoHandler("unix"))
	rr1, rr2 := echoBackend(t, "rr1"), echoBackend(t, "rr2")
	backup := echoBackend(t, "backup")
	slow := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	static := staticTree(t)
	inst := startTLSGateVars(t, map[string]string{
		"Echo": echo, "Sock": sock, "RR1": rr1, "RR2": rr2, "Dead": deadAddr(t),
		"Backup": backup, "Dead2": deadAddr(t), "Slow": slow, "Static": static,
	}, proxyConfig)
	pool := inst.rootPool(t)
	h2 := inst.clientFrom(t, pool, true, clientIP)
	h1 := inst.clientFrom(t, pool, false, clientIP)

	t.Run("forwarded headers replace spoofed ones", func(t *testing.T) {
		t.Parallel()
		for name, c := range map[string]*http.Client{"h2": h2, "http/1.1": h1} {
			req, _ := http.NewRequest("GET", inst.url("a.test", "/echo/x?y=1"), nil)
			req.Header.Set("X-Forwarded-For", "6.6.6.6")
			req.Header.Set("X-Forwarded-Proto", "http")
			req.Header.Set("X-Forwarded-Host", "evil.example")
			req.Header.Set("Forwarded", "for=6.6.6.6;proto=http;host=evil.example")
			e := doEcho(t, c, req)
			wantHost := fmt.Sprintf("a.test:%d", inst.HTTPSPort)
			checks := []struct{ header, want string }{
				{"X-Forwarded-For", clientIP},
				{"X-Forwarded-Proto", "https"},
				{"X-Forwarded-Host", wantHost},
			}
			for _, c := range checks {
				if got := e.values(c.header); len(got) != 1 || got[0] != c.want {
					t.Errorf("%s: backend got %s %q; want exactly %q", name, c.header, got, c.want)
				}
			}
			fwd := strings.Join(e.values("Forwarded"), ", ")
			for _, want := range []string{"proto=https", clientIP, "a.test"} {
				if !strings.Contains(fwd, want) {
					t.Errorf("%s: backend got Forwarded %q; want it to contain %s", name, fwd, want)
				}
			}
			for _, spoof := range []string{"6.6.6.6", "evil.example"} {
				if strings.Contains(fmt.Sprint(e.Header), spoof) {
					t.Errorf("%s: client-sent %s reached the backend: %v", name, spoof, e.Header)
				}
			}
			if e.Path != "/echo/x" || e.RawQuery != "y=1" {
				t.Errorf("%s: backend got path %q query %q; want /echo/x y=1", name, e.Path, e.RawQuery)
			}
			// Like Caddy and Traefik, the Host the client asked for is passed on.
			if e.Host != wantHost {
				t.Errorf("%s: backend got Host %q; want %q", name, e.Host, wantHost)
			}
		}
	})

	t.Run("strip_prefix", func(t *testing.T) {
		t.Parallel()
		req, _ := http.NewRequest("GET", inst.url("a.test", "/strip/x/y?q=1"), nil)
		e := doEcho(t, h2, req)
		if e.Path != "/x/y" || e.RawQuery != "q=1" {
			t.Errorf("backend got path %q query %q; want /x/y q=1", e.Path, e.RawQuery)
		}
	})

	t.Run("unix socket upstream", func(t *testing.T) {
		t.Parallel()
		req, _ := http.NewRequest("POST", inst.url("a.test", "/unix/p"), strings.NewReader("over a socket"))
		e := doEcho(t, h2, req)
		if e.Backend != "unix" || e.Path != "/unix/p" || e.Body != "over a socket" || e.Method != "POST" {
			t.Errorf("unix backend saw %+v", e)
		}
	})

	t.Run("round robin", func(t *testing.T) {
		t.Parallel()
		seen := map[string]int{}
		for i := 0; i < 10; i++ {
			req, _ := http.NewRequest("GET", inst.url("a.test", "/rr/"), nil)
			seen[doEcho(t, h1, req).Backend]++
		}
		if seen["rr1"] != 5 || seen["rr2"] != 5 {
			t.Errorf("10 requests went %v; want 5 to each upstream", seen)
		}
	})

	t.Run("down upstream is skipped", func(t *testing.T) {
		t.Parallel()
		for i := 0; i < 6; i++ {
			method, body := "GET", ""
			if i%2 == 1 {
				// A refused connection never carried the request, so even POST is retried.
				method, body = "POST", fmt.Sprintf("payload %d", i)
			}
			req, _ := http.NewRequest(method, inst.url("a.test", "/failover/"), strings.NewReader(body))
			e := doEcho(t, h2, req)
			if e.Backend != "backup" || e.Body != body {
				t.Errorf("request %d (%s): served by %q with body %q; want backup with %q", i, method, e.Backend, e.Body, body)
			}
		}
	})

	t.Run("all upstreams down gives 502", func(t *testing.T) {
		t.Parallel()
		status, body := get(t, h2, inst.url("a.test", "/dead/"))
		if status != http.StatusBadGateway {
			t.Errorf("status %d; want 502", status)
		}
		checkPlainError(t, body)
	})

	t.Run("slow upstream gives 504", func(t *testing.T) {
		t.Parallel()
		status, body := get(t, h2, inst.url("a.test", "/slow/"))
		if status != http.StatusGatewayTimeout {
			t.Errorf("status %d; want 504", status)
		}
		checkPlainError(t, body)
	})

	t.Run("respond", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			path   string
			status int
			body   string
		}{{"/healthz", 200, "ok"}, {"/teapot", 418, "short and stout"}} {
			status, body := get(t, h2, inst.url("a.test", tc.path))
			if status != tc.status || body != tc.body {
				t.Errorf("%s: got %d %q; want %d %q", tc.path, status, body, tc.status, tc.body)
			}
		}
	})

	t.Run("static", func(t *testing.T) {
		t.Parallel()
		status, body := get(t, h2, inst.url("a.test", "/static/hello.txt"))
		if status != 200 || body != "hello static\n" {
			t.Errorf("/static/hello.txt: got %d %q; want 200 %q", status, body, "hello static\n")
		}
		for _, p := range []string{"/static/", "/static/sub/"} {
			status, body := get(t, h2, inst.url("a.test", p))
			if status == 200 && (strings.Contains(body, "hello.txt") || strings.Contains(body, "inner.txt")) {
				t.Errorf("%s: directory listing served (%d):\n%s", p, status, body)
			}
		}
	})

	t.Run("static refuses traversal", func(t *testing.T) {
		t.Parallel()
		for _, p := range []string{
			"/static/../secret.txt",
			"/static/../../secret.txt",
			"/static/%2e%2e/secret.txt",
			"/static/%2e%2e/%2e%2e/secret.txt",
			"/static/..%2fsecret.txt",
			"/static/..%2f..%2fsecret.txt",
			"/static/..%5csecret.txt",
			"/static/sub/../../secret.txt",
			"/static/sub/%2e%2e/%2e%2e/%2e%2e/secret.txt",
		} {
			status, body := rawGet(t, inst, "a.test", p)
			if strings.Contains(body, "TOP SECRET") {
				t.Errorf("GET %s served a file outside the static root (%d)", p, status)
			}
		}
	})
}

// staticTree makes DIR/public with files and a secret next to it, outside
// the root. The file also sits under public/static so the test holds
// whether the route prefix is stripped before the lookup or not.
func staticTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "public")
	for _, f := range []string{"hello.txt", "static/hello.txt"} {
		writeFile(t, root, f, "hello static\n")
	}
	writeFile(t, root, "sub/inner.txt", "inner\n")
	writeFile(t, root, "static/sub/inner.txt", "inner\n")
	writeFile(t, dir, "secret.txt", "TOP SECRET\n")
	return root
}

// checkPlainError checks an error answer is short and leaks no internals.
func checkPlainError(t *testing.T, body string) {
	t.Helper()
	if len(body) > 200 {
		t.Errorf("error body is %d bytes; want a short message:\n%s", len(body), body)
	}
	for _, leak := range []string{"dial", "tcp", "127.0.0.1", "refused", "context deadline", "net/http", "goroutine", "timeout awaiting"} {
		if strings.Contains(strings.ToLower(body), leak) {
			t.Errorf("error body leaks internals (%q): %q", leak, body)
		}
	}
}

// doEcho sends req and decodes the echo backend's answer; status must be 200.
func doEcho(t *testing.T, c *http.Client, req *http.Request) echoed {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: status %d: %s", req.Method, req.URL, resp.StatusCode, body)
	}
	return decodeEcho(t, string(body))
}

// rawGet sends a request line exactly as written (no client-side path
// cleaning) over HTTP/1.1 and returns status and body.
func rawGet(t *testing.T, inst *instance, host, target string) (int, string) {
	t.Helper()
	conn, err := tls.Dial("tcp", inst.HTTPS, &tls.Config{ServerName: host, RootCAs: inst.rootPool(t), NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, host)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
