package access

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP is the real client address of r: the TCP peer (as the PROXY
// protocol listener reports it in RemoteAddr), or, when that peer is in
// trusted, the rightmost X-Forwarded-For entry that is not itself trusted
// (entries left of it could be written by anyone). The zero Addr means
// there is none (a unix socket peer). Addresses are unmapped.
func ClientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	ip = ip.WithZone("").Unmap()
	if !contains(trusted, ip) {
		return ip
	}
	xff := r.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		parts := strings.Split(xff[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return ip // garbage from here on: trust nothing further left
			}
			a = a.WithZone("").Unmap()
			if !contains(trusted, a) {
				return a
			}
			ip = a
		}
	}
	return ip
}

func contains(list []netip.Prefix, a netip.Addr) bool {
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
