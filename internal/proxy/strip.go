package proxy

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/tlsgate/tlsgate/internal/urlpath"
)

// segment is one path segment as the client wrote it (raw, still escaped),
// with the separator written before it ("/", or an encoded "%2F").
type segment struct{ sep, raw string }

// stripPrefix removes prefix (no trailing slash) from the request path when
// the path, cleaned the way route matching cleans it, starts with prefix's
// segments: "/api" strips "/api/x", "/api", "/x/../api/x" and "/%61pi/x",
// not "/apix". What is left is sent cleaned (what was matched is what is
// stripped), with its escaping kept: "/api/a%2Fb" becomes "/a%2Fb". A path
// that does not start with prefix is sent unchanged.
func stripPrefix(r *http.Request, prefix string) {
	if r.URL.RawPath == "" && urlpath.IsClean(r.URL.Path) {
		// The common case, without allocating: nothing to clean or decode.
		if rest, ok := strings.CutPrefix(r.URL.Path, prefix); ok && (rest == "" || rest[0] == '/') {
			if rest == "" {
				rest = "/"
			}
			r.URL.Path = rest
		}
		return
	}
	segs, trailing := cleanSegments(r.URL.EscapedPath())
	want := strings.Split(strings.TrimPrefix(prefix, "/"), "/")
	if len(segs) < len(want) {
		return
	}
	for i, w := range want {
		if unescape(segs[i].raw) != w {
			return
		}
	}
	rest := segs[len(want):]
	if len(rest) == 0 {
		r.URL.Path, r.URL.RawPath = "/", ""
		return
	}
	var dec, raw strings.Builder
	for i, s := range rest {
		sep := s.sep
		if i == 0 {
			sep = "/" // an escaped slash cannot start a path
		}
		dec.WriteByte('/')
		dec.WriteString(unescape(s.raw))
		raw.WriteString(sep)
		raw.WriteString(s.raw)
	}
	if trailing != "" {
		dec.WriteByte('/')
		raw.WriteString(trailing)
	}
	r.URL.Path, r.URL.RawPath = dec.String(), raw.String()
	if r.URL.EscapedPath() != r.URL.RawPath {
		// Not a valid encoding of Path (cannot happen for a path the
		// server parsed); send Path escaped the standard way.
		r.URL.RawPath = ""
	}
}

// cleanSegments splits an escaped path at "/" and at encoded slashes (net/url
// decodes those, so route matching splits there too) and resolves empty,
// "." and ".." segments, decoded, the way path.Clean does. trailing is the
// separator the path ended with, "" if none.
func cleanSegments(escaped string) (segs []segment, trailing string) {
	sep := "/"
	start := 0
	flush := func(end int, next string) {
		raw := escaped[start:end]
		switch unescape(raw) {
		case "", ".":
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		default:
			segs = append(segs, segment{sep, raw})
		}
		sep = next
	}
	i := 0
	if strings.HasPrefix(escaped, "/") {
		i, start = 1, 1
	}
	for i < len(escaped) {
		switch {
		case escaped[i] == '/':
			flush(i, "/")
			i++
		case escaped[i] == '%' && i+2 < len(escaped) && escaped[i+1] == '2' && (escaped[i+2] == 'F' || escaped[i+2] == 'f'):
			flush(i, escaped[i:i+3])
			i += 3
		default:
			i++
			continue
		}
		start = i
	}
	last := escaped[start:]
	flush(len(escaped), "")
	if last == "" && len(escaped) > 1 {
		trailing = sepBefore(escaped)
	}
	return segs, trailing
}

// sepBefore returns the separator escaped ends with ("/" or "%2F").
func sepBefore(escaped string) string {
	if strings.HasSuffix(escaped, "/") {
		return "/"
	}
	return escaped[len(escaped)-3:]
}

// unescape decodes one path segment; one that does not decode (net/url
// would have refused the request) is compared as written.
func unescape(raw string) string {
	if strings.IndexByte(raw, '%') < 0 {
		return raw
	}
	s, err := url.PathUnescape(raw)
	if err != nil {
		return raw
	}
	return s
}
