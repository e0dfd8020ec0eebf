package integration

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestHTTPRedirect(t *testing.T) {
	t.Parallel()
	inst := startTLSGate(t, oneSiteConfig)
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	wantLoc := fmt.Sprintf("https://a.test:%d/some/path?q=1&x=y%%20z", inst.HTTPSPort)

	tests := []struct {
		name, method, host string
	}{
		{"GET bare host", "GET", "a.test"},
		{"GET host with http port", "GET", fmt.Sprintf("a.test:%d", inst.HTTPPort)},
		// 308 keeps the method and body, unlike 301.
		{"POST", "POST", "a.test"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, "http://"+inst.HTTP+"/some/path?q=1&x=y%20z", strings.NewReader("body"))
			if err != nil {
				t.Fatal(err)
			}
			req.Host = tc.host
			resp, err := plain.Do(req)
			if err != nil {
				t.Fatalf("%s http://%s: %v", tc.method, tc.host, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusPermanentRedirect {
				t.Errorf("status %d; want 308", resp.StatusCode)
			}
			if got := resp.Header.Get("Location"); got != wantLoc {
				t.Errorf("Location %q; want %q", got, wantLoc)
			}
			if got := resp.Header.Get("Strict-Transport-Security"); got != "" {
				t.Errorf("plain HTTP answer carries Strict-Transport-Security %q; HSTS belongs on https only", got)
			}
		})
	}

	t.Run("HSTS on https", func(t *testing.T) {
		resp, err := inst.client(t, inst.rootPool(t), true).Get(inst.url("a.test", "/"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Strict-Transport-Security"); !strings.Contains(got, "max-age=31536000") {
			t.Errorf("https Strict-Transport-Security %q; want max-age=31536000 (365d)", got)
		}
	})
}
