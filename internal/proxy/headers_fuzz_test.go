package proxy

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// FuzzForwarded: whatever a client sends (any peer address, Host, prior
// forwarding headers, underscore look-alikes), the headers the backend
// gets are valid header values, no look-alike of a vouched header remains,
// an untrusted peer's claims are replaced by what tlsgate saw, and the
// Forwarded element's host parameter reads back as the Host.
func FuzzForwarded(f *testing.F) {
	f.Add("192.0.2.10:5000", "app.test", "6.6.6.6", "evil.test", "https", "6.6.6.6", "for=6.6.6.6", "X_Real_IP", false, false)
	f.Add("10.0.0.1:5000", "app.test:8443", "6.6.6.6, 7.7.7.7", "", "", "", "for=\"[2001:db8::1]\"", "X_forwarded_for", true, true)
	f.Add("[2001:db8::1]:443", "[::1]:8443", "", "", "", "", "", "Not_Vouched", true, false)
	f.Add("[::ffff:10.0.0.1]:1", "a\"b\\c", "", "x", "y", "z", "", "x-real_ip", true, false)
	f.Add("@", "", "", "", "", "", "", "", false, false)
	f.Fuzz(func(t *testing.T, remote, host, xff, xfh, xfp, xri, fwd, lookalike string, trustPeer, overTLS bool) {
		in := &http.Request{RemoteAddr: remote, Host: host, Header: http.Header{}}
		for k, v := range map[string]string{hdrXFF: xff, hdrXFHost: xfh, hdrXFProto: xfp, hdrXRealIP: xri, hdrForwarded: fwd} {
			if v != "" {
				in.Header[k] = []string{v}
			}
		}
		if overTLS {
			in.TLS = &tls.ConnectionState{}
		}
		var fw forwarder
		if trustPeer {
			fw.trusted = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
		}
		// What ReverseProxy hands Rewrite: the client's headers without
		// the forwarding ones, which set reads from in.
		out := &http.Request{Header: http.Header{}}
		if lookalike != "" {
			out.Header[lookalike] = []string{"spoofed"}
		}
		DropLookalikes(out.Header)
		fw.set(in, out)

		for k := range out.Header {
			if strings.IndexByte(k, '_') >= 0 && vouched[strings.ToLower(strings.ReplaceAll(k, "_", "-"))] {
				t.Fatalf("look-alike %q of a vouched header kept", k)
			}
		}
		inputsValid := true
		for _, v := range []string{host, xff, xfh, xfp, xri, fwd} {
			inputsValid = inputsValid && httpguts.ValidHeaderFieldValue(v)
		}
		ip, _, err := net.SplitHostPort(remote)
		if err != nil {
			ip = ""
		}
		if inputsValid && httpguts.ValidHeaderFieldValue(ip) {
			for k, vs := range out.Header {
				for _, v := range vs {
					if !httpguts.ValidHeaderFieldValue(v) {
						t.Fatalf("%s: %q is not a valid header value", k, v)
					}
				}
			}
		}
		trusted := ip != "" && fw.isTrusted(ip)
		if !trusted {
			if got := out.Header.Get(hdrXFF); got != ip {
				t.Fatalf("untrusted peer %q: X-Forwarded-For %q", remote, got)
			}
			if got := out.Header.Get(hdrXRealIP); got != ip {
				t.Fatalf("untrusted peer %q: X-Real-Ip %q", remote, got)
			}
			if got, want := out.Header.Get(hdrXFProto), map[bool]string{false: "http", true: "https"}[overTLS]; got != want {
				t.Fatalf("untrusted peer: X-Forwarded-Proto %q, want %q", got, want)
			}
			want := forwardedElement(ip, host, map[bool]string{false: "http", true: "https"}[overTLS])
			if got := out.Header[hdrForwarded]; len(got) != 1 || got[0] != want {
				t.Fatalf("untrusted peer: Forwarded %q, want only this hop %q", got, want)
			}
		}
		if host != "" {
			elem := forwardedElement(ip, host, "http")
			if got, ok := forwardedHost(elem); !ok || got != host {
				t.Fatalf("Forwarded %q: host reads back as %q (%v), want %q", elem, got, ok, host)
			}
		}
	})
}

