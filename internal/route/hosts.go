// Package route matches requests to handlers: sites by Host (Hosts), routes
// by longest path prefix (NewPaths), and the two actions that are not a
// proxy: serving files (Static) and fixed answers (Respond).
//
// Start at Hosts and NewPaths; the server package compiles a config into a
// tree of these once per load, and every request only reads it.
package route

import (
	"net/netip"
	"strings"

	"github.com/tlsgate/tlsgate/internal/config"
)

// maxHostLen bounds the host names Match lowercases on the stack; longer
// ones cannot be DNS names (253 bytes) and never match.
const maxHostLen = 255

// Hosts maps host names to values: an exact name first, then a one-label
// wildcard ("*.example.com" matches a.example.com, but neither
// a.b.example.com nor example.com), then the catch-all "*", which matches
// every name nothing else does. Which names a host covers is
// config.HostCovers's rule; Hosts indexes it for many hosts and adds the
// precedence.
//
// A Hosts is immutable after NewHosts and safe for concurrent use.
type Hosts[T any] struct {
	exact       map[string]T
	wildcard    map[string]T // keyed by the part after "*."
	catchAll    T            // the value of "*", when hasCatchAll
	hasCatchAll bool
}

// NewHosts builds a Hosts from names such as "example.com", "*.example.com",
// "127.0.0.1" or "::1". Names are normalized like Match normalizes hosts:
// lower case, no trailing dot, no port, no IPv6 brackets.
func NewHosts[T any](m map[string]T) *Hosts[T] {
	h := &Hosts[T]{exact: make(map[string]T, len(m)), wildcard: make(map[string]T)}
	for name, v := range m {
		if name == config.CatchAllHost {
			h.catchAll, h.hasCatchAll = v, true
			continue
		}
		name = strings.ToLower(hostOnly(name))
		if rest, ok := config.WildcardBase(name); ok {
			h.wildcard[rest] = v
			continue
		}
		h.exact[canonicalIP(name)] = v
	}
	return h
}

// Match returns the value for host, a Host header or SNI name. The port,
// IPv6 brackets and a trailing dot are ignored, and case does not matter.
// Match does not allocate unless host is an IPv6 literal in a non-canonical
// spelling.
func (h *Hosts[T]) Match(host string) (T, bool) {
	var zero T
	host = hostOnly(host)
	if len(host) == 0 || len(host) > maxHostLen {
		return zero, false
	}
	// Lowercase on the stack: m[string(b)] does not allocate.
	var buf [maxHostLen]byte
	b := buf[:len(host)]
	for i := 0; i < len(host); i++ {
		c := host[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	if v, ok := h.exact[string(b)]; ok {
		return v, true
	}
	if dot := strings.IndexByte(host, '.'); dot > 0 && len(h.wildcard) > 0 {
		if v, ok := h.wildcard[string(b[dot+1:])]; ok {
			return v, true
		}
	}
	// "[0:0::1]" and "::1" are the same address; compare IPv6 literals in
	// their canonical form (rare, so an allocation here is fine).
	if strings.IndexByte(host, ':') >= 0 {
		if c := canonicalIP(string(b)); c != string(b) {
			if v, ok := h.exact[c]; ok {
				return v, true
			}
		}
	}
	if h.hasCatchAll {
		return h.catchAll, true
	}
	return zero, false
}

// hostOnly strips a port, IPv6 brackets and one trailing dot from host,
// without allocating.
func hostOnly(host string) string {
	if strings.HasPrefix(host, "[") {
		if end := strings.IndexByte(host, ']'); end > 0 {
			return host[1:end]
		}
		return ""
	}
	// One colon is a port; more is a bare IPv6 address (no port possible).
	if i := strings.IndexByte(host, ':'); i >= 0 && strings.IndexByte(host[i+1:], ':') < 0 {
		host = host[:i]
	}
	return strings.TrimSuffix(host, ".")
}

// canonicalIP returns the canonical spelling of an IP literal, or s as is.
func canonicalIP(s string) string {
	if strings.IndexByte(s, ':') < 0 {
		return s
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String()
	}
	return s
}
