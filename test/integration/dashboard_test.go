package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// chromiumArgs are the flags every headless run of the dashboard uses.
func chromiumArgs(t *testing.T) []string {
	return []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--window-size=1400,1000",
		// Virtual time pauses while the page's fetches are on the
		// network: a budget for its timers, not a wait. 7s of it is
		// the first load and one 5s refresh, after which rates show.
		"--virtual-time-budget=7000"}
}

func runChromium(t *testing.T, chromium string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, append(chromiumArgs(t), args...)...)
	cmd.Env = childEnv
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ctx.Err() != nil || err != nil {
		t.Fatalf("chromium %v: %v\nstderr:\n%s", args, err, stderr.String())
	}
	return out
}

// The dashboard at GET / of the admin address, loaded by headless
// Chromium for an instance with two sites, shows both certificates with
// their days left, the sites, traffic and recent events.
func TestDashboardBrowser(t *testing.T) {
	t.Parallel()
	chromium := requireChromium(t)
	g := newGateConfig(t)
	writeShortLived(t, g.Dir, "soon.test")
	dead := deadAddr(t)
	conf := header + `sites:
  - hosts: [app.test]
    routes:
      - {path: /api, to: ["http://` + dead + `"], health_check: {path: /healthz, interval: 200ms, unhealthy_after: 1}}
      - {path: /, respond: {body: ok}}
  - hosts: [soon.test]
    tls: {cert_file: ./soon.test.crt, key_file: ./soon.test.key}
    routes: [{path: /, respond: {body: soon}}]
`
	inst := startWith(t, g, conf)
	c := inst.client(t, inst.rootPool(t), false)
	for range 3 {
		get(t, c, inst.url("app.test", "/"))
		get(t, c, inst.url("app.test", "/api")) // 502: an error to count
	}
	// reload_failed gives the events table a row.
	inst.writeConfig(t, conf+"bogus_key: 1\n")
	if resp, err := http.Post("http://"+inst.Admin+"/reload", "", nil); err == nil {
		resp.Body.Close()
	}
	inst.writeConfig(t, conf)

	// The dead upstream is out of rotation before the page loads.
	eventually(t, 10*time.Second, "the upstream reported down", func() error {
		resp, err := http.Get("http://" + inst.Admin + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if !regexp.MustCompile(`tlsgate_upstream_healthy\{[^}]*upstream="http://` + regexp.QuoteMeta(dead) + `"[^}]*\} 0`).Match(b) {
			return fmt.Errorf("no tlsgate_upstream_healthy 0 for %s", dead)
		}
		return nil
	})

	// What the page must show: each certificate's days left as the
	// instance counts them.
	var certs []struct {
		Names    []string  `json:"names"`
		NotAfter time.Time `json:"not_after"`
	}
	var status struct {
		Now time.Time `json:"now"`
	}
	getAdminJSON(t, inst, "/certs", &certs)
	getAdminJSON(t, inst, "/status", &status)
	want := map[string]int{}
	for _, cert := range certs {
		want[cert.Names[0]] = int(cert.NotAfter.Sub(status.Now) / (24 * time.Hour))
	}
	if len(want) != 2 {
		t.Fatalf("/certs lists %v; want app.test and soon.test", want)
	}

	url := "http://" + inst.Admin + "/"
	dom := string(runChromium(t, chromium, "--dump-dom", url))
	for name, days := range want {
		row := regexp.MustCompile(`(?s)<tr data-name="` + regexp.QuoteMeta(name) + `">.*?</tr>`).FindString(dom)
		if row == "" {
			t.Fatalf("no certificate row for %s in the DOM:\n%s", name, dom)
		}
		if !strings.Contains(row, fmt.Sprintf(`data-days="%d"`, days)) || !strings.Contains(row, fmt.Sprintf(">%d days<", days)) {
			t.Errorf("row for %s does not say %d days left:\n%s", name, days, row)
		}
	}
	for name, class := range map[string]string{"soon.test": "crit", "app.test": "ok"} {
		row := regexp.MustCompile(`(?s)<tr data-name="` + regexp.QuoteMeta(name) + `">.*?</tr>`).FindString(dom)
		if !strings.Contains(row, `class="pill days-left `+class+`"`) {
			t.Errorf("%s is not coloured %s (a 7-day local leaf on schedule is ok, 2 days of 33 is critical):\n%s", name, class, row)
		}
	}
	traffic := regexp.MustCompile(`(?s)<tbody id="traffic">.*?</tbody>`).FindString(dom)
	if !regexp.MustCompile(`<code>app.test</code></td><td class="num">\d+\.\d\d</td><td class="num">\d+\.\d\d</td><td class="num">6</td><td class="num">3</td>`).MatchString(traffic) {
		t.Errorf("traffic row for app.test lacks rates and the counts 6 requests, 3 errors:\n%s", traffic)
	}
	up := regexp.MustCompile(`(?s)<tbody id="upstreams">.*?</tbody>`).FindString(dom)
	if !strings.Contains(up, "http://"+dead) || !strings.Contains(up, `class="pill crit">down<`) {
		t.Errorf("the upstreams table does not show %s down:\n%s", dead, up)
	}
	for _, s := range []string{"reload_failed", "upstream_down", "proxy http://127.0.0.1:", "<code>app.test</code>"} {
		if !strings.Contains(dom, s) {
			t.Errorf("the dashboard lacks %q:\n%s", s, dom)
		}
	}
	if m := regexp.MustCompile(`<span id="stale">(.*?)</span>`).FindStringSubmatch(dom); m == nil || m[1] != "" {
		t.Errorf("the page could not read the admin API: %v", m)
	}

	shot := filepath.Join(t.TempDir(), "dashboard.png")
	runChromium(t, chromium, "--screenshot="+shot, url)
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 10000 {
		t.Fatalf("screenshot %s: %v", shot, err)
	}
	if dir := os.Getenv("TLSGATE_ARTIFACTS"); dir != "" {
		data, _ := os.ReadFile(shot)
		_ = os.WriteFile(filepath.Join(dir, "dashboard.png"), data, 0o644)
	}
	t.Logf("screenshot: %s", shot)
}

func getAdminJSON(t *testing.T, inst *instance, path string, v any) {
	t.Helper()
	resp, err := http.Get("http://" + inst.Admin + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}
