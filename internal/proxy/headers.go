package proxy

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/tlsgate/tlsgate/internal/access"
)

// Canonical header names, written out so the hot path skips canonicalizing.
const (
	hdrXFF             = "X-Forwarded-For"
	hdrXFHost          = "X-Forwarded-Host"
	hdrXFProto         = "X-Forwarded-Proto"
	hdrXRealIP         = "X-Real-Ip"
	hdrForwarded       = "Forwarded"
	hdrClientCert      = "Client-Cert"
	hdrClientCertChain = "Client-Cert-Chain"
	hdrCertSubject     = "X-Client-Cert-Subject"
	hdrCertFingerprint = "X-Client-Cert-Fingerprint"
	hdrUser            = access.HeaderUser
)

// vouched lists, in lower case, every header tlsgate writes for the backend
// and so vouches for: clients' copies never reach a backend, nor do
// look-alikes spelled with underscores (see DropLookalikes). It is the one
// list; the server's request entry and this package's Rewrite both use it.
var vouched = lowerSet(hdrXFF, hdrXFHost, hdrXFProto, hdrXRealIP, hdrForwarded,
	hdrClientCert, hdrClientCertChain, hdrCertSubject, hdrCertFingerprint,
	hdrUser) // set from access.User by setUser

func lowerSet(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[strings.ToLower(n)] = true
	}
	return m
}

// DropLookalikes removes headers that spell a header tlsgate vouches for
// with underscores (X_Real_IP, X_Client_Cert_Subject): Go keeps them apart
// from the real one, but WSGI and CGI servers (uwsgi, gunicorn) and nginx
// with underscores_in_headers turn both into HTTP_X_REAL_IP, so they would
// pass as ours.
func DropLookalikes(h http.Header) {
	for k := range h {
		if strings.IndexByte(k, '_') >= 0 && vouched[strings.ToLower(strings.ReplaceAll(k, "_", "-"))] {
			delete(h, k)
		}
	}
}

// Shared read-only header values; assigning them saves a slice per request.
// Neither this package nor net/http modifies outbound header slices in place.
var (
	protoHTTPS = []string{"https"}
	protoHTTP  = []string{"http"}
)

// forwarder writes the forwarding headers of one route. It is immutable.
type forwarder struct {
	trusted []netip.Prefix
}

// set writes X-Forwarded-For, -Host, -Proto and Forwarded on out.
// httputil.ReverseProxy has already removed the client's copies from out;
// when the peer is a trusted proxy, its values are read from in, kept and
// extended with this hop.
func (f *forwarder) set(in, out *http.Request) {
	ip, _, err := net.SplitHostPort(in.RemoteAddr)
	if err != nil {
		ip = "" // e.g. a unix socket listener: no address to report
	}
	trusted := len(f.trusted) > 0 && ip != "" && f.isTrusted(ip)
	proto, protoName := protoHTTP, "http"
	if in.TLS != nil {
		proto, protoName = protoHTTPS, "https"
	}

	// One backing array for the new header slices: one allocation, not four.
	vals := new([4]string)
	h := out.Header

	xff := ip
	if prior := in.Header[hdrXFF]; trusted && len(prior) > 0 {
		xff = joinHop(prior, ip)
	}
	if xff != "" {
		vals[0] = xff
		h[hdrXFF] = vals[0:1:1]
	}

	if prior := in.Header[hdrXFHost]; trusted && len(prior) > 0 {
		h[hdrXFHost] = prior
	} else if in.Host != "" {
		vals[1] = in.Host
		h[hdrXFHost] = vals[1:2:2]
	}

	if prior := in.Header[hdrXFProto]; trusted && len(prior) > 0 {
		h[hdrXFProto] = prior
	} else {
		h[hdrXFProto] = proto
	}

	// X-Real-IP is not ours to define, but nginx sets it and many apps
	// trust it: a client must not be able to choose it.
	switch prior := in.Header[hdrXRealIP]; {
	case trusted && len(prior) > 0:
		h[hdrXRealIP] = prior
	case ip != "":
		vals[3] = ip
		h[hdrXRealIP] = vals[3:4:4]
	default:
		delete(h, hdrXRealIP)
	}

	elem := forwardedElement(ip, in.Host, protoName)
	if prior := in.Header[hdrForwarded]; trusted && len(prior) > 0 {
		elem = joinHop(prior, elem)
	}
	vals[2] = elem
	h[hdrForwarded] = vals[2:3:3]
}

