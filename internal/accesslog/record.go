// Package accesslog writes one line per request (json, common or combined)
// off the request path, and counts requests in Prometheus metrics.
package accesslog

import (
	"context"
	"time"
)

// Record is what one request's log line says. The middleware creates it and
// puts it in the request context; handlers below fill in what only they
// know (route, upstream, user) through the setters. It is written by the
// request's goroutine only.
type Record struct {
	Time       time.Time
	RequestID  string
	Site       string
	Route      string
	ClientIP   string
	Method     string
	Host       string
	URI        string // redacted
	Proto      string
	Status     int
	BytesIn    int64
	BytesOut   int64
	Duration   time.Duration
	Upstream   string
	UpstreamD  time.Duration
	TLSVersion string
	SNI        string
	User       string
	UserAgent  string
	Referer    string
	// Off is set by a site or route with access_log: false.
	Off bool
}

type ctxKey struct{}

// FromContext returns the request's Record, or nil outside the middleware.
func FromContext(ctx context.Context) *Record {
	r, _ := ctx.Value(ctxKey{}).(*Record)
	return r
}

// WithRecord returns ctx carrying rec.
func WithRecord(ctx context.Context, rec *Record) context.Context {
	return context.WithValue(ctx, ctxKey{}, rec)
}

// SetUser records the authenticated user name (basic auth) of the request
// in ctx; never its password.
func SetUser(ctx context.Context, name string) {
	if r := FromContext(ctx); r != nil {
		r.User = name
	}
}

// SetRoute records the route (its config path) that serves the request and
// whether that route logs.
func SetRoute(ctx context.Context, name string, off bool) {
	if r := FromContext(ctx); r != nil {
		r.Route = name
		r.Off = r.Off || off
	}
}

// SetUpstream records the upstream that answered and how long it took to
// send its response headers.
func SetUpstream(ctx context.Context, addr string, took time.Duration) {
	if r := FromContext(ctx); r != nil {
		r.Upstream, r.UpstreamD = addr, took
	}
}
