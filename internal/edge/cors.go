package edge

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/cors"

	"github.com/tlsgate/tlsgate/internal/config"
)

// corsHandler is the wrapper CORS returns. It is read-only after CORS.
type corsHandler struct {
	next    http.Handler
	c       *cors.Cors
	origins originMatcher
	methods []string // upper case; what rs/cors allows
	logger  *slog.Logger
}

// CORS wraps next with a site's cross-origin policy, built on rs/cors.
//
// Preflights (OPTIONS with Access-Control-Request-Method) are answered here
// with 204 and never reach next. Other requests go to next unchanged; when
// they carry an Origin, the answer's Access-Control-* headers are the
// edge's alone (any the upstream sent are dropped, so an app's own CORS
// cannot widen or duplicate the policy). An origin that is not allowed gets
// no CORS headers at all, so the browser blocks the call, and the decision
// is logged at debug level. Every answer carries Vary: Origin.
//
// Origins are exact ("https://app.example.com", compared without case and
// without a default port) or have one "*" standing for one or more DNS
// labels ("https://*.example.com" allows https://a.example.com and
// https://a.b.example.com, not https://example.com). "*" alone allows every
// origin. Empty AllowMethods means GET, HEAD and POST; empty AllowHeaders
// means Accept, Content-Type and X-Requested-With; zero MaxAge sends no
// Access-Control-Max-Age. A nil logger discards.
func CORS(next http.Handler, c config.CORS, logger *slog.Logger) (http.Handler, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	origins, err := newOriginMatcher(c.AllowOrigins)
	if err != nil {
		return nil, err
	}
	opts := cors.Options{
		AllowedHeaders:   c.AllowHeaders,
		ExposedHeaders:   c.ExposeHeaders,
		AllowCredentials: c.AllowCredentials,
	}
	if origins.all {
		// rs/cors answers "*" itself only for its own wildcard; a func
		// would make it echo the origin instead.
		opts.AllowedOrigins = []string{"*"}
	} else {
		opts.AllowOriginFunc = origins.match
	}
	// config fills in its default (GET, HEAD, POST); empty is rs/cors's
	// own default, the same simple methods.
	for _, m := range c.AllowMethods {
		opts.AllowedMethods = append(opts.AllowedMethods, strings.ToUpper(m))
	}
	if d := time.Duration(c.MaxAge); d > 0 {
		opts.MaxAge = max(1, int(d/time.Second))
	}
	return &corsHandler{
		next:    next,
		c:       cors.New(opts),
		origins: origins,
		methods: opts.AllowedMethods,
		logger:  logger,
	}, nil
}

func (ch *corsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		// Answers 204, with the CORS headers only when everything asked
		// for is allowed.
		ch.c.HandlerFunc(w, r)
		if w.Header()["Access-Control-Allow-Origin"] == nil {
			ch.logRefused(r, true)
		}
		return
	}
	// Adds Vary: Origin and, for an allowed origin, the CORS headers.
	ch.c.HandlerFunc(w, r)
	if r.Header["Origin"] == nil {
		ch.next.ServeHTTP(w, r)
		return
	}
	h := w.Header()
	cw := &corsWriter{
		allowOrigin:      h["Access-Control-Allow-Origin"],
		allowCredentials: h["Access-Control-Allow-Credentials"],
		exposeHeaders:    h["Access-Control-Expose-Headers"],
	}
	cw.ResponseWriter, cw.ed = w, cw
	if cw.allowOrigin == nil {
		ch.logRefused(r, false)
	}
	ch.next.ServeHTTP(cw, r)
	cw.finish()
}

// logRefused logs at debug level why a request with an Origin got no CORS
// headers. Same-origin requests (browsers send Origin on those too, e.g.
// for POST) need no CORS and are not logged.
func (ch *corsHandler) logRefused(r *http.Request, preflight bool) {
	ctx := r.Context()
	if !ch.logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	origin := r.Header.Get("Origin")
	if origin == "" || sameOrigin(r, origin) {
		return
	}
	method := r.Method
	if preflight {
		method = r.Header.Get("Access-Control-Request-Method")
	}
	reason := "origin not allowed"
	if ch.origins.match(origin) {
		reason = "method not allowed"
		for _, m := range ch.methods {
			if m == method {
				reason = "headers not allowed"
			}
		}
	}
	attrs := []slog.Attr{
		slog.String("origin", origin),
		slog.String("method", method),
		slog.String("path", r.URL.Path),
		slog.Bool("preflight", preflight),
		slog.String("reason", reason),
	}
	if hs := r.Header.Values("Access-Control-Request-Headers"); preflight && len(hs) > 0 {
		attrs = append(attrs, slog.String("request_headers", strings.Join(hs, ",")))
	}
	ch.logger.LogAttrs(context.WithoutCancel(ctx), slog.LevelDebug, "cors refused", attrs...)
}