func (f *forwarder) isTrusted(ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range f.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// unmapPrefixes returns list with IPv4-mapped prefixes (::ffff:10.0.0.0/104)
// written as the IPv4 prefixes they are (10.0.0.0/8): peer addresses are
// unmapped before matching, so a mapped prefix would never match one.
func unmapPrefixes(list []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(list))
	for _, p := range list {
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
		}
		out = append(out, p)
	}
	return out
}

// joinHop appends this hop to the list a trusted proxy sent.
func joinHop(prior []string, hop string) string {
	if hop == "" {
		return strings.Join(prior, ", ")
	}
	return strings.Join(prior, ", ") + ", " + hop
}

// forwardedElement builds one RFC 7239 element: for=IP;host=HOST;proto=P.
// IPv6 addresses are quoted in brackets; a host that is not a token
// (e.g. with a port) is a quoted string.
func forwardedElement(ip, host, proto string) string {
	var b strings.Builder
	b.Grow(len("for=\"[]\";host=\"\";proto=https") + len(ip) + 2*len(host))
	b.WriteString("for=")
	switch {
	case ip == "":
		b.WriteString("unknown")
	case strings.IndexByte(ip, ':') >= 0:
		b.WriteString(`"[`)
		b.WriteString(ip)
		b.WriteString(`]"`)
	default:
		b.WriteString(ip)
	}
	if host != "" {
		b.WriteString(";host=")
		writeTokenOrQuoted(&b, host)
	}
	b.WriteString(";proto=")
	b.WriteString(proto)
	return b.String()
}

func writeTokenOrQuoted(b *strings.Builder, s string) {
	if isToken(s) {
		b.WriteString(s)
		return
	}
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
}

// isToken reports whether s is an RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// setClientCert removes any client-sent certificate headers from out and,
// when the client presented a certificate over TLS, sets them from it:
// Client-Cert and Client-Cert-Chain as RFC 9440 defines them, the subject
// as an RFC 4514 string, and the SHA-256 fingerprint of the DER in hex.
func setClientCert(in, out *http.Request) {
	h := out.Header
	delete(h, hdrClientCert)
	delete(h, hdrClientCertChain)
	delete(h, hdrCertSubject)
	delete(h, hdrCertFingerprint)
	if in.TLS == nil || len(in.TLS.PeerCertificates) == 0 {
		return
	}
	certs := in.TLS.PeerCertificates
	leaf := certs[0]
	h[hdrClientCert] = []string{byteSequence(leaf.Raw)}
	if len(certs) > 1 {
		parts := make([]string, 0, len(certs)-1)
		for _, c := range certs[1:] {
			parts = append(parts, byteSequence(c.Raw))
		}
		h[hdrClientCertChain] = []string{strings.Join(parts, ", ")}
	}
	h[hdrCertSubject] = []string{leaf.Subject.String()}
	sum := sha256.Sum256(leaf.Raw)
	h[hdrCertFingerprint] = []string{hex.EncodeToString(sum[:])}
}

// setUser removes any client-sent X-Forwarded-User from out and sets it to
// the user an auth middleware vouched for, if any: only tlsgate may say who
// the user is.
func setUser(in, out *http.Request) {
	delete(out.Header, hdrUser)
	if u := access.User(in.Context()); u != "" {
		out.Header[hdrUser] = []string{u}
	}
}

// byteSequence encodes der as an RFC 8941 byte sequence: ":BASE64:".
func byteSequence(der []byte) string {
	n := base64.StdEncoding.EncodedLen(len(der))
	b := make([]byte, n+2)
	b[0] = ':'
	base64.StdEncoding.Encode(b[1:], der)
	b[n+1] = ':'
	return string(b)
}
