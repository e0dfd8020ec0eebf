package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// alertEvent is one webhook body: {event, name, time, detail}.
type alertEvent struct {
	Event  string         `json:"event"`
	Name   string         `json:"name"`
	Time   time.Time      `json:"time"`
	Detail map[string]any `json:"detail"`
}

// alertReceiver is a webhook receiver run by the test. answer picks the
// status of the nth request (0-based); 0 means hang until the sender gives up.
type alertReceiver struct {
	URL    string
	answer func(n int) int

	mu       sync.Mutex
	hits     int
	accepted []alertEvent
	auth     []string
}

func startAlertReceiver(t *testing.T, answer func(n int) int) *alertReceiver {
	t.Helper()
	h := &alertReceiver{answer: answer}
	if h.answer == nil {
		h.answer = func(int) int { return http.StatusOK }
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		n := h.hits
		h.hits++
		h.auth = append(h.auth, r.Header.Get("Authorization"))
		h.mu.Unlock()
		code := h.answer(n)
		if code == 0 {
			<-r.Context().Done()
			return
		}
		if code == http.StatusOK {
			var e alertEvent
			if err := json.Unmarshal(body, &e); err != nil {
				code = http.StatusBadRequest
			} else {
				h.mu.Lock()
				h.accepted = append(h.accepted, e)
				h.mu.Unlock()
			}
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	h.URL = srv.URL
	return h
}

// find returns the accepted events named event about name.
func (h *alertReceiver) find(event, name string) []alertEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []alertEvent
	for _, e := range h.accepted {
		if e.Event == event && (name == "" || e.Name == name) {
			out = append(out, e)
		}
	}
	return out
}

// wait waits for an accepted event and returns the first.
func (h *alertReceiver) wait(t *testing.T, d time.Duration, event, name string) alertEvent {
	t.Helper()
	var got alertEvent
	eventually(t, d, fmt.Sprintf("webhook receives %s for %s", event, name), func() error {
		list := h.find(event, name)
		if len(list) == 0 {
			h.mu.Lock()
			defer h.mu.Unlock()
			return fmt.Errorf("got %d requests, accepted %+v", h.hits, h.accepted)
		}
		got = list[0]
		return nil
	})
	return got
}

// adminEvents reads GET /events of the instance.
func (inst *instance) adminEvents(t *testing.T) []alertEvent {
	t.Helper()
	resp, err := http.Get("http://" + inst.Admin + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []alertEvent
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatalf("GET /events: %v", err)
	}
	return list
}

func alertsBlock(url, extra string) string {
	return fmt.Sprintf("alerts:\n  webhook: {url: %q, headers: {Authorization: \"Bearer s3cret\"}, timeout: 1s}\n%s", url, extra)
}

// cert_obtained comes from Pebble issuing, cert_failed from a forced
// renewal while Pebble is down, with the error and the next attempt, and
// cert_renewed once it is back.
func TestAlertsACME(t *testing.T) {
	t.Parallel()
	hook := startAlertReceiver(t, nil)
	p, inst := startACME(t, pebbleOptions{}, func(p *pebbleCA) string {
		return p.acmeConfig("http-01") + alertsBlock(hook.URL, "")
	}, acmeSites)
	for _, name := range []string{"a.example.com", "c.example.org"} {
		e := hook.wait(t, 30*time.Second, "cert_obtained", name)
		if e.Time.IsZero() || e.Detail["issuer"] == nil {
			t.Errorf("cert_obtained for %s lacks time or issuer: %+v", name, e)
		}
	}
	hook.mu.Lock()
	got := hook.auth[0]
	hook.mu.Unlock()
	if got != "Bearer s3cret" {
		t.Errorf("webhook Authorization = %q; want the configured header", got)
	}

	p.stop()
	res := tlsgate(t, inst.Dir, "renew", "-c", inst.ConfigPath, "--force", "c.example.org")
	if res.Code == 0 {
		t.Fatalf("renew with the CA down succeeded: %s", res)
	}
	e := hook.wait(t, 30*time.Second, "cert_failed", "c.example.org")
	if e.Detail["renewal"] != true || e.Detail["error"] == "" || e.Detail["next_attempt"] == nil {
		t.Errorf("cert_failed detail = %v; want renewal, error and next_attempt", e.Detail)
	}
	// The CA comes back (a new Pebble that forgot our account: the first
	// try may fail while re-registering): the renewal is cert_renewed.
	p.start()
	for try := 1; ; try++ {
		if res = tlsgate(t, inst.Dir, "renew", "-c", inst.ConfigPath, "--force", "c.example.org"); res.Code == 0 {
			break
		}
		if try == 3 {
			t.Fatalf("renew after the CA came back, %d tries: %s", try, res)
		}
	}
	hook.wait(t, 30*time.Second, "cert_renewed", "c.example.org")
	seen := map[string]bool{}
	for _, e := range inst.adminEvents(t) {
		seen[e.Event+" "+e.Name] = true
	}
	for _, want := range []string{"cert_obtained c.example.org", "cert_failed c.example.org", "cert_renewed c.example.org"} {
		if !seen[want] {
			t.Errorf("GET /events lacks %s: %v", want, seen)
		}
	}
}

// writeShortLived writes NAME.crt/.key for name: 30 days old with two
// days left, so it is past both default expiry warnings.
func writeShortLived(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	return writeCertValid(t, dir, name, time.Now().Add(-30*24*time.Hour), time.Now().Add(2*24*time.Hour+time.Hour))
}

// writeCertValid writes a self-signed NAME.crt/.key for name, valid from
// notBefore to notAfter.
func writeCertValid(t *testing.T, dir, name string, notBefore, notAfter time.Time) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{name},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = writeFile(t, dir, name+".crt", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	keyFile = writeFile(t, dir, name+".key", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})))
	return certFile, keyFile
}

