package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

func (v *validator) routes(site string, routes []Route, hosts []string) {
	if len(routes) == 0 {
		v.errf(site+".routes", "a site needs routes; add e.g. routes: [{path: /, to: [\"http://127.0.0.1:8000\"]}]")
		return
	}
	seen := map[string]int{}
	for i := range routes {
		r := &routes[i]
		path := fmt.Sprintf("%s.routes[%d]", site, i)
		if !strings.HasPrefix(r.Path, "/") {
			v.errf(path+".path", "%q does not start with /; write e.g. /api/", r.Path)
		} else if j, dup := seen[r.Path]; dup {
			v.errf(path+".path", "%q is also the path of %s.routes[%d]; each path prefix can have one route, so merge them", r.Path, site, j)
		} else {
			seen[r.Path] = i
		}
		v.route(path, r)
		v.redirect(path+".redirect", r.Redirect, hosts)
	}
}

func (v *validator) route(path string, r *Route) {
	v.cors(path+".cors", r.CORS)
	v.access(path, r.BasicAuth, r.ForwardAuth, r.AllowIPs, r.DenyIPs, r.RateLimit)
	v.compress(path+".compress", r.Compress)
	actions := 0
	for _, set := range []bool{len(r.To) > 0, r.Static != nil, r.Respond != nil, r.Redirect != nil} {
		if set {
			actions++
		}
	}
	switch {
	case actions == 0:
		v.errf(path, "a route needs one action; set to: [URL], static: DIR, respond: {status: N} or redirect: {to: URL}")
	case actions > 1:
		v.errf(path, "a route has exactly one of to, static, respond and redirect; split it into routes with different paths")
	}
	for i, u := range r.To {
		if p := upstreamProblem(u); p != "" {
			v.errf(fmt.Sprintf("%s.to[%d]", path, i), "%s", p)
		}
	}
	if len(r.To) > 0 {
		switch r.LB {
		case LBRoundRobin, LBLeastConn, LBFirst, LBIPHash, LBCookie:
		default:
			v.errf(path+".lb", "lb %q is unknown; use round_robin, least_conn, first, ip_hash or cookie", r.LB)
		}
	}
	v.upstreams(path, r)
	if s := r.Static; s != nil {
		if s.Root == "" {
			v.errf(path+".static", "static needs a directory; write static: ./public or static: {root: ./public}")
		}
		for i, idx := range s.Index {
			if idx == "" || strings.ContainsAny(idx, "/\\") {
				v.errf(fmt.Sprintf("%s.static.index[%d]", path, i), "%q is not a file name; write a name such as index.html", idx)
			}
		}
	}
	if rs := r.Respond; rs != nil {
		if rs.Status < 100 || rs.Status > 599 {
			v.errf(path+".respond.status", "status %d is not an HTTP status; use 100 to 599", rs.Status)
		}
		v.headerMap(path+".respond.headers", rs.Headers)
	}
}

// upstreamProblem says what is wrong with an upstream, or "" for
// http://HOST[:PORT][/base], https://..., h2c://..., or unix:/path/to.sock.
func upstreamProblem(s string) string {
	bad := fmt.Sprintf("%q is not an upstream URL; use http://HOST:PORT, https://HOST:PORT, h2c://HOST:PORT or unix:/path/to.sock", s)
	if rest, ok := strings.CutPrefix(s, "unix:"); ok {
		if rest == "" || strings.HasPrefix(rest, "//") {
			return bad
		}
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "h2c") || u.Hostname() == "" {
		return bad
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return fmt.Sprintf("%q: an upstream is scheme://HOST:PORT[/base] without user, query or fragment", s)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("%q: port %q is not a number from 1 to 65535", s, p)
		}
	}
	return ""
}

// redirect checks a redirect route: a known status and a template that
// cannot send clients to a host they choose.
func (v *validator) redirect(path string, r *Redirect, hosts []string) {
	if r == nil {
		return
	}
	switch r.Status {
	case 301, 302, 307, 308:
	default:
		v.errf(path+".status", "status %d is not a redirect; use 301, 302, 307 or 308", r.Status)
	}
	if r.To == "" {
		v.errf(path+".to", "a redirect needs a target; write e.g. to: \"https://example.com/{path}\"")
		return
	}
	parts, err := ParseRedirect(r.To)
	if err != nil {
		v.errf(path+".to", "%q: %v", r.To, err)
		return
	}
	if usesHost(parts) && !hostBound(hosts) {
		v.errf(path+".to", "%q uses {host} on a catch-all site (hosts: [\"*\"]), so any client could pick the redirect's host; write the host literally", r.To)
	}
}

// compress checks a compress block: known encodings, type patterns.
func (v *validator) compress(path string, c *Compress) {
	if c == nil {
		return
	}
	for i, e := range c.Encodings {
		switch e {
		case EncodingZstd, EncodingBr, EncodingGzip:
		default:
			v.errf(fmt.Sprintf("%s.encodings[%d]", path, i), "encoding %q is unknown; use zstd, br or gzip", e)
		}
	}
	for i, t := range c.Types {
		if mt, sub, ok := strings.Cut(t, "/"); !ok || mt == "" || sub == "" || strings.ContainsAny(t, " ;") {
			v.errf(fmt.Sprintf("%s.types[%d]", path, i), "%q is not a media type; write e.g. text/* or application/json", t)
		}
	}
}
