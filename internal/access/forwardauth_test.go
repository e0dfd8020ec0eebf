package access

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestForwardAuth(t *testing.T) {
	authSvc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("Cookie") {
		case "ok":
			if r.Header.Get("X-Forwarded-Uri") != "/p?q=1" || r.Header.Get("X-Forwarded-Method") != "PUT" || r.Method != "PUT" {
				w.WriteHeader(400)
				return
			}
			w.Header().Set("X-User", "alice")
			w.Header().Set("X-Forwarded-User", "alice")
		case "slow":
			time.Sleep(300 * time.Millisecond)
		default:
			w.Header().Set("Location", "/login")
			w.WriteHeader(302)
		}
	}))
	defer authSvc.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()

	var gotUser, gotHeader string
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotUser, gotHeader = User(r.Context()), r.Header.Get("X-User")
		w.WriteHeader(204)
	})
	for _, tc := range []struct {
		name, url, cookie string
		want              int
		wantUser          string
	}{
		{"allowed", authSvc.URL, "ok", 204, "alice"},
		{"redirect passes", authSvc.URL, "", 302, ""},
		{"timeout", authSvc.URL, "slow", 503, ""},
		{"unreachable", dead.URL, "ok", 503, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gotUser, gotHeader = "", ""
			h := ForwardAuth(next, ForwardAuthOptions{URL: tc.url, CopyHeaders: []string{"x-user", "X-Forwarded-User"}, Timeout: 100 * time.Millisecond})
			r := httptest.NewRequest("PUT", "/p?q=1", nil)
			r.Header.Set("Cookie", tc.cookie)
			r.Header.Set("X-User", "spoofed")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("status %d; want %d", w.Code, tc.want)
			}
			if tc.want == 302 && w.Header().Get("Location") != "/login" {
				t.Errorf("Location %q; want /login", w.Header().Get("Location"))
			}
			if gotUser != tc.wantUser || (tc.want == 204 && gotHeader != "alice") {
				t.Errorf("next saw user %q, X-User %q; want %q", gotUser, gotHeader, tc.wantUser)
			}
		})
	}
}

// With PassPreflight a CORS preflight goes on without asking the service
// (browsers send preflights without cookies or credentials); without it,
// a preflight is asked about like any request.
func TestForwardAuthPreflight(t *testing.T) {
	var asked atomic.Int32
	authSvc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		w.WriteHeader(401)
	}))
	defer authSvc.Close()
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	for _, tc := range []struct {
		name      string
		pass      bool
		want      int
		wantAsked int32
	}{
		{"passed to CORS", true, 204, 0},
		{"asked", false, 401, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asked.Store(0)
			h := ForwardAuth(next, ForwardAuthOptions{URL: authSvc.URL, Timeout: 5 * time.Second, PassPreflight: tc.pass})
			r := httptest.NewRequest("OPTIONS", "/api", nil)
			r.Header.Set("Origin", "https://app.example")
			r.Header.Set("Access-Control-Request-Method", "PUT")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if n := asked.Load(); w.Code != tc.want || n != tc.wantAsked {
				t.Errorf("status %d, service asked %d times; want %d, %d", w.Code, n, tc.want, tc.wantAsked)
			}
		})
	}
}