// cert_expiring fires once for a certificate near its end, reaches the
// webhook and the exec command (JSON on stdin), and a restart does not
// send it again.
func TestAlertsExpiringOnce(t *testing.T) {
	t.Parallel()
	hook := startAlertReceiver(t, nil)
	g := newGateConfig(t)
	writeShortLived(t, g.Dir, "soon.test")
	writeShortLived(t, g.Dir, "later.test")
	writeFile(t, g.Dir, "on-event.sh", "#!/bin/sh\n{ echo \"args: $1 $2\"; cat; echo; } >> \"$(dirname \"$0\")/exec.log\"\necho hook ran for $2\n")
	if err := os.Chmod(filepath.Join(g.Dir, "on-event.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	site := func(name string) string {
		return fmt.Sprintf("  - hosts: [%s]\n    tls: {cert_file: ./%s.crt, key_file: ./%s.key}\n    routes: [{path: /, respond: {body: ok}}]\n", name, name, name)
	}
	conf := header + alertsBlock(hook.URL, "  exec: {command: ./on-event.sh}\n  expiry_warnings: [14d, 3d]\n") + "sites:\n" + site("soon.test")
	inst := startWith(t, g, conf)

	e := hook.wait(t, 20*time.Second, "cert_expiring", "soon.test")
	if e.Detail["days_left"] != float64(2) || e.Detail["threshold"] != "3d" {
		t.Errorf("cert_expiring detail = %v; want days_left 2, threshold 3d (the nearest of those crossed)", e.Detail)
	}
	var execLog string
	eventually(t, 10*time.Second, "exec command gets the event", func() error {
		b, _ := os.ReadFile(filepath.Join(g.Dir, "exec.log"))
		execLog = string(b)
		if !strings.Contains(execLog, "args: cert_expiring soon.test\n{") {
			return fmt.Errorf("exec.log: %q", execLog)
		}
		return nil
	})
	var fromExec alertEvent
	line := strings.SplitN(strings.SplitN(execLog, "args: cert_expiring soon.test\n", 2)[1], "\n", 2)[0]
	if err := json.Unmarshal([]byte(line), &fromExec); err != nil || fromExec.Event != "cert_expiring" || fromExec.Name != "soon.test" {
		t.Errorf("exec stdin %q is not the event JSON: %v", line, err)
	}
	if !inst.WaitLog("hook ran for soon.test", 10*time.Second) {
		t.Error("the exec command's output is not in the log")
	}

	// Restart with a second expiring certificate: its alert shows the
	// check ran after the restart; the first is not sent again.
	inst.Stop(t)
	inst = startWith(t, g, conf+site("later.test"))
	hook.wait(t, 20*time.Second, "cert_expiring", "later.test")
	if n := len(hook.find("cert_expiring", "soon.test")); n != 1 {
		t.Errorf("cert_expiring for soon.test sent %d times across a restart; want once", n)
	}

	// A reload that adds a certificate checks it at once, not an hour later.
	writeShortLived(t, g.Dir, "third.test")
	inst.writeConfig(t, conf+site("later.test")+site("third.test"))
	resp, err := http.Post("http://"+inst.Admin+"/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("reload: %d", resp.StatusCode)
	}
	hook.wait(t, 10*time.Second, "cert_expiring", "third.test")
	for _, name := range []string{"soon.test", "later.test"} {
		if n := len(hook.find("cert_expiring", name)); n != 1 {
			t.Errorf("cert_expiring for %s sent %d times; want once", name, n)
		}
	}

	// New files in place (certbot's deploy hook) are cert_renewed.
	writeCertValid(t, g.Dir, "later.test", time.Now().Add(-time.Hour), time.Now().Add(60*24*time.Hour))
	e = hook.wait(t, 10*time.Second, "cert_renewed", "later.test")
	if e.Detail["source"] != "file" || e.Detail["not_after"] == nil {
		t.Errorf("cert_renewed for a file certificate: %v", e.Detail)
	}
}

// A webhook that hangs, then answers 500, delays neither requests nor a
// reload, and the event still arrives by retrying.
func TestAlertsSlowReceiverDelaysNothing(t *testing.T) {
	t.Parallel()
	hook := startAlertReceiver(t, func(n int) int {
		switch n {
		case 0:
			return 0 // hang past the timeout
		case 1:
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	// The hang lasts the 5s timeout: code that waited for delivery would
	// take that long, far beyond the bounds below even on a loaded machine.
	conf := header + fmt.Sprintf("alerts:\n  webhook: {url: %q, timeout: 5s}\n", hook.URL) + `sites:
  - hosts: [app.test]
    routes: [{path: /, respond: {body: ok}}]
`
	inst := startTLSGate(t, conf)
	c := inst.client(t, inst.rootPool(t), false)

	// A broken config: the reload is refused, reload_failed is emitted.
	inst.writeConfig(t, conf+"bogus_key: 1\n")
	start := time.Now()
	resp, err := http.Post("http://"+inst.Admin+"/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("reload of a broken config: %d; want 400", resp.StatusCode)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a refused reload took %s while the webhook hangs", d)
	}
	// Requests keep their latency while the receiver hangs and fails.
	var slowest time.Duration
	for time.Since(start) < 3*time.Second {
		t0 := time.Now()
		if code, _ := get(t, c, inst.url("app.test", "/")); code != 200 {
			t.Fatalf("request: %d", code)
		}
		slowest = max(slowest, time.Since(t0))
	}
	if slowest > 2*time.Second {
		t.Errorf("slowest request %s while the webhook hangs; want no delay", slowest)
	}
	e := hook.wait(t, 20*time.Second, "reload_failed", "")
	if !strings.Contains(fmt.Sprint(e.Detail["error"]), "bogus_key") {
		t.Errorf("reload_failed detail = %v; want the config error", e.Detail)
	}
	hook.mu.Lock()
	hits := hook.hits
	hook.mu.Unlock()
	if hits < 3 {
		t.Errorf("receiver got %d requests; want the hang, the 500 and the retry that succeeded", hits)
	}
}

// tlsgate events lists what happened; --test sends alert_test through the
// sinks, so an operator can check the webhook reaches them.
func TestEventsCLI(t *testing.T) {
	t.Parallel()
	hook := startAlertReceiver(t, nil)
	inst := startTLSGate(t, header+alertsBlock(hook.URL, "")+`sites:
  - hosts: [app.test]
    routes: [{path: /, respond: {body: ok}}]
`)
	res := tlsgate(t, inst.Dir, "events", "-c", inst.ConfigPath, "--test")
	if res.Code != 0 || !strings.Contains(res.Stdout, "sent alert_test") {
		t.Fatalf("events --test: %s", res)
	}
	hook.wait(t, 10*time.Second, "alert_test", "")
	res = tlsgate(t, inst.Dir, "events", "-c", inst.ConfigPath)
	if res.Code != 0 || !regexp.MustCompile(`(?m)^\S+Z\s+cert_obtained\s+app.test\s+issuer=local$`).MatchString(res.Stdout) ||
		!strings.Contains(res.Stdout, "alert_test") {
		t.Errorf("events table:\n%s", res)
	}
	if strings.Index(res.Stdout, "cert_obtained") > strings.Index(res.Stdout, "alert_test") {
		t.Errorf("events not oldest first:\n%s", res.Stdout)
	}
	res = tlsgate(t, inst.Dir, "events", "-c", inst.ConfigPath, "--json")
	lines := strings.Split(strings.TrimSpace(res.Stdout), "\n")
	var last alertEvent
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.Event != "alert_test" {
		t.Errorf("events --json last line %q: %v", lines[len(lines)-1], err)
	}
}
