package integration

import (
	"bufio"
	"crypto/tls"
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

	"golang.org/x/crypto/bcrypt"
)

const accessLogConfig = header + `
trusted_proxies: [127.0.0.2/32]
access_log:
  output: {{.Dir}}/access.log
  format: {{.Vars.Format}}
  redact_query: [token]
sites:
  - hosts: [a.test]
    tls: local
    routes:
      - path: /echo/
        to: ["{{.Vars.Echo}}"]
      - path: /healthz
        respond: {status: 200, body: "ok"}
      - path: /quiet
        respond: {status: 200, body: "shh"}
        access_log: false
      - path: /static/
        static: {{.Vars.Static}}
      - path: /dead/
        to: ["http://{{.Vars.Dead}}"]
      - path: /private
        respond: {status: 200, body: "hi bob"}
        basic_auth: {users: {bob: "{{.Vars.BobHash}}"}}
`

// accessLogVars fills accessLogConfig's {{.Vars.name}} fields.
func accessLogVars(t *testing.T, format, echo, dead string) map[string]string {
	t.Helper()
	return map[string]string{"Format": format, "Echo": echo, "Static": staticTree(t), "Dead": dead, "BobHash": bobHash(t)}
}

// readLines returns the lines of path (none when it does not exist).
func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// waitLines polls until path holds n lines (the writer is asynchronous).
func waitLines(t *testing.T, n int, paths ...string) []string {
	t.Helper()
	var lines []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		lines = nil
		for _, p := range paths {
			lines = append(lines, readLines(t, p)...)
		}
		if len(lines) >= n {
			return lines
		}
	}
	t.Fatalf("want %d log lines, have %d:\n%s", n, len(lines), strings.Join(lines, "\n"))
	return nil
}

