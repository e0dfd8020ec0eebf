package proxy

import (
	"net/http"
	"strings"
)

// defaultUserAgent is what net/http sends when a request has no
// User-Agent key at all (ReverseProxy sets an empty one to send none).
const defaultUserAgent = "Go-http-client/1.1"

// appendRequest appends req as net/http's Request.Write would send it to
// an upstream (no proxy, no body), without allocating. ok is false when
// the request holds something the lean writer does not vouch for — an
// invalid method, URI, host or header, or a non-ASCII host that net/http
// would punycode — and net/http should write or refuse it instead.
// Header order is the map's, not sorted: field order between different
// names carries no meaning (RFC 9110, 5.3).
func appendRequest(b []byte, req *http.Request) (_ []byte, ok bool) {
	method := req.Method
	if method == "" {
		method = "GET"
	}
	if !isToken(method) || method == "CONNECT" {
		return b, false
	}
	b = append(b, method...)
	b = append(b, ' ')
	if b, ok = appendRequestURI(b, req); !ok {
		return b, false
	}
	b = append(b, " HTTP/1.1\r\nHost: "...)
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !validHost(host) {
		return b, false
	}
	b = append(b, host...)
	b = append(b, "\r\n"...)

	h := req.Header
	ua := defaultUserAgent
	if v, has := h["User-Agent"]; has {
		ua = ""
		if len(v) > 0 {
			ua = v[0]
		}
	}
	if ua != "" {
		if !validFieldValue(ua) {
			return b, false
		}
		b = append(b, "User-Agent: "...)
		b = append(b, trimOWS(ua)...)
		b = append(b, "\r\n"...)
	}
	switch method {
	case "POST", "PUT", "PATCH": // net/http announces their empty body
		b = append(b, "Content-Length: 0\r\n"...)
	}
	for k, vs := range h {
		switch k {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		if !isToken(k) {
			return b, false
		}
		if framing(k) {
			// A key spelled other than canonically ("content-length"):
			// net/http's parsers never make one, but written out it would
			// give a bodyless request a body length an upstream believes
			// (found by FuzzAppendRequest); a second Host could name another
			// site. Never sent.
			continue
		}
		for _, v := range vs {
			if !validFieldValue(v) {
				return b, false
			}
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, trimOWS(v)...)
			b = append(b, "\r\n"...)
		}
	}
	return append(b, "\r\n"...), true
}

// framing reports whether k names, in any case, a header that frames the
// message or that appendRequest writes itself.
func framing(k string) bool {
	switch len(k) {
	case len("Host"), len("Trailer"), len("User-Agent"), len("Content-Length"), len("Transfer-Encoding"):
		return strings.EqualFold(k, "Host") || strings.EqualFold(k, "Trailer") || strings.EqualFold(k, "User-Agent") ||
			strings.EqualFold(k, "Content-Length") || strings.EqualFold(k, "Transfer-Encoding")
	}
	return false
}

// appendRequestURI appends what url.URL.RequestURI returns, without
// building the string.
func appendRequestURI(b []byte, req *http.Request) ([]byte, bool) {
	u := req.URL
	if u.Opaque != "" {
		return b, false // rare; net/http knows the corner cases
	}
	start := len(b)
	if p := u.EscapedPath(); p != "" {
		b = append(b, p...)
	} else {
		b = append(b, '/')
	}
	if u.ForceQuery || u.RawQuery != "" {
		b = append(b, '?')
		b = append(b, u.RawQuery...)
	}
	for _, c := range b[start:] {
		if c <= ' ' || c == 0x7f {
			return b, false
		}
	}
	return b, true
}

// validFieldValue: no control characters but tab (RFC 9110, 5.5).
func validFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// validHost accepts the ASCII characters of a host[:port], bracketed IPv6
// included, and nothing else: no zone (net/http strips it), no non-ASCII
// (net/http converts it to punycode).
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_'
		if !ok {
			return false
		}
	}
	return true
}

// trimOWS trims the spaces and tabs net/http trims from header values.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
