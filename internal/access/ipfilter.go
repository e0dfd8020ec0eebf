package access

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/tlsgate/tlsgate/internal/config"
)

// IPFilterOptions configure IPFilter.
type IPFilterOptions struct {
	// Allow, when not empty, lets only these addresses in.
	Allow []netip.Prefix
	// Deny keeps these out; it is checked first.
	Deny []netip.Prefix
	// TrustedProxies are the peers whose X-Forwarded-For names the client
	// (see ClientIP).
	TrustedProxies []netip.Prefix
}

// IPFilter returns next behind the allow and deny lists: a client in Deny,
// or not in a non-empty Allow, gets 403. A request without an IP address
// (a unix socket peer) is let in only when Allow is empty.
func IPFilter(next http.Handler, o IPFilterOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := ClientIP(r, o.TrustedProxies)
		denied := ip.IsValid() && contains(o.Deny, ip)
		if len(o.Allow) > 0 && (!ip.IsValid() || !contains(o.Allow, ip)) {
			denied = true
		}
		if denied {
			writeError(w, r, http.StatusForbidden, "403 Forbidden: your address may not use this site")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ParseIPList parses CIDRs and single addresses with config.ParseIPPrefix
// (the same rule validation applies): single addresses become /32 or /128,
// bits outside a prefix are cleared, and IPv4-mapped IPv6 forms
// (::ffff:10.0.0.1, ::ffff:10.0.0.0/104) become IPv4, because ClientIP
// unmaps the addresses it compares.
func ParseIPList(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		p, err := config.ParseIPPrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
