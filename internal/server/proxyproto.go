package server

import (
	"net"
	"net/netip"
	"time"

	"github.com/pires/go-proxyproto"
)

// proxyProtoListener reads PROXY protocol v1/v2 headers from the peers the
// Runtime in service trusts (listen.proxy_protocol.trusted, so a reload
// changes who is trusted), following HAProxy's accept-proxy: a trusted peer
// must send a header, and a connection from it without one is closed; the
// header's source is then the connection's RemoteAddr, which is where
// forwarded headers, the access log, allow_ips and rate limits read the
// client from. Other peers' connections are handed on untouched: a header
// they send is not read, so it is the start of their request and fails as
// garbage (400 on HTTP, a failed handshake on TLS) — no peer outside the
// list can choose its address.
//
// github.com/pires/go-proxyproto parses both versions (with TLVs), bounds
// the wait for the header, and reads it lazily in the connection's own
// goroutine (on the first Read or RemoteAddr), so a slow peer never holds
// up Accept.
func (s *Server) proxyProtoListener(ln net.Listener, headerTimeout time.Duration) net.Listener {
	return &proxyproto.Listener{
		Listener:          ln,
		ReadHeaderTimeout: headerTimeout,
		ConnPolicy: func(o proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
			rt := s.rt.Load()
			if rt == nil || len(rt.proxyTrusted) == 0 {
				return proxyproto.SKIP, nil
			}
			if contains(rt.proxyTrusted, peerIP(o.Upstream)) {
				return proxyproto.REQUIRE, nil
			}
			return proxyproto.SKIP, nil
		},
	}
}

// peerIP is a TCP peer's address, unmapped; the zero Addr for others.
func peerIP(a net.Addr) netip.Addr {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

func contains(list []netip.Prefix, a netip.Addr) bool {
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