// forwardedHost reads the host parameter of one Forwarded element built by
// forwardedElement: the value after ";host=" up to ";proto=", a token or a
// quoted string.
func forwardedHost(elem string) (string, bool) {
	_, rest, ok := strings.Cut(elem, ";host=")
	if !ok {
		return "", false
	}
	rest, ok = strings.CutSuffix(rest, ";proto=http")
	if !ok {
		return "", false
	}
	if !strings.HasPrefix(rest, `"`) {
		return rest, isToken(rest)
	}
	var b strings.Builder
	for i := 1; i < len(rest); i++ {
		switch c := rest[i]; c {
		case '\\':
			i++
			if i >= len(rest) {
				return "", false
			}
			b.WriteByte(rest[i])
		case '"':
			return b.String(), i == len(rest)-1
		default:
			b.WriteByte(c)
		}
	}
	return "", false
}

// FuzzStripPrefix: for any request path the server accepts and any clean
// prefix, stripping never panics, leaves a path that starts with "/" and
// whose escaped form encodes it, and removes the prefix exactly when route
// matching (on the cleaned, decoded path) sees it: what is left is the
// cleaned path without the prefix; otherwise the path is unchanged.
func FuzzStripPrefix(f *testing.F) {
	for _, s := range [][2]string{
		{"/api/users?x=1", "/api"}, {"/api", "/api/"}, {"/apix/y", "/api"}, {"/api/a%2Fb", "/api"},
		{"/x/../api/users", "/api"}, {"/api/./a/../b/", "/api"}, {"/%61pi/users", "/api"},
		{"/api%2Fusers", "/api"}, {"//api//users", "/api"}, {"/api/x/../v1/users", "/api/v1/"},
		{"/api/%2e%2e/admin", "/api"}, {"/a%25b/c", "/a%b"}, {"/api/%zz", "/api"}, {"*", "/x"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, uri, rawPrefix string) {
		u, err := url.ParseRequestURI(uri)
		if err != nil || u.Path == "" || u.Path[0] != '/' {
			return // the server refuses it, or it is not a path (CONNECT, OPTIONS *)
		}
		prefix := path.Clean("/" + rawPrefix)
		if prefix == "/" {
			return // strip_prefix "/" strips nothing
		}
		origPath, origRaw := u.Path, u.RawPath
		r := &http.Request{URL: u}
		stripPrefix(r, prefix)

		if r.URL.Path == "" || r.URL.Path[0] != '/' {
			t.Fatalf("stripPrefix(%q, %q): path %q", uri, prefix, r.URL.Path)
		}
		changed := r.URL.Path != origPath || r.URL.RawPath != origRaw
		if changed && r.URL.RawPath != "" && r.URL.EscapedPath() != r.URL.RawPath {
			t.Fatalf("stripPrefix(%q, %q): RawPath %q does not encode Path %q", uri, prefix, r.URL.RawPath, r.URL.Path)
		}
		cleaned := path.Clean(origPath)
		if cleaned != prefix && !strings.HasPrefix(cleaned, prefix+"/") {
			if changed {
				t.Fatalf("stripPrefix(%q, %q): prefix not matched, yet path became %q (raw %q)", uri, prefix, r.URL.Path, r.URL.RawPath)
			}
			return
		}
		want := strings.TrimPrefix(cleaned, prefix)
		if want == "" {
			want = "/"
		}
		if got := path.Clean(r.URL.Path); got != want {
			t.Fatalf("stripPrefix(%q, %q): path %q; want %q", uri, prefix, r.URL.Path, want)
		}
	})
}
