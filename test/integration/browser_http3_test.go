package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHTTP3Chromium: headless Chromium, trusting the local root through its
// NSS database and told to use QUIC for the origin, loads a page over
// HTTP/3; the access log shows the protocol.
func TestHTTP3Chromium(t *testing.T) {
	t.Parallel()
	chromium := requireChromium(t)
	certutil := requirePeer(t, "certutil", "libnss3-tools")
	root := t.TempDir()
	writeFile(t, root, "index.html", `<!doctype html><pre id="out">served</pre>`)
	g := newGateConfig(t)
	g.Vars = map[string]string{"Root": root}
	inst := startWith(t, g, header+`access_log: {output: "{{.Dir}}/access.log", format: json}
sites:
  - hosts: [localhost]
    tls: local
    routes:
      - path: /
        static: {{.Vars.Root}}
`)
	home := nssHome(t, certutil, inst.RootPath())
	origin := "localhost:" + strings.TrimPrefix(inst.HTTPS, "127.0.0.1:")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(),
		"--enable-quic", "--origin-to-force-quic-on="+origin,
		"--host-resolver-rules=MAP localhost 127.0.0.1",
		"--dump-dom", "https://"+origin+"/index.html")
	cmd.Env = append(withoutHome(childEnv), "HOME="+home)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	if err != nil || !strings.Contains(string(dom), "served") {
		t.Fatalf("chromium: %v\nDOM:\n%s\nstderr:\n%s", err, dom, stderr.String())
	}
	log := filepath.Join(inst.Dir, "access.log")
	eventually(t, 5*time.Second, "an HTTP/3.0 line in the access log", func() error {
		b, err := os.ReadFile(log)
		if err != nil {
			return err
		}
		if !strings.Contains(string(b), `"proto":"HTTP/3.0"`) {
			return fmt.Errorf("no HTTP/3.0 request in the access log:\n%s", b)
		}
		return nil
	})
}
