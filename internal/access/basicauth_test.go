package access

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func mustHash(t testing.TB, pass string) []byte {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// seen records what the next handler got.
type seen struct {
	user, authz string
	called      bool
}

func (s *seen) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.called, s.user, s.authz = true, User(r.Context()), r.Header.Get("Authorization")
	})
}

func TestBasicAuth(t *testing.T) {
	users := map[string][]byte{"alice": mustHash(t, "s3cret")}
	tests := []struct {
		name       string
		user, pass string
		noAuth     bool
		preflight  bool
		keep       bool
		want       int
		wantUser   string
	}{
		{name: "right", user: "alice", pass: "s3cret", want: 200, wantUser: "alice"},
		{name: "wrong password", user: "alice", pass: "nope", want: 401},
		{name: "unknown user", user: "bob", pass: "s3cret", want: 401},
		{name: "missing header", noAuth: true, want: 401},
		{name: "keep authorization", user: "alice", pass: "s3cret", keep: true, want: 200, wantUser: "alice"},
		{name: "preflight passes", noAuth: true, preflight: true, want: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s seen
			h := BasicAuth(s.handler(), BasicAuthOptions{Realm: "staging", Users: users, KeepAuthorization: tc.keep, PassPreflight: true})
			r := httptest.NewRequest("GET", "/", nil)
			if !tc.noAuth {
				r.SetBasicAuth(tc.user, tc.pass)
			}
			if tc.preflight {
				r.Method = http.MethodOptions
				r.Header.Set("Origin", "https://app.example")
				r.Header.Set("Access-Control-Request-Method", "GET")
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("status %d; want %d", w.Code, tc.want)
			}
			if tc.want == 401 {
				if got, want := w.Header().Get("WWW-Authenticate"), `Basic realm="staging", charset="UTF-8"`; got != want {
					t.Errorf("WWW-Authenticate %q; want %q", got, want)
				}
				if s.called {
					t.Error("next was called on 401")
				}
				return
			}
			if s.user != tc.wantUser {
				t.Errorf("user %q; want %q", s.user, tc.wantUser)
			}
			if (s.authz != "") != (tc.keep && !tc.noAuth) {
				t.Errorf("Authorization reaching next: %q (keep=%v)", s.authz, tc.keep)
			}
		})
	}
}

// A preflight without PassPreflight needs credentials like any request.
func TestBasicAuthPreflightWithoutCORS(t *testing.T) {
	var s seen
	h := BasicAuth(s.handler(), BasicAuthOptions{Realm: "r", Users: map[string][]byte{}})
	r := httptest.NewRequest("OPTIONS", "/", nil)
	r.Header.Set("Origin", "https://app.example")
	r.Header.Set("Access-Control-Request-Method", "GET")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 401 {
		t.Fatalf("status %d; want 401", w.Code)
	}
}

func TestCredCache(t *testing.T) {
	now := time.Unix(0, 0)
	c := newCredCache(2, time.Minute, func() time.Time { return now })
	a, b, d := [32]byte{1}, [32]byte{2}, [32]byte{3}
	c.add(a)
	c.add(b)
	if !c.has(a) || !c.has(b) {
		t.Fatal("fresh entries missing")
	}
	c.add(d) // evicts a, the oldest
	if c.has(a) || !c.has(d) {
		t.Error("size bound: oldest entry not evicted")
	}
	now = now.Add(2 * time.Minute)
	if c.has(b) {
		t.Error("ttl: expired entry still verified")
	}
	for i := range 100 {
		c.add([32]byte{byte(i), 9})
	}
	if len(c.at) > 2 || len(c.order) > 4 {
		t.Errorf("cache grew past its bound: %d entries, %d order", len(c.at), len(c.order))
	}
}

func TestParseHtpasswd(t *testing.T) {
	good := string(mustHash(t, "x"))
	tests := []struct {
		name, text string
		users      []string
		errLine    int
	}{
		{name: "bcrypt lines", text: "alice:" + good + "\n# comment\n\nbob:" + good + "\r\n", users: []string{"alice", "bob"}},
		{name: "md5 apr1", text: "alice:" + good + "\ncarol:$apr1$abc$defghijklmnopqrstuvwxy\n", errLine: 2},
		{name: "sha", text: "dave:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", errLine: 1},
		{name: "crypt", text: "erin:abJnggxhB/yWI\n", errLine: 1},
		{name: "no colon", text: "just-a-name\n", errLine: 1},
		{name: "duplicate", text: "a:" + good + "\na:" + good + "\n", errLine: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			users, err := ParseHtpasswd("htpasswd", strings.NewReader(tc.text))
			if tc.errLine != 0 {
				var he *HtpasswdError
				if !errors.As(err, &he) || he.Line != tc.errLine {
					t.Fatalf("error %v; want one naming line %d", err, tc.errLine)
				}
				if !strings.HasPrefix(err.Error(), "htpasswd:") {
					t.Errorf("error %q does not start with the file name", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range tc.users {
				if users[u] == nil {
					t.Errorf("user %s missing", u)
				}
			}
		})
	}
}

func FuzzHtpasswd(f *testing.F) {
	f.Add("alice:$2y$05$abcdefghijklmnopqrstuu5Wc2SHsBK1gIhNHm0KQPPGXkN0Ny5Ce\n")
	f.Add("#c\n\nbob:{SHA}x\n")
	f.Fuzz(func(t *testing.T, text string) {
		users, err := ParseHtpasswd("f", strings.NewReader(text))
		if err != nil {
			return
		}
		for u, h := range users {
			if u == "" || strings.Contains(u, ":") || !isBcrypt(string(h)) {
				t.Fatalf("accepted user %q hash %q", u, h)
			}
		}
	})
}
