package integration

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tlsgate/tlsgate/test/testenv"
)

// hashPassword runs `tlsgate hash-password` with pass on stdin.
func hashPassword(t *testing.T, pass string) string {
	t.Helper()
	cmd := exec.Command(tlsgateBin, "hash-password", "--cost", "5")
	cmd.Env, cmd.Stdin = childEnv, strings.NewReader(pass+"\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tlsgate hash-password: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// curlStatus runs curl and returns the status code, response headers and
// body it printed (-i), for host's path on inst.
func curlAnswer(t *testing.T, inst *instance, host, path string, extra ...string) (int, string) {
	t.Helper()
	args := append([]string{"--cacert", inst.RootPath(), "-i"}, extra...)
	r := curl(t, inst, host, path, args...)
	if r.Code != 0 {
		t.Fatalf("curl %s: %s", path, r)
	}
	var code int
	fmt.Sscanf(r.Stdout, "HTTP/%s %d", new(string), &code)
	return code, r.Stdout
}

// TestBasicAuth: wrong password, unknown user and no credentials get 401
// with the challenge; the right ones reach the backend with the user in
// X-Forwarded-User and no Authorization. Users come inline, from an
// htpasswd file written with `tlsgate hash-password`, and from one written
// by Apache's `htpasswd -B`.
func TestBasicAuth(t *testing.T) {
	t.Parallel()
	skipShort(t, "curl and htpasswd")
	htpasswdBin := requirePeer(t, "htpasswd", "apache2-utils")
	echo := echoBackend(t, "echo")
	g := newGateConfig(t)
	ours := writeFile(t, g.Dir, "ours.htpasswd", "# made by tlsgate hash-password\nbob:"+hashPassword(t, "bob-pass")+"\n")
	apache := filepath.Join(g.Dir, "apache.htpasswd")
	if r := runCmd(t, "", htpasswdBin, "-cbB", "-C", "5", apache, "carol", "carol-pass"); r.Code != 0 {
		t.Fatalf("htpasswd -B: %s", r)
	}
	g.Vars = map[string]string{"Echo": echo, "AliceHash": hashPassword(t, "alice-pass")}
	inst := startWith(t, g, header+`
sites:
  - hosts: [inline.test]
    tls: local
    basic_auth: {realm: staging, users: {alice: "{{.Vars.AliceHash}}"}}
    routes:
      - path: /
        to: ["{{.Vars.Echo}}"]
      - path: /open/
        to: ["{{.Vars.Echo}}"]
        basic_auth: {realm: other, users_file: ours.htpasswd}
      - path: /keep/
        to: ["{{.Vars.Echo}}"]
        basic_auth: {realm: staging, users: {alice: "{{.Vars.AliceHash}}"}, keep_authorization: true}
  - hosts: [apache.test]
    tls: local
    basic_auth: {users_file: apache.htpasswd}
    routes:
      - path: /
        to: ["{{.Vars.Echo}}"]
`)
	_ = ours

	for _, tc := range []struct {
		name, host, path, creds string
		want                    int
		wantUser, wantRealm     string
		keep                    bool
	}{
		{"right inline", "inline.test", "/", "alice:alice-pass", 200, "alice", "", false},
		{"keep_authorization", "inline.test", "/keep/", "alice:alice-pass", 200, "alice", "", true},
		{"wrong password", "inline.test", "/", "alice:nope", 401, "", "staging", false},
		{"unknown user", "inline.test", "/", "mallory:alice-pass", 401, "", "staging", false},
		{"missing", "inline.test", "/", "", 401, "", "staging", false},
		{"route replaces site", "inline.test", "/open/x", "bob:bob-pass", 200, "bob", "", false},
		{"site users not on route", "inline.test", "/open/x", "alice:alice-pass", 401, "", "other", false},
		{"htpasswd -B", "apache.test", "/", "carol:carol-pass", 200, "carol", "", false},
		{"htpasswd -B wrong", "apache.test", "/", "carol:x", 401, "", "restricted", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			extra := []string{"-H", "X-Forwarded-User: spoofed"}
			if tc.creds != "" {
				extra = append(extra, "-u", tc.creds)
			}
			code, out := curlAnswer(t, inst, tc.host, tc.path, extra...)
			if code != tc.want {
				t.Fatalf("status %d; want %d\n%s", code, tc.want, out)
			}
			if tc.want == 401 {
				want := fmt.Sprintf(`www-authenticate: Basic realm="%s", charset="UTF-8"`, tc.wantRealm)
				if !strings.Contains(strings.ToLower(out), strings.ToLower(want)) {
					t.Errorf("no %q in\n%s", want, out)
				}
				return
			}
			e := decodeEcho(t, out[strings.Index(out, "{"):])
			if got := e.values("X-Forwarded-User"); len(got) != 1 || got[0] != tc.wantUser {
				t.Errorf("backend X-Forwarded-User %q; want [%s]", got, tc.wantUser)
			}
			if got := e.get("Authorization"); (got != "") != tc.keep {
				t.Errorf("backend got Authorization %q; want it only with keep_authorization", got)
			}
		})
	}

	t.Run("users_file re-read on reload", func(t *testing.T) {
		writeFile(t, g.Dir, "ours.htpasswd", "dave:"+hashPassword(t, "dave-pass")+"\n")
		if status, body := adminCall(t, inst, "POST", "/reload"); status != 200 {
			t.Fatalf("POST /reload: %d %s", status, body)
		}
		if code, out := curlAnswer(t, inst, "inline.test", "/open/x", "-u", "dave:dave-pass"); code != 200 {
			t.Errorf("user added to users_file, after reload: %d\n%s", code, out)
		}
		if code, out := curlAnswer(t, inst, "inline.test", "/open/x", "-u", "bob:bob-pass"); code != 401 {
			t.Errorf("user removed from users_file (and cached as verified before), after reload: %d; want 401\n%s", code, out)
		}
	})
}

// TestBasicAuthBadHtpasswd: an MD5 line in users_file fails validation
// with the file and line of that line.
func TestBasicAuthBadHtpasswd(t *testing.T) {
	t.Parallel()
	g := newGateConfig(t)
	writeFile(t, g.Dir, "md5.htpasswd", "# old\ndave:$apr1$abcdefgh$ijklmnopqrstuvwxyz0123\n")
	cfg := writeFile(t, g.Dir, "tlsgate.yaml", g.render(t, header+`
sites:
  - hosts: [a.test]
    tls: local
    basic_auth: {users_file: md5.htpasswd}
    routes:
      - path: /
        respond: {body: ok}
`))
	r := tlsgate(t, g.Dir, "validate", "-c", cfg)
	if r.Code == 0 || !strings.Contains(r.Stderr+r.Stdout, "md5.htpasswd:2:") {
		t.Fatalf("validate with an MD5 htpasswd line: %s; want an error naming md5.htpasswd:2", r)
	}
}

// TestIPLists: deny before allow, per site and route, from 127.0.0.1,
// 127.0.0.2 and ::1, and through a trusted proxy's X-Forwarded-For.
func TestIPLists(t *testing.T) {
	t.Parallel()
	skipShort(t, "curl")
	g := newGateConfig(t)
	// Both loopbacks: IPv4 and IPv6 on one port.
	port := portOf(t, g.HTTPS)
	g.HTTPS = fmt.Sprintf(":%d", port)
	inst := startWith(t, g, header+`
trusted_proxies: [127.0.0.3]
sites:
  - hosts: [ips.test]
    tls: local
    allow_ips: [127.0.0.1, "::1"]
    routes:
      - path: /
        respond: {body: "in"}
      - path: /v4only/
        respond: {body: "in"}
        allow_ips: [127.0.0.0/8]
        deny_ips: [127.0.0.1/32]
      - path: /open/
        respond: {body: "in"}
        allow_ips: []
`)
	for _, tc := range []struct {
		name, path, from, xff string
		want                  int
	}{
		{"allowed v4", "/", "127.0.0.1", "", 200},
		{"not allowed v4", "/", "127.0.0.2", "", 403},
		{"allowed v6", "/", "::1", "", 200},
		{"route deny first", "/v4only/", "127.0.0.1", "", 403},
		{"route allow", "/v4only/", "127.0.0.2", "", 200},
		{"route replaces site", "/v4only/", "::1", "", 403},
		{"route opens", "/open/", "127.0.0.2", "", 200},
		{"trusted proxy for allowed client", "/", "127.0.0.3", "127.0.0.1", 200},
		{"trusted proxy for other client", "/", "127.0.0.3", "192.0.2.7", 403},
		{"untrusted peer's XFF ignored", "/", "127.0.0.2", "127.0.0.1", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := "127.0.0.1"
			if tc.from == "::1" {
				target = "[::1]"
			}
			args := []string{"--cacert", inst.RootPath(), "-o", "/dev/null", "-w", "%{http_code}",
				"--interface", tc.from, "--resolve", fmt.Sprintf("ips.test:%d:%s", port, target)}
			if tc.xff != "" {
				args = append(args, "-H", "X-Forwarded-For: "+tc.xff)
			}
			r := runCmd(t, "", "curl", append(args, "-sS", fmt.Sprintf("https://ips.test:%d%s", port, tc.path))...)
			if r.Code != 0 || r.Stdout != fmt.Sprint(tc.want) {
				t.Fatalf("from %s: %s; want status %d", tc.from, r, tc.want)
			}
		})
	}
}

