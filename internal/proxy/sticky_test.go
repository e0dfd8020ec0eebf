package proxy

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/tlsgate/tlsgate/internal/config"
)

// serveAs sends a GET from client address ip straight into h and returns
// the backend that answered.
func serveAs(t *testing.T, h http.Handler, ip string, cookie *http.Cookie) (name string, resp *http.Response) {
	t.Helper()
	req := httptest.NewRequest("GET", "https://site/x", nil)
	req.RemoteAddr = ip + ":40000"
	if cookie != nil {
		req.AddCookie(cookie)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("GET from %s = %d %q", ip, rec.Code, rec.Body)
	}
	var s seen
	decode(t, rec.Body.Bytes(), &s)
	return s.Name, rec.Result()
}

func TestIPHashConsistent(t *testing.T) {
	names := []string{"a", "b", "c"}
	var urls []string
	for _, n := range names {
		urls = append(urls, echoBackend(t, n).URL)
	}
	health := NewHealth(HealthOptions{Logger: testLogger(t)})
	h, err := New(Options{Upstreams: urls, LB: config.LBIPHash, Name: "r", Health: health, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	before := map[string]string{}
	for i := range 60 {
		ip := "10.0.0." + itoa(i+1)
		first, _ := serveAs(t, h, ip, nil)
		for range 3 {
			if again, _ := serveAs(t, h, ip, nil); again != first {
				t.Fatalf("%s went to %s, then %s; want one upstream", ip, first, again)
			}
		}
		before[ip] = first
	}
	counts := map[string]int{}
	for _, n := range before {
		counts[n]++
	}
	if len(counts) != 3 {
		t.Fatalf("60 clients spread as %v; want all three upstreams used", counts)
	}
	// b leaves rotation: only b's clients move.
	health.state("r", urls[1]).activeDown.Store(true)
	for ip, was := range before {
		now, _ := serveAs(t, h, ip, nil)
		switch {
		case was == "b" && now == "b":
			t.Errorf("%s still on b, which is down", ip)
		case was != "b" && now != was:
			t.Errorf("%s moved from %s to %s though %s is up", ip, was, now, was)
		}
	}
}

func TestCookieSticky(t *testing.T) {
	a, b := echoBackend(t, "a"), echoBackend(t, "b")
	h, err := New(Options{Upstreams: []string{a.URL, b.URL}, LB: config.LBCookie, Name: "r", CookiePath: "/app/", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	first, resp := serveAs(t, h, "10.0.0.1", nil)
	cookies := resp.Cookies()
	if len(cookies) != 1 || cookies[0].Name != StickyCookie {
		t.Fatalf("Set-Cookie = %q; want one %s cookie", resp.Header.Values("Set-Cookie"), StickyCookie)
	}
	c := cookies[0]
	line := resp.Header.Get("Set-Cookie")
	for _, attr := range []string{"HttpOnly", "Secure", "SameSite=Lax", "Path=/app/"} {
		if !strings.Contains(line, attr) {
			t.Errorf("Set-Cookie %q lacks %s", line, attr)
		}
	}
	for _, u := range []string{a.URL, b.URL} {
		host := strings.TrimPrefix(u, "http://")
		if strings.Contains(c.Value, host) || strings.Contains(c.Value, strings.Split(host, ":")[1]) {
			t.Errorf("cookie value %q reveals the upstream %s", c.Value, u)
		}
	}
	// Keeping the cookie stays; no new cookie is set.
	for range 6 {
		name, resp := serveAs(t, h, "10.0.0.1", &http.Cookie{Name: StickyCookie, Value: c.Value})
		if name != first {
			t.Fatalf("with the cookie went to %s; want %s", name, first)
		}
		if len(resp.Cookies()) != 0 {
			t.Fatalf("with the cookie got Set-Cookie %q; want none", resp.Header.Values("Set-Cookie"))
		}
	}
	// Dropping it is balanced: both upstreams serve.
	seenNames := map[string]bool{}
	for range 6 {
		name, _ := serveAs(t, h, "10.0.0.1", nil)
		seenNames[name] = true
	}
	if len(seenNames) != 2 {
		t.Fatalf("without the cookie served by %v; want both", seenNames)
	}
	// A forged value is ignored (balanced, and a real cookie set).
	_, resp = serveAs(t, h, "10.0.0.1", &http.Cookie{Name: StickyCookie, Value: "forged"})
	if len(resp.Cookies()) != 1 {
		t.Fatalf("forged cookie: Set-Cookie %q; want a new cookie", resp.Header.Values("Set-Cookie"))
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func decode(t *testing.T, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decode %q: %v", raw, err)
	}
}

// With one upstream, a client that has the cookie is not sent it again.
func TestCookieOneUpstream(t *testing.T) {
	a := echoBackend(t, "a")
	h, err := New(Options{Upstreams: []string{a.URL}, LB: config.LBCookie, Name: "r", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	_, resp := serveAs(t, h, "10.0.0.1", nil)
	c := resp.Cookies()
	if len(c) != 1 {
		t.Fatalf("first answer: Set-Cookie %q; want one", resp.Header.Values("Set-Cookie"))
	}
	if _, resp := serveAs(t, h, "10.0.0.1", c[0]); len(resp.Cookies()) != 0 {
		t.Fatalf("with the cookie: Set-Cookie %q; want none", resp.Header.Values("Set-Cookie"))
	}
}
