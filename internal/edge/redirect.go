// Package edge holds the policies applied around a site's handlers before
// a request reaches a route: the plain-HTTP redirect to HTTPS, HSTS, CORS
// (answered here, on rs/cors) and header edits with security headers.
//
// Each policy is an http.Handler (or a wrapper of one) built once per
// config load; requests only read what was computed then.
package edge

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/tlsgate/tlsgate/internal/answer"
)

// redirect is the handler RedirectHTTPS returns.
type redirect struct {
	port string // ":8443", or "" for 443
}

// RedirectHTTPS returns a handler that answers every request with a 308 to
// https://HOST[:httpsPort]/path?query, the port left out when it is 443.
// HOST is the request's Host with its port stripped; a request without a
// usable Host gets 400.
func RedirectHTTPS(httpsPort int) http.Handler {
	rd := &redirect{}
	if httpsPort != 443 && httpsPort > 0 {
		rd.port = ":" + strconv.Itoa(httpsPort)
	}
	return rd
}

var badHostBody = []byte("400 Bad Request: missing or invalid Host header\n")

func (rd *redirect) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, ok := redirectHost(r.Host)
	if !ok {
		answer.Text(w, http.StatusBadRequest, badHostBody)
		return
	}
	p := r.URL.EscapedPath()
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	loc := "https://" + host + rd.port + p
	if r.URL.RawQuery != "" {
		loc += "?" + r.URL.RawQuery
	}
	h := w.Header()
	h["Location"] = []string{loc}
	h["Content-Type"] = textPlain
	w.WriteHeader(http.StatusPermanentRedirect)
}

// redirectHost returns the host part of a Host header (an IPv6 address
// keeps its brackets) and whether it is safe to put in a URL: only letters,
// digits, '-', '.', '_' and, inside brackets, hex digits and colons.
func redirectHost(hostport string) (string, bool) {
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 2 || !allIn(hostport[1:end], isIPv6Char) {
			return "", false
		}
		rest := hostport[end+1:]
		if rest != "" && !(rest[0] == ':' && allIn(rest[1:], isDigit)) {
			return "", false
		}
		return hostport[:end+1], true
	}
	host := hostport
	if i := strings.IndexByte(hostport, ':'); i >= 0 {
		if !allIn(hostport[i+1:], isDigit) {
			return "", false
		}
		host = hostport[:i]
	}
	host = strings.TrimSuffix(host, ".")
	if host == "" || !allIn(host, isHostChar) {
		return "", false
	}
	return host, true
}

func allIn(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHostChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || isDigit(c) || c == '-' || c == '.' || c == '_'
}

func isIPv6Char(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' || c == ':' || c == '.'
}

// Shared read-only header values; see their use. They must never be modified.
var (
	textPlain = []string{"text/plain; charset=utf-8"}
)
