package route

import (
	"strings"
	"testing"

	"github.com/tlsgate/tlsgate/internal/config"
)

func TestHostsMatch(t *testing.T) {
	h := NewHosts(map[string]string{
		"example.com":      "apex",
		"WWW.Example.com.": "www",
		"*.example.com":    "wild",
		"*.api.test":       "apiwild",
		"127.0.0.1":        "v4",
		"::1":              "v6",
		"[2001:db8::1]":    "v6b",
	})
	tests := []struct {
		host string
		want string // "" = no match
	}{
		{"example.com", "apex"},
		{"EXAMPLE.COM", "apex"},
		{"example.com.", "apex"},
		{"example.com:8443", "apex"},
		{"example.com.:8443", "apex"},
		{"www.example.com", "www"},    // exact beats wildcard
		{"a.example.com", "wild"},     // one label
		{"A.Example.Com:443", "wild"}, // case and port
		{"a.b.example.com", ""},       // two labels: no
		{"x.api.test", "apiwild"},
		{"api.test", ""},     // wildcard never matches the apex
		{".example.com", ""}, // empty label
		{"127.0.0.1", "v4"},
		{"127.0.0.1:8443", "v4"},
		{"[::1]", "v6"},
		{"[::1]:8443", "v6"},
		{"::1", "v6"},
		{"[0:0::1]:443", "v6"}, // non-canonical spelling
		{"[2001:DB8::1]", "v6b"},
		{"[2001:db8::1", ""}, // unterminated bracket
		{"", ""},
		{"other.org", ""},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			got, ok := h.Match(tt.host)
			if ok != (tt.want != "") || got != tt.want {
				t.Errorf("Match(%q) = %q, %v; want %q", tt.host, got, ok, tt.want)
			}
		})
	}
}

// The catch-all "*" (a tls: on_demand site) takes every name the others
// do not, after exact names and wildcards; never an empty or overlong host.
func TestHostsMatchCatchAll(t *testing.T) {
	h := NewHosts(map[string]string{"app.example.com": "app", "*.example.com": "wild", "::1": "v6", "*": "any"})
	for host, want := range map[string]string{
		"app.example.com":        "app",
		"x.example.com":          "wild",
		"a.b.example.com":        "any",
		"customer.org:443":       "any",
		"[::1]":                  "v6",
		"[0:0::1]":               "v6",
		"[2001:db8::2]":          "any",
		"":                       "",
		strings.Repeat("a", 300): "",
	} {
		got, ok := h.Match(host)
		if ok != (want != "") || got != want {
			t.Errorf("Match(%q) = %q, %v; want %q", host, got, ok, want)
		}
	}
}

func TestHostsMatchDoesNotAllocate(t *testing.T) {
	h := NewHosts(map[string]int{"example.com": 1, "*.example.com": 2})
	for _, host := range []string{"example.com:443", "WWW.EXAMPLE.COM", "a.example.com.", "nope.org"} {
		if n := testing.AllocsPerRun(100, func() { h.Match(host) }); n != 0 {
			t.Errorf("Match(%q): %v allocations; want 0", host, n)
		}
	}
}

func BenchmarkHostsMatch(b *testing.B) {
	m := map[string]int{}
	for i, n := range []string{"a.com", "b.com", "c.org", "app.example.com", "www.app.example.com", "*.dev.example.com"} {
		m[n] = i
	}
	h := NewHosts(m)
	for _, host := range []string{"app.example.com:443", "x.dev.example.com", "App.Example.COM"} {
		b.Run(host, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := h.Match(host); !ok {
					b.Fatal("no match")
				}
			}
		})
	}
}

// One host alone covers exactly the names config.HostCovers says: the rule
// has one owner, and Hosts is only its index (issue 15).
func TestHostsAgreeWithHostCovers(t *testing.T) {
	hosts := []string{"example.com", "Shop.Example.com", "*.example.com", "*.Sub.Example.com", config.CatchAllHost, "127.0.0.1"}
	names := []string{"example.com", "shop.example.com", "SHOP.example.com", "a.b.example.com", "b.sub.example.com",
		"sub.example.com", ".example.com", "example.org", "x.example.com.evil", "127.0.0.1", "exampleXcom"}
	for _, h := range hosts {
		idx := NewHosts(map[string]bool{h: true})
		for _, n := range names {
			_, got := idx.Match(n)
			if want := config.HostCovers(h, n); got != want {
				t.Errorf("host %q, name %q: Hosts.Match %v; config.HostCovers %v", h, n, got, want)
			}
		}
	}
}
