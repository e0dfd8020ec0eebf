package integration

import (
	"context"
	"fmt"
	"html"
	"html/template"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCORSBrowser checks the CORS policy where it matters: in a real
// browser. Pages served from two http://localhost origins make a
// credentialed fetch with a custom header (so Chromium preflights it) to a
// tlsgate site that allows only the first origin; the page writes what
// happened into its DOM, which headless Chromium prints.
func TestCORSBrowser(t *testing.T) {
	t.Parallel()
	chromium := requireChromium(t)
	certutil := requirePeer(t, "certutil", "libnss3-tools")

	var mu sync.Mutex
	var seen []string // "METHOD origin" of every request the backend got
	echo := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.Header.Get("Origin"))
		mu.Unlock()
		echoHandler("echo").ServeHTTP(w, r)
	}))

	g := newGateConfig(t)
	target := fmt.Sprintf("https://localhost:%d/api", portOf(t, g.HTTPS))
	allowed, other := originPage(t, target), originPage(t, target)
	inst := startWith(t, g, fmt.Sprintf(header+`
sites:
  - hosts: [localhost]
    tls: local
    cors:
      allow_origins: ["%s"]
      allow_credentials: true
      allow_headers: [X-Custom]
      allow_methods: [GET, POST]
    routes:
      - path: /
        to: ["%s"]
`, allowed, echo))
	home := nssHome(t, certutil, inst.RootPath())

	t.Run("allowed origin", func(t *testing.T) {
		out := pageOutcome(t, chromium, home, allowed+"/")
		body, ok := strings.CutPrefix(out, "OK 200 ")
		if !ok {
			t.Fatalf("page from %s says %q; want the call to succeed (OK 200 ...)", allowed, out)
		}
		e := decodeEcho(t, body)
		if e.get("X-Custom") != "1" || e.get("Origin") != allowed {
			t.Errorf("backend got X-Custom %q, Origin %q; want 1, %s", e.get("X-Custom"), e.get("Origin"), allowed)
		}
	})
	t.Run("other origin", func(t *testing.T) {
		out := pageOutcome(t, chromium, home, other+"/")
		if !strings.HasPrefix(out, "ERROR TypeError") {
			t.Errorf("page from %s says %q; want the browser to block the call (ERROR TypeError ...)", other, out)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, s := range seen {
			if strings.HasSuffix(s, " "+other) {
				t.Errorf("backend got %q; the refused preflight should have stopped the call at the edge", s)
			}
		}
	})
}

// requireChromium finds headless Chromium. Under -short the test is
// skipped; in a full run a missing browser fails with how to install it.
func requireChromium(t *testing.T) string {
	t.Helper()
	skipShort(t, "Chromium")
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found; install it with: apt-get install -y chromium")
	return ""
}

// requirePeer finds a program the test runs, failing with how to install it.
func requirePeer(t *testing.T, name, deb string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found; install it with: apt-get install -y %s", name, deb)
	}
	return p
}

// originPage serves testdata/browser/fetch.html, calling target, from a
// new loopback server and returns its origin, http://localhost:PORT.
func originPage(t *testing.T, target string) string {
	t.Helper()
	tmpl, err := template.ParseFiles(filepath.Join("testdata", "browser", "fetch.html"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r) // e.g. /favicon.ico
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		tmpl.Execute(w, struct{ Target string }{target})
	}))
	t.Cleanup(srv.Close)
	return fmt.Sprintf("http://localhost:%d", portOf(t, srv.Listener.Addr().String()))
}

// nssHome makes a HOME whose NSS database (where Chromium on Linux looks
// for trust) trusts the root certificate, as `tlsgate ca trust` would.
func nssHome(t *testing.T, certutil, root string) string {
	t.Helper()
	home := t.TempDir()
	dbDir := filepath.Join(home, ".pki", "nssdb")
	if err := os.MkdirAll(dbDir, 0o700); err != nil {
		t.Fatal(err)
	}
	db := "sql:" + dbDir
	for _, args := range [][]string{
		{"-d", db, "-N", "--empty-password"},
		{"-d", db, "-A", "-t", "C,,", "-n", "tlsgate-test-root", "-i", root},
	} {
		if r := runCmd(t, home, certutil, args...); r.Code != 0 {
			t.Fatalf("certutil %s: %s", strings.Join(args, " "), r)
		}
	}
	return home
}

var outRE = regexp.MustCompile(`(?s)<pre id="out">(.*?)</pre>`)

// pageOutcome loads url in headless Chromium, lets its scripts run, and
// returns what the page wrote into <pre id="out">.
func pageOutcome(t *testing.T, chromium, home, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(),
		// Virtual time pauses while the fetch is on the network, so this
		// is a budget for the page's timers, not a wait.
		"--virtual-time-budget=5000",
		"--dump-dom", url)
	cmd.Env = append(withoutHome(childEnv), "HOME="+home)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	if ctx.Err() != nil {
		t.Fatalf("chromium did not finish within 60s loading %s\nstderr:\n%s", url, stderr.String())
	}
	if err != nil {
		t.Fatalf("chromium %s: %v\nstderr:\n%s", url, err, stderr.String())
	}
	m := outRE.FindSubmatch(dom)
	if m == nil {
		t.Fatalf("no <pre id=\"out\"> in the DOM of %s:\n%s\nchromium stderr:\n%s", url, dom, stderr.String())
	}
	out := html.UnescapeString(string(m[1]))
	if out == "pending" {
		t.Fatalf("the fetch on %s never finished\nchromium stderr:\n%s", url, stderr.String())
	}
	return out
}

func withoutHome(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "HOME=") {
			out = append(out, kv)
		}
	}
	return out
}
