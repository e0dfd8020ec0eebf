package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tlsgate/tlsgate/internal/accesslog"
)

// Load-balancing policies, as written in the config's "lb" key.
const (
	RoundRobin = "round_robin"
	LeastConn  = "least_conn"
	First      = "first"
)

// cooldown is how long an upstream that refused a connection is tried only
// after the others, so one dead backend does not cost every request a dial.
const cooldown = 2 * time.Second

var errUnknownSocket = errors.New("unknown unix socket upstream")

// upstream is one backend of a route. Upstream values must not be copied.
type upstream struct {
	raw     string // as configured, for logs
	scheme  string
	host    string // host:port, or the made-up name of a unix socket
	base    string // base path without a trailing slash ("" = none)
	baseRaw string // base in escaped form

	inflight atomic.Int64 // requests in flight, until the response body is closed
	failedAt atomic.Int64 // unix nanoseconds of the last refused dial; 0 = none
}

// parseUpstream reads "http://host:port[/base]", "https://...",
// "unix:/path.sock" or a bare "host:port" (taken as http).
func parseUpstream(raw string, t *Transport) (*upstream, error) {
	if path, ok := strings.CutPrefix(raw, "unix:"); ok {
		path = strings.TrimPrefix(path, "//")
		if !strings.HasPrefix(path, "/") && !strings.HasPrefix(path, ".") {
			return nil, fmt.Errorf("upstream %q: want unix:/path/to.sock", raw)
		}
		return &upstream{raw: raw, scheme: "http", host: t.UnixHost(path)}, nil
	}
	s := raw
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("upstream %q: %w", raw, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("upstream %q: scheme must be http, https or unix", raw)
	case u.Host == "":
		return nil, fmt.Errorf("upstream %q: no host", raw)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("upstream %q: user info, query and fragment are not allowed", raw)
	}
	return &upstream{
		raw:     raw,
		scheme:  u.Scheme,
		host:    u.Host,
		base:    strings.TrimSuffix(u.Path, "/"),
		baseRaw: strings.TrimSuffix(u.EscapedPath(), "/"),
	}, nil
}

// cooling reports whether u refused a connection less than cooldown ago.
// now is read once per request and only when some upstream has failed.
func (u *upstream) cooling(now *int64) bool {
	f := u.failedAt.Load()
	if f == 0 {
		return false
	}
	if *now == 0 {
		*now = time.Now().UnixNano()
	}
	return *now-f < int64(cooldown)
}

// balancer is the http.RoundTripper of one route: it picks an upstream by
// policy and moves on to the next one when a connection cannot be made
// (the request never left, so this is safe for every method and the body
// is unread). Every other error ends the request.
type balancer struct {
	name   string // route, for logs
	policy string
	ups    []*upstream
	rt     http.RoundTripper
	log    *slog.Logger
	next   atomic.Uint64
}

// RoundTrip implements http.RoundTripper. Errors are *upstreamError values
// that carry the status and public message for the client.
func (b *balancer) RoundTrip(req *http.Request) (*http.Response, error) {
	n := len(b.ups)
	start := b.start()
	path, rawPath := req.URL.Path, req.URL.RawPath
	if req.Body != nil && req.Body != http.NoBody && n > 1 {
		// http.Transport closes the body when a dial fails; keep it open
		// for the next upstream. ReverseProxy closes the body it made
		// (captured before this), and the transport may still read this
		// one after we return, so it is not swapped back.
		req.Body = noClose{req.Body}
	}
	var now int64
	var last *upstream
	var lastErr error
	tried := 0
	// First pass: upstreams not cooling down, in policy order; second pass:
	// the cooling ones, as a last resort.
	for pass := 0; pass < 2; pass++ {
		for i := range n {
			up := b.ups[(start+i)%n]
			if up.cooling(&now) != (pass == 1) {
				continue
			}
			if last != nil {
				b.log.Warn("upstream unreachable, trying next", "route", b.name, "upstream", last.raw, "error", lastErr)
			}
			tried++
			resp, err := b.try(req, up, path, rawPath)
			if err == nil {
				if up.failedAt.Load() != 0 {
					up.failedAt.Store(0)
				}
				return resp, nil
			}
			if !isDialError(err) || req.Context().Err() != nil {
				return nil, newUpstreamError(req.Context(), up, err)
			}
			up.failedAt.Store(time.Now().UnixNano())
			last, lastErr = up, err
		}
	}
	return nil, &upstreamError{status: http.StatusBadGateway, body: unreachableBody, upstream: last.raw, err: lastErr}
}