// TestRateLimit: 30 requests at once with burst 20 give exactly 10 × 429,
// each with Retry-After; a route's own limit replaces the site's; after
// the refill time requests pass again; answers carry the draft RateLimit
// and RateLimit-Policy fields.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	skipShort(t, "curl")
	inst := startTLSGate(t, header+`
sites:
  - hosts: [rl.test]
    tls: local
    rate_limit: {requests: 1, per: 1m, burst: 20}
    routes:
      - path: /
        respond: {body: "ok"}
      - path: /api/
        respond: {body: "ok"}
        rate_limit: {requests: 100, per: 1s, burst: 100, key: "header:X-API-Key"}
      - path: /refill/
        respond: {body: "ok"}
        rate_limit: {requests: 1, per: 3s, burst: 1}
`)
	// One curl, 30 sequential requests over one connection.
	args := []string{"--cacert", inst.RootPath(), "-sS", "-o", "/dev/null", "-D", "-", "-w", "status=%{http_code}\n",
		"--resolve", fmt.Sprintf("rl.test:%d:127.0.0.1", inst.HTTPSPort)}
	for range 30 {
		args = append(args, inst.url("rl.test", "/"))
	}
	r := runCmd(t, "", "curl", args...)
	if r.Code != 0 {
		t.Fatal(r)
	}
	ok, limited, retry := strings.Count(r.Stdout, "status=200"), strings.Count(r.Stdout, "status=429"), strings.Count(strings.ToLower(r.Stdout), "retry-after: ")
	if ok != 20 || limited != 10 || retry != 10 {
		t.Fatalf("30 requests, burst 20: %d × 200, %d × 429, %d Retry-After; want 20, 10, 10\n%s", ok, limited, retry, r.Stdout)
	}
	if code, out := curlAnswer(t, inst, "rl.test", "/api/x", "-H", "X-API-Key: k1"); code != 200 {
		t.Errorf("route with its own limit: %d\n%s", code, out)
	}

	t.Run("refill", func(t *testing.T) {
		c := inst.client(t, inst.rootPool(t), true)
		send := func() (*http.Response, error) {
			resp, err := c.Get(inst.url("rl.test", "/refill/"))
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			return resp, err
		}
		// Taken before the request: the token is spent after it, so the
		// refill cannot come sooner than 3s from here.
		spent := time.Now()
		first, err := send()
		if err != nil {
			t.Fatal(err)
		}
		if first.StatusCode != 200 {
			t.Fatalf("first request: %d", first.StatusCode)
		}
		// One request per 3s, burst 1: the policy is 1 per 3s; none left,
		// full again in 3s.
		if got, want := first.Header.Get("RateLimit-Policy"), `"tlsgate";q=1;w=3`; got != want {
			t.Errorf("RateLimit-Policy %q; want %q", got, want)
		}
		if got, want := first.Header.Get("RateLimit"), `"tlsgate";r=0;t=3`; got != want {
			t.Errorf("RateLimit %q; want %q", got, want)
		}
		limited := 0
		eventually(t, 10*time.Second, "a request passing again after the refill", func() error {
			resp, err := send()
			if err != nil {
				return err
			}
			if resp.StatusCode == 429 {
				limited++
				if ra := resp.Header.Get("Retry-After"); ra != "1" && ra != "2" && ra != "3" {
					t.Fatalf("429 with Retry-After %q; want 1 to 3 (seconds to the next token)", ra)
				}
				return fmt.Errorf("still 429")
			}
			if resp.StatusCode != 200 {
				t.Fatalf("status %d; want 200 or 429", resp.StatusCode)
			}
			return nil
		})
		// The token came back with the refill, not before: the polls in
		// between were refused (and did not spend anything).
		if waited := time.Since(spent); limited == 0 || waited < 3*time.Second-50*time.Millisecond {
			t.Errorf("passed again after %v and %d refusals; want 3s of 429s first", waited, limited)
		}
	})
}

