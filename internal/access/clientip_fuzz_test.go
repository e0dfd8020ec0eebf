package access

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// FuzzClientIP: whatever X-Forwarded-For a client sends, the client IP is
// the peer itself unless the peer is a trusted proxy, and otherwise an
// address the chain names with only trusted proxies to its right (or the
// rightmost trusted hop, when every hop is trusted or the chain breaks):
// a client can never choose an address further left than the first
// untrusted hop.
func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.1:5000", "6.6.6.6, 10.0.0.2", "")
	f.Add("192.0.2.1:5000", "6.6.6.6", "")
	f.Add("[::ffff:10.0.0.1]:1", "::ffff:7.7.7.7", "10.1.1.1")
	f.Add("10.0.0.1:5000", "garbage, 10.0.0.3", "fe80::1%eth0")
	f.Add("[2001:db8::1]:443", "", "1.2.3.4,,5.6.7.8")
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	f.Fuzz(func(t *testing.T, remote, xff1, xff2 string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{}}
		for _, v := range []string{xff1, xff2} {
			if v != "" {
				r.Header.Add("X-Forwarded-For", v)
			}
		}
		got := ClientIP(r, trusted)
		peer := ClientIP(&http.Request{RemoteAddr: remote}, nil)
		if !peer.IsValid() {
			if got.IsValid() {
				t.Fatalf("peer %q has no address, yet the client IP is %v", remote, got)
			}
			return
		}
		if !contains(trusted, peer) {
			if got != peer {
				t.Fatalf("untrusted peer %v: client IP %v from X-Forwarded-For", peer, got)
			}
			return
		}
		// Walk the chain from the right as a proxy would: every hop right of
		// the answer must be trusted.
		var hops []string
		for _, v := range []string{xff1, xff2} {
			if v != "" {
				hops = append(hops, strings.Split(v, ",")...)
			}
		}
		if got == peer {
			return
		}
		for j := len(hops) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[j]))
			if err != nil {
				t.Fatalf("client IP %v lies left of the unparsable hop %q", got, hops[j])
			}
			a = a.WithZone("").Unmap()
			if a == got {
				return
			}
			if !contains(trusted, a) {
				t.Fatalf("client IP %v lies left of the untrusted hop %v", got, a)
			}
		}
		t.Fatalf("client IP %v is neither the peer %v nor in the chain %q", got, peer, hops)
	})
}