func doReq(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func bobHash(t *testing.T) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("bobspassword"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestAccessLogJSON(t *testing.T) {
	t.Parallel()
	echo := echoBackend(t, "echo")
	dead := deadAddr(t)
	inst := startTLSGateVars(t, accessLogVars(t, "json", echo, dead), accessLogConfig)
	pool := inst.rootPool(t)
	c := inst.client(t, pool, false)
	logPath := filepath.Join(inst.Dir, "access.log")

	// A proxied request carrying secrets and a client-chosen request ID.
	req, _ := http.NewRequest("POST", inst.url("a.test", "/echo/x?token=s3cret&y=1"), strings.NewReader("12345"))
	req.Header.Set("Authorization", "Bearer authsecret")
	req.Header.Set("Cookie", "session=cookiesecret")
	req.Header.Set("X-Request-ID", "client-chosen")
	resp, body := doReq(t, c, req)
	proxiedID := resp.Header.Get("X-Request-ID")
	if proxiedID == "" || proxiedID == "client-chosen" {
		t.Errorf("X-Request-ID from an untrusted client: got %q; want a new one", proxiedID)
	}
	if got := decodeEcho(t, body).get("X-Request-Id"); got != proxiedID {
		t.Errorf("backend got X-Request-ID %q; the client got %q", got, proxiedID)
	}
	// A trusted proxy's well-formed ID is kept.
	req, _ = http.NewRequest("GET", inst.url("a.test", "/healthz"), nil)
	req.Header.Set("X-Request-ID", "from-lb.1")
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	if resp, _ := doReq(t, inst.clientFrom(t, pool, false, "127.0.0.2"), req); resp.Header.Get("X-Request-ID") != "from-lb.1" {
		t.Errorf("trusted proxy's X-Request-ID replaced: %q", resp.Header.Get("X-Request-ID"))
	}
	for _, p := range []string{"/quiet", "/static/hello.txt", "/nope", "/dead/"} {
		req, _ = http.NewRequest("GET", inst.url("a.test", p), nil)
		doReq(t, c, req)
	}
	req, _ = http.NewRequest("GET", inst.url("a.test", "/private"), nil)
	req.SetBasicAuth("bob", "bobspassword")
	if resp, _ := doReq(t, c, req); resp.StatusCode != 200 {
		t.Errorf("basic auth: %d", resp.StatusCode)
	}
	// A Host no site lists on a.test's connection: 421, logged as unknown.
	req, _ = http.NewRequest("GET", inst.url("a.test", "/"), nil)
	req.Host = "other.test"
	doReq(t, c, req)

	lines := waitLines(t, 7, logPath)
	type line struct {
		RequestID string  `json:"request_id"`
		Site      string  `json:"site"`
		Route     string  `json:"route"`
		ClientIP  string  `json:"client_ip"`
		Method    string  `json:"method"`
		URI       string  `json:"uri"`
		Status    int     `json:"status"`
		BytesIn   int64   `json:"bytes_in"`
		BytesOut  int64   `json:"bytes_out"`
		Upstream  string  `json:"upstream"`
		Duration  float64 `json:"duration_ms"`
		TLS       string  `json:"tls_version"`
		SNI       string  `json:"sni"`
		User      string  `json:"user"`
	}
	var got []line
	for _, l := range lines {
		var v line
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("not JSON: %q: %v", l, err)
		}
		got = append(got, v)
	}
	if len(got) != 7 {
		t.Fatalf("want 7 lines (/quiet is not logged), got %d:\n%s", len(got), strings.Join(lines, "\n"))
	}
	p := got[0]
	if p.RequestID != proxiedID || p.Status != 200 || p.BytesIn != 5 || p.BytesOut != int64(len(body)) ||
		p.Upstream != echo || p.Route != "/echo/" || p.Site != "a.test" || p.URI != "/echo/x?token=REDACTED&y=1" ||
		p.ClientIP != "127.0.0.1" || p.TLS != "TLSv1.3" || p.SNI != "a.test" || p.Method != "POST" {
		t.Errorf("proxied line: %+v\n%s", p, lines[0])
	}
	if got[1].RequestID != "from-lb.1" || got[1].ClientIP != "203.0.113.9" || got[1].Route != "/healthz" || got[1].BytesOut != 2 {
		t.Errorf("respond line: %s", lines[1])
	}
	want := []struct {
		route  string
		status int
	}{{"/static/", 200}, {"none", 404}, {"/dead/", 502}}
	for i, w := range want {
		g := got[2+i]
		if g.Status != w.status || (w.route != "none" && g.Route != w.route) || g.RequestID == "" || g.BytesOut == 0 {
			t.Errorf("line %d: want route %s status %d: %s", 2+i, w.route, w.status, lines[2+i])
		}
	}
	if got[4].Upstream != "http://"+dead {
		t.Errorf("502 line upstream %q; want http://%s", got[4].Upstream, dead)
	}
	if got[5].User != "bob" || got[5].Route != "/private" {
		t.Errorf("basic auth line: %s", lines[5])
	}
	if got[6].Status != 421 || got[6].Site != "unknown" || got[6].RequestID == "" {
		t.Errorf("421 line: %s", lines[6])
	}
	all, _ := os.ReadFile(logPath)
	out := string(all) + inst.Proc.Stdout.String() + inst.Proc.Stderr.String()
	for _, secret := range []string{"s3cret", "authsecret", "cookiesecret", "bobspassword", "Ym9iOmJvYnNwYXNzd29yZA"} {
		if strings.Contains(out, secret) {
			t.Errorf("%q is in the logs", secret)
		}
	}
}

// combinedLine is nginx's combined format, strictly.
var combinedLine = regexp.MustCompile(`^\S+ - \S+ \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "[A-Z]+ \S+ HTTP/[0-9.]+" \d{3} \d+ "[^"]*" "[^"]*"$`)

func TestAccessLogCombinedAndReopen(t *testing.T) {
	t.Parallel()
	inst := startTLSGateVars(t, accessLogVars(t, "combined", echoBackend(t, "echo"), deadAddr(t)), accessLogConfig)
	c := inst.client(t, inst.rootPool(t), true)
	logPath := filepath.Join(inst.Dir, "access.log")
	send := func(path string) {
		req, _ := http.NewRequest("GET", inst.url("a.test", path), nil)
		req.Header.Set("User-Agent", `Mozilla/5.0 "quoted"`)
		req.Header.Set("Referer", "https://ref.test/")
		doReq(t, c, req)
	}
	const before = 20
	for range before {
		send("/healthz")
	}
	waitLines(t, before, logPath)

	// logrotate's way: move the file, then SIGUSR1. Keep serving until the
	// new file appears (bounded); every line is in one of the two files.
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	inst.Proc.Signal(t, sigUSR1)
	sent := before
	for ; sent < 5000; sent++ {
		if _, err := os.Stat(logPath); err == nil {
			break
		}
		send("/echo/")
	}
	if sent == 5000 {
		t.Fatal("no new log file after SIGUSR1")
	}
	lines := waitLines(t, sent, logPath+".1", logPath)
	if len(lines) != sent {
		t.Errorf("sent %d requests, logged %d lines", sent, len(lines))
	}
	for _, l := range lines {
		if !combinedLine.MatchString(l) {
			t.Fatalf("not nginx combined: %q", l)
		}
	}

	if _, err := exec.LookPath("goaccess"); err != nil {
		t.Skip("goaccess not installed (scripts/test.sh installs it)")
	}
	report := filepath.Join(inst.Dir, "report.html")
	cmd := exec.Command("goaccess", "--log-format=COMBINED", "--no-global-config", "-o", report, logPath+".1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("goaccess: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(report); err != nil || !strings.Contains(string(b), "/healthz") {
		t.Errorf("goaccess report lacks /healthz (err %v)", err)
	}
}

func TestRequestMetrics(t *testing.T) {
	t.Parallel()
	inst := startTLSGateVars(t, accessLogVars(t, "json", echoBackend(t, "echo"), deadAddr(t)), accessLogConfig)
	pool := inst.rootPool(t)
	c := inst.client(t, pool, true)
	// One handshake that completes and one for a name no site serves.
	for _, name := range []string{"a.test", "nowhere.test"} {
		conn, err := tls.Dial("tcp", inst.HTTPS, &tls.Config{ServerName: name, RootCAs: pool})
		if err == nil {
			conn.Close()
		}
	}
	const n = 7
	for range n {
		req, _ := http.NewRequest("GET", inst.url("a.test", "/echo/"), nil)
		doReq(t, c, req)
	}
	// Random Host headers: served by the connection's site, never a label.
	for i := range 1000 {
		req, _ := http.NewRequest("GET", inst.url("a.test", "/healthz"), nil)
		req.Host = fmt.Sprintf("r%d-%d.example", i, time.Now().UnixNano())
		doReq(t, c, req)
	}
	var metrics string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, metrics = get(t, http.DefaultClient, "http://"+inst.Admin+"/metrics")
		if strings.Contains(metrics, `tlsgate_tls_handshakes_total{result="ok",site="a.test",version="TLSv1.3"}`) &&
			strings.Contains(metrics, `tlsgate_tls_handshakes_total{result="failed",site="unknown",version=""}`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no handshake counts in /metrics:\n%s", metrics)
		}
	}
	if !strings.Contains(metrics, `tlsgate_connections_open{listener="https"} `) {
		t.Errorf("no tlsgate_connections_open for https")
	}
	series := 0
	var echoCount string
	sc := bufio.NewScanner(strings.NewReader(metrics))
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "tlsgate_http_requests_total{") {
			series++
			if strings.HasPrefix(l, `tlsgate_http_requests_total{code="200",route="/echo/",site="a.test"} `) {
				echoCount = strings.Fields(l)[1]
			}
		}
	}
	if echoCount != fmt.Sprint(n) {
		t.Errorf("tlsgate_http_requests_total for /echo/ = %q; want %d", echoCount, n)
	}
	if series > 5 {
		t.Errorf("%d request series after 1000 random hosts; labels are not bounded", series)
	}
}
