package access

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func prefixes(t testing.TB, s ...string) []netip.Prefix {
	t.Helper()
	p, err := ParseIPList(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestClientIP(t *testing.T) {
	trusted := prefixes(t, "10.0.0.0/8")
	for _, tc := range []struct{ name, remote, xff, want string }{
		{"direct", "192.0.2.1:5000", "203.0.113.9", "192.0.2.1"},
		{"mapped peer", "[::ffff:192.0.2.1]:5000", "", "192.0.2.1"},
		{"v6 peer", "[2001:db8::1]:5000", "", "2001:db8::1"},
		{"trusted peer", "10.0.0.1:5000", "203.0.113.9", "203.0.113.9"},
		{"trusted chain", "10.0.0.1:5000", "6.6.6.6, 203.0.113.9, 10.0.0.2", "203.0.113.9"},
		{"trusted, garbage", "10.0.0.1:5000", "nonsense", "10.0.0.1"},
		{"trusted, no header", "10.0.0.1:5000", "", "10.0.0.1"},
		{"unix socket", "@", "", "invalid IP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if got := ClientIP(r, trusted).String(); got != tc.want {
				t.Errorf("ClientIP = %s; want %s", got, tc.want)
			}
		})
	}
}

func TestIPFilter(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	for _, tc := range []struct {
		name        string
		allow, deny []string
		remote      string
		want        int
	}{
		{"allowed", []string{"127.0.0.1"}, nil, "127.0.0.1:1", 200},
		{"not allowed", []string{"127.0.0.1"}, nil, "127.0.0.2:1", 403},
		{"allowed v6", []string{"::1"}, nil, "[::1]:1", 200},
		{"allowed mapped", []string{"127.0.0.0/8"}, nil, "[::ffff:127.0.0.5]:1", 200},
		{"allow written mapped", []string{"::ffff:127.0.0.1"}, nil, "127.0.0.1:1", 200},
		{"deny first", []string{"10.0.0.0/8"}, []string{"10.0.0.66/32"}, "10.0.0.66:1", 403},
		{"deny only", nil, []string{"2001:db8::/32"}, "[2001:db8::5]:1", 403},
		{"deny only, other", nil, []string{"2001:db8::/32"}, "[2001:db9::5]:1", 200},
		{"no IP, allow list", []string{"127.0.0.1"}, nil, "@", 403},
		{"no IP, deny list", nil, []string{"127.0.0.1"}, "@", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := IPFilter(ok, IPFilterOptions{Allow: prefixes(t, tc.allow...), Deny: prefixes(t, tc.deny...)})
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Errorf("status %d; want %d", w.Code, tc.want)
			}
		})
	}
}

func FuzzIPList(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "::ffff:10.1.2.3", "2001:db8::/32", "fe80::1%eth0", "1.2.3.4/33"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ParseIPList([]string{s})
		if err != nil {
			return
		}
		p := ps[0]
		if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
			t.Fatalf("%q parsed to %v: not a masked, unmapped, zoneless prefix", s, p)
		}
		// Parsing what it prints gives the same prefix.
		again, err := ParseIPList([]string{p.String()})
		if err != nil || again[0] != p {
			t.Fatalf("%q → %v → %v, %v", s, p, again, err)
		}
	})
}