func sameOrigin(r *http.Request, origin string) bool {
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	return strings.EqualFold(origin, scheme+r.Host)
}

// corsWriter makes the edge's CORS headers the only ones in the answer.
type corsWriter struct {
	editWriter
	// What rs/cors decided; nil when not allowed. Shared, read-only.
	allowOrigin, allowCredentials, exposeHeaders []string
}

func (cw *corsWriter) editResponse(h http.Header) {
	for k := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			delete(h, k)
		}
	}
	setIf(h, "Access-Control-Allow-Origin", cw.allowOrigin)
	setIf(h, "Access-Control-Allow-Credentials", cw.allowCredentials)
	setIf(h, "Access-Control-Expose-Headers", cw.exposeHeaders)
	// A handler that Set (rather than Added) Vary would have dropped ours.
	if !hasToken(h["Vary"], "Origin") {
		h["Vary"] = append(h["Vary"], "Origin")
	}
}

func setIf(h http.Header, k string, v []string) {
	if v != nil {
		h[k] = v
	}
}

// hasToken reports whether a comma-separated header holds tok.
func hasToken(values []string, tok string) bool {
	for _, v := range values {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), tok) {
				return true
			}
		}
	}
	return false
}

// originMatcher decides which origins are allowed.
type originMatcher struct {
	all      bool                // "*" was listed
	exact    map[string]struct{} // normalized origins
	patterns []originPattern
}

// originPattern is an origin with one "*": prefix + labels + suffix.
type originPattern struct{ prefix, suffix string }

func newOriginMatcher(origins []string) (originMatcher, error) {
	m := originMatcher{exact: make(map[string]struct{})}
	for _, o := range origins {
		if o == "*" {
			m.all = true
			continue
		}
		n, err := normalizeOrigin(o)
		if err != nil {
			return originMatcher{}, err
		}
		before, after, found := strings.Cut(n, "*")
		switch {
		case !found:
			m.exact[n] = struct{}{}
		case strings.Contains(after, "*"):
			return originMatcher{}, fmt.Errorf("cors origin %q: only one * is allowed", o)
		default:
			m.patterns = append(m.patterns, originPattern{before, after})
		}
	}
	return m, nil
}

// normalizeOrigin lower-cases an origin from the config and drops what a
// browser never sends in Origin: a trailing slash and the default port.
func normalizeOrigin(o string) (string, error) {
	u, err := url.Parse(o)
	if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("cors origin %q is not an origin; write scheme://host[:port]", o)
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if scheme == "https" {
		host = strings.TrimSuffix(host, ":443")
	} else if scheme == "http" {
		host = strings.TrimSuffix(host, ":80")
	}
	return scheme + "://" + host, nil
}

// match reports whether a request's Origin is allowed. The part a "*"
// stands for must be DNS labels: letters, digits, '-' and inner dots, so
// no pattern can be stretched over a port, a userinfo or a path.
func (m originMatcher) match(origin string) bool {
	if m.all {
		return true
	}
	origin = strings.ToLower(origin)
	if _, ok := m.exact[origin]; ok {
		return true
	}
	for _, p := range m.patterns {
		if len(origin) > len(p.prefix)+len(p.suffix) &&
			strings.HasPrefix(origin, p.prefix) && strings.HasSuffix(origin, p.suffix) &&
			isLabels(origin[len(p.prefix):len(origin)-len(p.suffix)]) {
			return true
		}
	}
	return false
}

func isLabels(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	return allIn(s, func(c byte) bool {
		return 'a' <= c && c <= 'z' || isDigit(c) || c == '-' || c == '.'
	})
}