// start returns the index of the first upstream to try.
func (b *balancer) start() int {
	n := len(b.ups)
	switch {
	case n == 1 || b.policy == First:
		return 0
	case b.policy == LeastConn:
		// Fewest in flight wins; ties rotate so equal backends share load.
		off := int(b.next.Add(1) % uint64(n))
		best, bestN := off, b.ups[off].inflight.Load()
		for i := 1; i < n && bestN > 0; i++ {
			j := (off + i) % n
			if c := b.ups[j].inflight.Load(); c < bestN {
				best, bestN = j, c
			}
		}
		return best
	default:
		return int((b.next.Add(1) - 1) % uint64(n))
	}
}

// try sends req to up once, and tells the access log which upstream it
// was and how long its response headers took.
func (b *balancer) try(req *http.Request, up *upstream, path, rawPath string) (*http.Response, error) {
	start := time.Now()
	defer func() { accesslog.SetUpstream(req.Context(), up.raw, time.Since(start)) }()
	req.URL.Scheme = up.scheme
	req.URL.Host = up.host
	if up.base != "" {
		req.URL.Path = up.base + path
		if rawPath != "" {
			req.URL.RawPath = up.baseRaw + rawPath
		}
	}
	if b.policy != LeastConn {
		return b.rt.RoundTrip(req)
	}
	up.inflight.Add(1)
	resp, err := b.rt.RoundTrip(req)
	if err != nil {
		up.inflight.Add(-1)
		return nil, err
	}
	resp.Body = countBody(resp.Body, up)
	return resp, nil
}

// isDialError reports whether err happened while connecting, before any
// byte of the request was sent.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// Public answers. They name what went wrong in plain words and never
// include the Go error.
var (
	unreachableBody = []byte("502 Bad Gateway: the upstream server is not reachable\n")
	badGatewayBody  = []byte("502 Bad Gateway: the upstream server did not answer properly\n")
	timeoutBody     = []byte("504 Gateway Timeout: the upstream server did not answer in time\n")
)

// upstreamError is what balancer.RoundTrip returns: the status and body for
// the client, and the cause for the log.
type upstreamError struct {
	status   int
	body     []byte
	upstream string
	err      error
}

// newUpstreamError classifies an error that ended a request: a timeout
// that is not the client's own deadline is 504, anything else 502.
func newUpstreamError(ctx context.Context, up *upstream, err error) *upstreamError {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
		return &upstreamError{status: http.StatusGatewayTimeout, body: timeoutBody, upstream: up.raw, err: err}
	}
	return &upstreamError{status: http.StatusBadGateway, body: badGatewayBody, upstream: up.raw, err: err}
}

func (e *upstreamError) Error() string { return "upstream " + e.upstream + ": " + e.err.Error() }
func (e *upstreamError) Unwrap() error { return e.err }

// noClose keeps a request body open across attempts.
type noClose struct{ io.Reader }

func (noClose) Close() error { return nil }

// countBody wraps a response body so least_conn counts the request in
// flight until the body is closed. A 101 response body is also the
// upgraded connection, so it stays writable.
func countBody(body io.ReadCloser, up *upstream) io.ReadCloser {
	if rwc, ok := body.(io.ReadWriteCloser); ok {
		return &countedConn{ReadWriteCloser: rwc, up: up}
	}
	return &countedBody{ReadCloser: body, up: up}
}

type countedBody struct {
	io.ReadCloser
	up   *upstream
	done atomic.Bool
}

func (c *countedBody) Close() error {
	if c.done.CompareAndSwap(false, true) {
		c.up.inflight.Add(-1)
	}
	return c.ReadCloser.Close()
}

type countedConn struct {
	io.ReadWriteCloser
	up   *upstream
	done atomic.Bool
}

func (c *countedConn) Close() error {
	if c.done.CompareAndSwap(false, true) {
		c.up.inflight.Add(-1)
	}
	return c.ReadWriteCloser.Close()
}