// TestForwardAuth: an auth service (Flask, started here) allows, denies
// with 403, and redirects to a login page; its answers pass to the client
// as sent, copy_headers reach the backend and client-sent copies do not;
// the client's Authorization reaches the service; with the service
// stopped, 503.
func TestForwardAuth(t *testing.T) {
	t.Parallel()
	requirePython(t)
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePort(t)
	cmd := exec.Command("/usr/bin/python3", filepath.Join(testdata, "forward_auth.py"), fmt.Sprint(port))
	cmd.Env = childEnv
	authSvc := testenv.Start(t, cmd)
	t.Cleanup(authSvc.Kill)
	authURL := fmt.Sprintf("http://127.0.0.1:%d", port)
	eventually(t, 10*time.Second, "auth service ready", func() error {
		resp, err := http.Get(authURL + "/ready")
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	echo := echoBackend(t, "echo")
	inst := startTLSGate(t, fmt.Sprintf(header+`
sites:
  - hosts: [fa.test]
    tls: local
    forward_auth: {url: "%s/verify", copy_headers: [X-User, X-Email], timeout: 2s}
    routes:
      - path: /
        to: ["%s"]
      - path: /elsewhere/
        to: ["%[2]s"]
        forward_auth: {url: "http://%s/verify", timeout: 2s}
`, authURL, echo, deadAddr(t)))

	t.Run("allowed", func(t *testing.T) {
		code, out := curlAnswer(t, inst, "fa.test", "/app?x=1", "-H", "Cookie: session=good", "-H", "X-User: mallory", "-H", "X-Email: spoof@evil")
		if code != 200 {
			t.Fatalf("status %d\n%s", code, out)
		}
		if strings.Contains(strings.ToLower(out), "x-saw-") {
			t.Errorf("the auth service's own headers of a 2xx reached the client\n%s", out)
		}
		e := decodeEcho(t, out[strings.Index(out, "{"):])
		if got := e.values("X-User"); len(got) != 1 || got[0] != "alice" {
			t.Errorf("backend X-User %q; want [alice]", got)
		}
		if got := e.values("X-Email"); len(got) != 1 || got[0] != "alice@example.com" {
			t.Errorf("backend X-Email %q; want [alice@example.com]", got)
		}
	})
	t.Run("route replaces site", func(t *testing.T) {
		// The route asks its own service (nobody listening), not the site's.
		code, out := curlAnswer(t, inst, "fa.test", "/elsewhere/x", "-H", "Cookie: session=good")
		if code != 503 {
			t.Fatalf("status %d; want 503 from the route's own, unreachable, service\n%s", code, out)
		}
	})
	t.Run("denied", func(t *testing.T) {
		code, out := curlAnswer(t, inst, "fa.test", "/app", "-H", "Cookie: session=bad", "-H", "Authorization: Bearer tok")
		if code != 403 || !strings.Contains(out, "auth says no") {
			t.Fatalf("status %d; want the service's 403\n%s", code, out)
		}
		if !strings.Contains(strings.ToLower(out), "x-saw-authorization: bearer tok") {
			t.Errorf("the client's Authorization did not reach the auth service\n%s", out)
		}
	})
	t.Run("login redirect", func(t *testing.T) {
		code, out := curlAnswer(t, inst, "fa.test", "/app?x=1")
		low := strings.ToLower(out)
		if code != 302 || !strings.Contains(low, "location: https://login.example/?rd=/app?x=1") {
			t.Fatalf("status %d; want the service's 302 to its login page\n%s", code, out)
		}
		for _, want := range []string{"x-saw-method: get", "x-saw-proto: https", "x-saw-host: fa.test", "x-saw-for: 127.0.0.1"} {
			if !strings.Contains(low, want) {
				t.Errorf("auth service did not see %q\n%s", want, out)
			}
		}
	})
	t.Run("service stopped", func(t *testing.T) {
		authSvc.Kill()
		eventually(t, 10*time.Second, "auth service gone", func() error {
			if _, err := http.Get(authURL + "/ready"); err == nil {
				return fmt.Errorf("still answering")
			}
			return nil
		})
		code, out := curlAnswer(t, inst, "fa.test", "/app", "-H", "Cookie: session=good")
		if code != 503 {
			t.Fatalf("status %d; want 503\n%s", code, out)
		}
		if !inst.WaitLog("forward auth: auth service unavailable", 5*time.Second) {
			t.Errorf("the 503 was not logged")
		}
	})
}

// requirePythonModule checks that Debian's python3 can import module,
// failing with the package to install (skipped under -short).
func requirePythonModule(t *testing.T, module, deb string) {
	t.Helper()
	skipShort(t, "python3 "+module)
	if out, err := exec.Command("/usr/bin/python3", "-c", "import "+module).CombinedOutput(); err != nil {
		t.Fatalf("python3 cannot import %s (%v: %s); install it with: apt-get install -y %s", module, err, out, deb)
	}
}

// TestBasicAuthRequests: Python requests, a real client, against basic
// auth: the right password reaches the backend as the user with no
// Authorization; a wrong password, an unknown user and no credentials get
// 401 with the challenge. Then timing: an unknown user costs the same
// bcrypt work as a wrong password, so over 50 tries each the median times
// are within the same order of magnitude (a ratio, never an absolute time).
// The tries go over one kept-alive connection from Go, whose own cost per
// request is small beside bcrypt's: without the dummy hash an unknown user
// answers some 50 times faster at cost 8.
func TestBasicAuthRequests(t *testing.T) {
	t.Parallel()
	requirePythonModule(t, "requests", "python3-requests")
	echo := echoBackend(t, "echo")
	cmd := exec.Command(tlsgateBin, "hash-password", "--cost", "8")
	cmd.Env, cmd.Stdin = childEnv, strings.NewReader("alice-pass\n")
	hash, err := cmd.Output()
	if err != nil {
		t.Fatalf("tlsgate hash-password: %v", err)
	}
	g := newGateConfig(t)
	inst := startWith(t, g, fmt.Sprintf(header+`
sites:
  - hosts: [localhost]
    tls: local
    basic_auth: {realm: staging, users: {alice: "%s"}}
    routes:
      - path: /
        to: ["%s"]
`, strings.TrimSpace(string(hash)), echo))
	url := inst.url("localhost", "/app")

	t.Run("python requests", func(t *testing.T) {
		script, err := filepath.Abs(filepath.Join("testdata", "basic_auth_client.py"))
		if err != nil {
			t.Fatal(err)
		}
		r := testenv.Run(t, 60*time.Second, "", childEnv, "/usr/bin/python3", script, url, inst.RootPath(), "alice", "alice-pass")
		if r.Code != 0 {
			t.Fatalf("basic_auth_client.py: %s", r)
		}
		var cases map[string]struct {
			Status          int    `json:"status"`
			WWWAuthenticate string `json:"www_authenticate"`
			Body            string `json:"body"`
		}
		if err := json.Unmarshal([]byte(r.Stdout), &cases); err != nil {
			t.Fatalf("client output: %v\n%s", err, r.Stdout)
		}
		right := cases["right"]
		if right.Status != 200 {
			t.Fatalf("right password: %d %s", right.Status, right.Body)
		}
		e := decodeEcho(t, right.Body)
		if u := e.values("X-Forwarded-User"); len(u) != 1 || u[0] != "alice" {
			t.Errorf("backend X-Forwarded-User %q; want [alice]", u)
		}
		if a := e.get("Authorization"); a != "" {
			t.Errorf("backend got Authorization %q; want none", a)
		}
		for _, name := range []string{"wrong_password", "unknown_user", "missing"} {
			a := cases[name]
			if a.Status != 401 || a.WWWAuthenticate != `Basic realm="staging", charset="UTF-8"` {
				t.Errorf("%s: %d, WWW-Authenticate %q; want 401 with the staging challenge", name, a.Status, a.WWWAuthenticate)
			}
		}
	})

	t.Run("timing", func(t *testing.T) {
		c := inst.client(t, inst.rootPool(t), false)
		try := func(user, pass string) float64 {
			t.Helper()
			req, err := http.NewRequest("GET", url, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.SetBasicAuth(user, pass)
			start := time.Now()
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			d := time.Since(start).Seconds()
			if resp.StatusCode != 401 {
				t.Fatalf("%s:%s got %d; want 401", user, pass, resp.StatusCode)
			}
			return d
		}
		try("warm", "up") // the first unknown user makes the dummy hash; a new connection
		var known, unknown []float64
		for i := range 50 { // interleaved, so load on the machine hits both alike
			known = append(known, try("alice", fmt.Sprint("wrong-", i)))
			unknown = append(unknown, try(fmt.Sprint("ghost-", i), fmt.Sprint("wrong-", i)))
		}
		k, u := median(known), median(unknown)
		ratio := max(k, u) / min(k, u)
		t.Logf("median over 50 tries: wrong password %.2fms, unknown user %.2fms (ratio %.2f)", k*1000, u*1000, ratio)
		if ratio > 10 {
			t.Errorf("wrong password %.2fms vs unknown user %.2fms (medians of 50): not within 10×; user names can be told apart by timing", k*1000, u*1000)
		}
	})
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// vmRSS is the resident set size of process pid, from /proc/PID/status.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err != nil {
				t.Fatalf("VmRSS line %q: %v", line, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// TestRateLimitMemory: 100,000 distinct header keys keep the running
// binary's memory bounded. The buckets are capped (65,536 per rate_limit
// block), which shows from outside: the first key, spent before the flood,
// is forgotten by it and gets a fresh burst. RSS is measured before and
// after the flood and must grow less than a generous 64 MiB (the figure
// measured is in docs/ACCESS.md).
func TestRateLimitMemory(t *testing.T) {
	t.Parallel()
	skipShort(t, "100,000 requests")
	inst := startTLSGate(t, header+`
sites:
  - hosts: [mem.test]
    tls: local
    routes:
      - path: /
        respond: {body: "ok"}
        rate_limit: {requests: 1, per: 1h, burst: 1, key: "header:X-API-Key"}
`)
	pool := inst.rootPool(t)
	c := inst.client(t, pool, true)
	send := func(key string) int {
		req, err := http.NewRequest("GET", inst.url("mem.test", "/"), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-API-Key", key)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	// A key of API-key length, distinct per request.
	key := func(i int) string { return fmt.Sprintf("key-%032d", i) }
	// flood sends keys from..from+n over a few HTTP/1.1 connections, each
	// request pipelined behind the last: the cheapest client there is, so
	// the 100,000 requests take seconds even under -race.
	flood := func(from, n int) {
		const conns = 4
		var wg sync.WaitGroup
		for w := range conns {
			wg.Go(func() { pipeline(t, inst.HTTPSPort, pool, "mem.test", "X-API-Key", key, from+w, from+n, conns) })
		}
		wg.Wait()
	}
	if a, b := send("first"), send("first"); a != 200 || b != 429 {
		t.Fatalf("first key: %d then %d; want 200 then 429 (burst 1)", a, b)
	}
	flood(0, 5_000) // warm up: connection, buffers, the runtime's first growth
	pid := inst.Proc.Cmd.Process.Pid
	before := vmRSS(t, pid)
	start := time.Now()
	flood(5_000, 100_000)
	after := vmRSS(t, pid)
	t.Logf("100,000 distinct keys in %v: VmRSS %.1f MiB before, %.1f MiB after (+%.1f MiB)",
		time.Since(start).Round(time.Millisecond), float64(before)/(1<<20), float64(after)/(1<<20), float64(after-before)/(1<<20))
	if grown := after - before; grown > 64<<20 {
		t.Errorf("VmRSS grew %.1f MiB over 100,000 keys; want under 64 MiB", float64(grown)/(1<<20))
	}
	if code := send("first"); code != 200 {
		t.Errorf("the first key after the flood: %d; want 200 (evicted, so a fresh burst): the bucket count is not bounded", code)
	}
}

// pipeline sends GET / to host with header set to key(i) for i from from
// (stepping by step) up to to, over one TLS connection to 127.0.0.1:port
// with HTTP/1.1 pipelining, and checks that every answer is 200. It runs
// off the test goroutine, so it reports with t.Error only.
func pipeline(t *testing.T, port int, pool *x509.CertPool, host, header string, key func(int) string, from, to, step int) {
	conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port),
		&tls.Config{RootCAs: pool, ServerName: host, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close()
	writeErr := make(chan error, 1)
	go func() {
		bw := bufio.NewWriterSize(conn, 64<<10)
		for i := from; i < to; i += step {
			fmt.Fprintf(bw, "GET / HTTP/1.1\r\nHost: %s\r\n%s: %s\r\n\r\n", host, header, key(i))
		}
		writeErr <- bw.Flush()
	}()
	br := bufio.NewReaderSize(conn, 64<<10)
	for i := from; i < to; i += step {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Errorf("answer to key %d: %v", i, err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("key %d: status %d; want 200 (a fresh key)", i, resp.StatusCode)
			return
		}
	}
	if err := <-writeErr; err != nil {
		t.Error(err)
	}
}

// TestBasicAuthCORSBrowser: headless Chromium on another origin calls a
// route behind basic auth with an Authorization header. The browser's
// preflight carries no credentials and must still succeed (auth lets it
// through to the CORS policy, which answers it); the real call then
// carries them and reaches the backend as the user, without the header.
func TestBasicAuthCORSBrowser(t *testing.T) {
	t.Parallel()
	chromium := requireChromium(t)
	certutil := requirePeer(t, "certutil", "libnss3-tools")
	echo := echoBackend(t, "echo")
	g := newGateConfig(t)
	target := fmt.Sprintf("https://localhost:%d/api", portOf(t, g.HTTPS))
	origin := authOriginPage(t, target, "alice:alice-pass")
	inst := startWith(t, g, fmt.Sprintf(header+`
access_log: {output: "{{.Dir}}/access.log", format: json}
sites:
  - hosts: [localhost]
    tls: local
    cors:
      allow_origins: ["%s"]
      allow_credentials: true
      allow_headers: [Authorization]
    basic_auth: {realm: api, users: {alice: "%s"}}
    routes:
      - path: /
        to: ["%s"]
`, origin, hashPassword(t, "alice-pass"), echo))
	home := nssHome(t, certutil, inst.RootPath())

	out := pageOutcome(t, chromium, home, origin+"/")
	body, ok := strings.CutPrefix(out, "OK 200 ")
	if !ok {
		t.Fatalf("page from %s says %q; want the credentialed call to succeed (OK 200 ...)", origin, out)
	}
	e := decodeEcho(t, body)
	if u := e.values("X-Forwarded-User"); len(u) != 1 || u[0] != "alice" {
		t.Errorf("backend X-Forwarded-User %q; want [alice]", u)
	}
	if a := e.get("Authorization"); a != "" {
		t.Errorf("backend got Authorization %q; want none", a)
	}
	// The access log shows both: the preflight answered without a user,
	// the call with alice.
	type line struct {
		Method string `json:"method"`
		Status int    `json:"status"`
		User   string `json:"user"`
	}
	logPath := filepath.Join(g.Dir, "access.log")
	eventually(t, 10*time.Second, "the preflight and the call in the access log", func() error {
		b, err := os.ReadFile(logPath)
		if err != nil {
			return err
		}
		var preflight, call bool
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var v line
			if json.Unmarshal([]byte(l), &v) != nil {
				continue
			}
			preflight = preflight || v.Method == "OPTIONS" && v.Status == 204 && v.User == ""
			call = call || v.Method == "GET" && v.Status == 200 && v.User == "alice"
		}
		if !preflight || !call {
			return fmt.Errorf("preflight 204 without user: %v, GET 200 as alice: %v\n%s", preflight, call, b)
		}
		return nil
	})
}

// authOriginPage serves testdata/browser/auth_fetch.html, calling target
// with credentials ("user:password"), from a new loopback server and
// returns its origin, http://localhost:PORT.
func authOriginPage(t *testing.T, target, credentials string) string {
	t.Helper()
	tmpl, err := htmltemplate.ParseFiles(filepath.Join("testdata", "browser", "auth_fetch.html"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		tmpl.Execute(w, struct{ Target, Credentials string }{target, credentials})
	}))
	t.Cleanup(srv.Close)
	return fmt.Sprintf("http://localhost:%d", portOf(t, srv.Listener.Addr().String()))
}

// TestHashPassword: `tlsgate hash-password` reads the first line of stdin
// when it is not a terminal and prints a bcrypt hash of it at --cost; an
// empty password and an out-of-range cost are refused. On a terminal
// (a pseudo-terminal driven by testdata/pty_answer.py) it asks twice with
// echo off, never showing the password, and refuses two different ones.
func TestHashPassword(t *testing.T) {
	t.Parallel()
	const pass = "s3cr3t!#-typed" // '!' and '#' are not in bcrypt's alphabet
	check := func(t *testing.T, out string, cost int) {
		t.Helper()
		hash := strings.TrimSpace(out)
		if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(pass)); err != nil {
			t.Fatalf("printed %q: not a bcrypt hash of the password: %v", out, err)
		}
		if c, _ := bcrypt.Cost([]byte(hash)); c != cost {
			t.Errorf("cost %d; want %d", c, cost)
		}
	}
	run := func(t *testing.T, stdin string, args ...string) testenv.Result {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, tlsgateBin, append([]string{"hash-password"}, args...)...)
		cmd.Env, cmd.Stdin = childEnv, strings.NewReader(stdin)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("tlsgate hash-password: %v", err)
		}
		return testenv.Result{Code: cmd.ProcessState.ExitCode(), Stdout: stdout.String(), Stderr: stderr.String()}
	}
	t.Run("stdin", func(t *testing.T) {
		r := run(t, pass+"\nsecond line ignored\n", "--cost", "5")
		if r.Code != 0 {
			t.Fatal(r)
		}
		check(t, r.Stdout, 5)
	})
	t.Run("stdin default cost", func(t *testing.T) {
		r := run(t, pass)
		if r.Code != 0 {
			t.Fatal(r)
		}
		check(t, r.Stdout, bcrypt.DefaultCost)
	})
	for _, tc := range []struct{ name, stdin, cost, want string }{
		{"empty", "\n", "5", "empty password"},
		{"cost too low", pass, "3", "out of range"},
		{"cost too high", pass, "32", "out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.stdin, "--cost", tc.cost)
			if r.Code == 0 || !strings.Contains(r.Stderr, tc.want) || r.Stdout != "" {
				t.Errorf("%s; want a failure saying %q and no hash", r, tc.want)
			}
		})
	}

	skipShort(t, "python3 on a pseudo-terminal")
	script, err := filepath.Abs(filepath.Join("testdata", "pty_answer.py"))
	if err != nil {
		t.Fatal(err)
	}
	type outcome struct {
		Terminal string `json:"terminal"`
		Stdout   string `json:"stdout"`
		Code     int    `json:"code"`
		EchoOff  []bool `json:"echo_off"`
	}
	prompt := func(t *testing.T, first, second string) outcome {
		t.Helper()
		r := testenv.Run(t, 60*time.Second, "", childEnv, "/usr/bin/python3", script,
			"Password: ", first, "Repeat the password: ", second, "--", tlsgateBin, "hash-password", "--cost", "5")
		var o outcome
		if err := json.Unmarshal([]byte(r.Stdout), &o); err != nil {
			t.Fatalf("pty_answer.py: %v\n%s", err, r)
		}
		if len(o.EchoOff) != 2 || !o.EchoOff[0] || !o.EchoOff[1] {
			t.Errorf("echo off at the two prompts: %v; want [true true]\nterminal: %q", o.EchoOff, o.Terminal)
		}
		if strings.Contains(o.Terminal, first) || strings.Contains(o.Terminal, second) {
			t.Errorf("the password was shown on the terminal: %q", o.Terminal)
		}
		return o
	}
	t.Run("terminal", func(t *testing.T) {
		o := prompt(t, pass, pass)
		if o.Code != 0 {
			t.Fatalf("exit %d; terminal: %q", o.Code, o.Terminal)
		}
		check(t, o.Stdout, 5)
	})
	t.Run("terminal, passwords differ", func(t *testing.T) {
		o := prompt(t, pass, pass+"x")
		if o.Code == 0 || o.Stdout != "" || !strings.Contains(o.Terminal, "differ") {
			t.Errorf("exit %d, stdout %q, terminal %q; want a failure saying the passwords differ", o.Code, o.Stdout, o.Terminal)
		}
	})
}

// TestAccessOrder: a request meets IP lists, then the rate limit, then
// auth. An address outside allow_ips gets 403 even with the right
// password; within it, requests with no credentials spend tokens, so the
// third of a burst of 2 gets 429 rather than 401 (password guessing is
// slowed by the limit), and a refused address spends none.
func TestAccessOrder(t *testing.T) {
	t.Parallel()
	skipShort(t, "curl")
	inst := startTLSGate(t, fmt.Sprintf(header+`
sites:
  - hosts: [order.test]
    tls: local
    allow_ips: [127.0.0.1]
    rate_limit: {requests: 1, per: 1h, burst: 2}
    basic_auth: {users: {alice: "%s"}}
    routes:
      - path: /
        respond: {body: "in"}
`, hashPassword(t, "alice-pass")))
	status := func(from string, extra ...string) int {
		t.Helper()
		args := append([]string{"--cacert", inst.RootPath(), "-o", "/dev/null", "-w", "%{http_code}", "--interface", from}, extra...)
		r := curl(t, inst, "order.test", "/", args...)
		if r.Code != 0 {
			t.Fatalf("curl from %s: %s", from, r)
		}
		var code int
		fmt.Sscan(r.Stdout, &code)
		return code
	}
	for i := range 3 { // refused by the IP list: no token spent
		if got := status("127.0.0.2", "-u", "alice:alice-pass"); got != 403 {
			t.Fatalf("try %d from 127.0.0.2 with the right password: %d; want 403 (IP lists first)", i, got)
		}
	}
	if got := status("127.0.0.1"); got != 401 {
		t.Fatalf("first request without credentials: %d; want 401", got)
	}
	if got := status("127.0.0.1", "-u", "alice:alice-pass"); got != 200 {
		t.Fatalf("second, with the password: %d; want 200", got)
	}
	if got := status("127.0.0.1", "-u", "alice:alice-pass"); got != 429 {
		t.Fatalf("third, with the password, burst 2 spent: %d; want 429 (rate limit before auth)", got)
	}
}
