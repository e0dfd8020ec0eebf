package access

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestRateLimit(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	h := RateLimit(ok, RateLimitOptions{Requests: 1, Per: 10 * time.Second, Burst: 20, now: clock})
	send := func(remote string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	// The draft's fields: the bucket as the policy (20 per 200s, the time
	// an empty bucket takes to fill), and what is left of it.
	w := send("192.0.2.1:1")
	if got, want := w.Header().Get("RateLimit-Policy"), `"tlsgate";q=20;w=200`; got != want {
		t.Errorf("RateLimit-Policy %q; want %q", got, want)
	}
	if got, want := w.Header().Get("RateLimit"), `"tlsgate";r=19;t=10`; got != want {
		t.Errorf("first RateLimit %q; want %q", got, want)
	}
	limited := 0
	for i := range 29 {
		w := send("192.0.2.1:1")
		if i == 18 { // the 20th request: the last token
			if got, want := w.Header().Get("RateLimit"), `"tlsgate";r=0;t=200`; w.Code != 200 || got != want {
				t.Errorf("20th request: %d, RateLimit %q; want 200, %q", w.Code, got, want)
			}
		}
		if w.Code == 429 {
			limited++
			if got := w.Header().Get("Retry-After"); got != "10" {
				t.Errorf("Retry-After %q; want 10", got)
			}
		}
	}
	if limited != 10 {
		t.Errorf("%d of 30 limited with burst 20; want 10", limited)
	}
	if w := send("192.0.2.2:1"); w.Code != 200 {
		t.Errorf("another client limited: %d", w.Code)
	}
	// Another address in the same IPv6 /64 shares a bucket.
	for range 20 {
		send("[2001:db8::1]:1")
	}
	if w := send("[2001:db8::ffff:1]:1"); w.Code != 429 {
		t.Errorf("same /64: status %d; want 429", w.Code)
	}
	if w := send("[2001:db8:0:1::1]:1"); w.Code != 200 {
		t.Errorf("other /64: status %d; want 200", w.Code)
	}
	now = now.Add(10 * time.Second) // one token back
	if w := send("192.0.2.1:1"); w.Code != 200 {
		t.Errorf("after refill: status %d; want 200", w.Code)
	}
	if w := send("192.0.2.1:1"); w.Code != 429 {
		t.Errorf("refill gave more than one token: %d", w.Code)
	}
}

// Many distinct keys never hold more than MaxKeys buckets.
func TestRateLimitBounded(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	h := RateLimit(ok, RateLimitOptions{Requests: 5, Per: time.Second, Burst: 5, Header: "X-Key", MaxKeys: 1600})
	for i := range 100_000 {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-Key", fmt.Sprint("k", i))
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	if n := h.(*rateLimiter).keys(); n > 1600 {
		t.Errorf("%d buckets held; the bound is 1600", n)
	}
}
