package server

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"

	"github.com/tlsgate/tlsgate/internal/accesslog"
	"github.com/tlsgate/tlsgate/internal/answer"
	"github.com/tlsgate/tlsgate/internal/certs"
	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/proxy"
	"github.com/tlsgate/tlsgate/internal/route"
)

// Runtime is one compiled config: immutable once built. The Server swaps a
// pointer to it on reload; requests and handshakes keep the Runtime they
// started with.
type Runtime struct {
	cfg   *config.Config // with defaults filled in
	sites []*site
	hosts *route.Hosts[*site]
	// byIP finds the site that lists an address, for clients without SNI.
	byIP map[netip.Addr]*site
	// fallback is the site for clients that send no SNI and reach an
	// address no site lists: default_sni's site, or the only site.
	fallback *site
	// noCert answers an SNI name no site serves: with no certificate to
	// offer, crypto/tls sends the unrecognized_name alert.
	noCert *tls.Config
	// redirect is the plain-HTTP handler.
	redirect http.Handler
	// log writes access log lines and request metrics.
	log *accesslog.Middleware
	// maxHeaderBytes is limits.max_header_bytes as read at start; the
	// HTTPS server reads more (see headerReadLimit) so that tlsgate
	// answers, and logs, the 431 itself.
	maxHeaderBytes int64
	// proxyTrusted are the peers that must send PROXY protocol headers
	// (listen.proxy_protocol.trusted); empty means none may.
	proxyTrusted []netip.Prefix
	// proxies are the proxy routes, whose health checks run while rt is
	// in service (startUpstreams, stopUpstreams).
	proxies []*proxy.Handler
}

// site is one compiled site.
type site struct {
	hosts   []string
	handler http.Handler
	tls     *tls.Config
	source  certs.Source
	// auth is the site's client_auth policy; nil when it has none.
	auth *clientAuth
	// defaultName is the name whose certificate clients without SNI get;
	// it is also the site's name in logs and metrics.
	defaultName string
	noLog       bool // access_log: false
	// pages are the site's error_pages (nil: none), for the 431 answered
	// before handler (which gives them to every answer inside it).
	pages *answer.Pages
	// strictHost: a Host no site lists, on a connection whose SNI picked
	// this site, gets 421 (sites[].strict_host).
	strictHost bool
}

// siteForHello picks the site whose certificate answers a ClientHello.
func (rt *Runtime) siteForHello(hello *tls.ClientHelloInfo) *site {
	if hello.ServerName != "" {
		s, _ := rt.hosts.Match(hello.ServerName)
		return s
	}
	return rt.siteForLocalAddr(hello.Conn.LocalAddr())
}

// siteForLocalAddr applies the no-SNI rule: the site listing the address
// the client connected to, else default_sni's site, else the only site.
func (rt *Runtime) siteForLocalAddr(addr net.Addr) *site {
	if ip, ok := netip.AddrFromSlice(addrIP(addr)); ok {
		if s := rt.byIP[ip.Unmap()]; s != nil {
			return s
		}
	}
	return rt.fallback
}

// addrIP is the IP of a TCP (h1/h2) or UDP (h3) address, else nil.
func addrIP(addr net.Addr) net.IP {
	switch a := addr.(type) {
	case *net.TCPAddr:
		return a.IP
	case *net.UDPAddr:
		return a.IP
	}
	return nil
}

// certificateName is the name a site's certificate must cover for hello.
func (s *site) certificateName(hello *tls.ClientHelloInfo) string {
	if hello.ServerName != "" {
		return hello.ServerName
	}
	if lip := addrIP(hello.Conn.LocalAddr()); lip != nil {
		ip := lip.String()
		for _, h := range s.hosts {
			if h == ip {
				return ip
			}
		}
	}
	return s.defaultName
}

// ServeHTTP routes an HTTPS request to its site by Host. A request whose Host
// belongs to a different site than the one its TLS connection was made for
// gets 421, so a certificate (and later, client authentication) chosen for one
// site is never used to reach another. A Host no site serves gets 421 too when
// the connection's SNI picked a strict_host site (the default, as Caddy
// refuses); otherwise, and on connections without SNI (https://127.0.0.1/),
// it goes to the connection's site, as nginx's default server does.
//
// The connection's site and client certificate are checked against the
// Runtime in service, not the one of the handshake: connections outlive
// reloads, and a reload that removes the site or adds client_auth must not
// leave them a way in. 421 makes the client open a new connection, whose
// handshake applies the current policy.
func (rt *Runtime) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 && (len(r.TransferEncoding) > 0 || r.ProtoMinor == 0 && r.ContentLength > 0) {
		// RFC 9112 6.1: a request with both Transfer-Encoding and
		// Content-Length, or an HTTP/1.0 request with Transfer-Encoding,
		// may be a smuggling attempt (a proxy in front that framed it the
		// other way reads the rest as another request), and its connection
		// MUST close after the answer. net/http picks one framing but
		// keeps the connection, and drops the other header before any
		// handler can tell; so every chunked HTTP/1.1 request and every
		// HTTP/1.0 request with a body closes its connection (issue 16).
		w.Header().Set("Connection", "close")
	}
	rt.log.Serve(w, r, http.HandlerFunc(rt.serveSite))
}

// serveSite is ServeHTTP inside the access log.
func (rt *Runtime) serveSite(w http.ResponseWriter, r *http.Request) {
	conn := rt.connSite(r)
	s, ok := rt.hosts.Match(r.Host)
	switch {
	case r.TLS != nil && conn == nil:
		misdirected(w, "this server has no site for the name this connection was made for")
		return
	case !ok && conn == nil:
		misdirected(w, "this server has no site for that name")
		return
	case !ok && conn.strictHost && r.TLS.ServerName != "":
		misdirected(w, "no site here serves that host name")
		return
	case !ok:
		s = conn
	case conn != nil && s != conn:
		misdirected(w, "open a new connection for this host name")
		return
	}
	proxy.DropLookalikes(r.Header)
	accesslog.SetSite(r, s.defaultName, s.noLog)
	if rt.maxHeaderBytes > 0 && headerBlockSize(r) > rt.maxHeaderBytes {
		headerTooLarge(w, r, s.pages)
		return
	}
	if s.auth != nil && r.TLS != nil && !s.auth.allows(r.TLS) {
		misdirected(w, "this site's client certificate policy changed; open a new connection")
		return
	}
	s.handler.ServeHTTP(w, r)
}

func misdirected(w http.ResponseWriter, why string) {
	http.Error(w, "421 Misdirected Request: "+why, http.StatusMisdirectedRequest)
}

func (rt *Runtime) connSite(r *http.Request) *site {
	if r.TLS == nil {
		return nil
	}
	if r.TLS.ServerName != "" {
		s, _ := rt.hosts.Match(r.TLS.ServerName)
		return s
	}
	addr, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	return rt.siteForLocalAddr(addr)
}
