package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tlsgate/tlsgate/internal/accesslog"
	"github.com/tlsgate/tlsgate/internal/config"
)

// cooldown is how long an upstream that refused a connection is tried only
// after the others, so one dead backend does not cost every request a dial.
const cooldown = 2 * time.Second

var errUnknownSocket = errors.New("unknown unix socket upstream")

// upstream is one backend of a route. Upstream values must not be copied.
type upstream struct {
	raw     string // as configured, for logs
	h2c     bool   // h2c://: HTTP/2 without TLS
	scheme  string // http or https, as requests are sent
	host    string // host:port, or the made-up name of a unix socket
	base    string // base path without a trailing slash ("" = none)
	baseRaw string // base in escaped form

	inflight atomic.Int64 // requests in flight, until the response body is closed
	failedAt atomic.Int64 // unix nanoseconds of the last refused dial; 0 = none

	state  *upstreamState    // health, kept across reloads by Health
	tag    string            // opaque cookie value naming it (lb: cookie)
	cookie string            // the Set-Cookie line carrying tag
	rt     http.RoundTripper // the transport for its scheme
}

// parseUpstream reads "http://host:port[/base]", "https://...", "h2c://...",
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
	case u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "h2c":
		return nil, fmt.Errorf("upstream %q: scheme must be http, https, h2c or unix", raw)
	case u.Host == "":
		return nil, fmt.Errorf("upstream %q: no host", raw)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("upstream %q: user info, query and fragment are not allowed", raw)
	}
	scheme, h2c := u.Scheme, u.Scheme == "h2c"
	if h2c {
		scheme = "http" // on the wire; the route's h2c transport speaks HTTP/2
	}
	return &upstream{
		raw:     raw,
		h2c:     h2c,
		scheme:  scheme,
		host:    u.Host,
		base:    strings.TrimSuffix(u.Path, "/"),
		baseRaw: strings.TrimSuffix(u.EscapedPath(), "/"),
	}, nil
}

// available reports whether u is in rotation: its health checks pass, no
// passive cooldown is running and it has not just refused a connection.
// now is read once per request and only when needed.
func (u *upstream) available(now *int64) bool {
	if u.cooling(now) || u.state.activeDown.Load() {
		return false
	}
	// The clock is read only while a passive cooldown is set.
	until := u.state.passiveUntil.Load()
	return until == 0 || until <= u.state.h.now().UnixNano()
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

// balancer is the http.RoundTripper of one route: it orders the upstreams
// by policy, those in rotation first, and moves on to the next one when a
// connection cannot be made (the request never left, so this is safe for
// every method and the body is unread). A request that may have reached an
// upstream moves on only when it is retryable (retry.go).
type balancer struct {
	name    string // route, for logs
	policy  string
	ups     []*upstream
	log     *slog.Logger
	next    atomic.Uint64
	trusted []netip.Prefix // for ip_hash's client address
	passive Passive
	retries int
	retryOn []int
	// budget bounds retries: none starts once this long has passed since
	// the first attempt (the route's timeout); 0 = no bound.
	budget time.Duration
}

// RoundTrip implements http.RoundTripper. Errors are *upstreamError values
// that carry the status and public message for the client.
func (b *balancer) RoundTrip(req *http.Request) (*http.Response, error) { return b.roundTrip(req, nil) }

// roundTrip is RoundTrip with 1xx responses going to inf (the fast path,
// fast.go); nil inf means the request's ClientTrace, as for ReverseProxy.
func (b *balancer) roundTrip(req *http.Request, inf informer) (*http.Response, error) {
	var buf [8]*upstream
	order, sticky := b.order(req, buf[:0])
	path, rawPath := req.URL.Path, req.URL.RawPath
	replay, canRetry, err := b.prepareBody(req, len(order))
	if err != nil {
		return nil, &upstreamError{status: http.StatusBadGateway, body: badGatewayBody, upstream: order[0].raw, err: err}
	}
	tries := attempts{b: b, canRetry: canRetry, left: b.retries, deadline: time.Now().Add(b.budget)}
	for i, up := range order {
		if tries.last != nil {
			b.log.Warn("upstream failed, trying next", "route", b.name, "upstream", tries.last.raw, "next", up.raw, "error", tries.lastErr)
		}
		if replay != nil {
			req.Body = io.NopCloser(bytes.NewReader(replay))
		}
		resp, err := b.try(req, up, path, rawPath, inf)
		more := i+1 < len(order)
		if err == nil {
			if !tries.answered(req, up, resp, more) {
				continue
			}
			if b.policy == config.LBCookie && up != sticky {
				resp.Header.Add("Set-Cookie", up.cookie)
			}
			return resp, nil
		}
		if !tries.failed(req, up, err, more) {
			return nil, newUpstreamError(req.Context(), up, err)
		}
	}
	return nil, &upstreamError{status: http.StatusBadGateway, body: unreachableBody, upstream: tries.last.raw, err: tries.lastErr}
}

// attempts is one request's way through a route's upstreams: what it may
// still do, and the last failure, for the log and the final answer.
type attempts struct {
	b        *balancer
	canRetry bool // the request may be sent again (retry.go)
	left     int  // retries left
	deadline time.Time
	last     *upstream
	lastErr  error
}

// retry reports whether another upstream may get a request that may have
// reached one: allowed, retries left, within the route's timeout.
func (a *attempts) retry(more bool) bool {
	return more && a.canRetry && a.left > 0 && (a.b.budget <= 0 || time.Now().Before(a.deadline))
}

func (a *attempts) next(up *upstream, err error) {
	a.last, a.lastErr = up, err
}

// answered records up's response and reports whether it goes to the
// client (false: it was consumed, try the next upstream).
func (a *attempts) answered(req *http.Request, up *upstream, resp *http.Response, more bool) bool {
	b := a.b
	if a.retry(more) && keepable(req, resp) {
		if err := keepBody(resp); err != nil {
			up.state.count(outcomeReset)
			up.state.failed(b.passive, "body: "+err.Error())
			a.left--
			a.next(up, err)
			return false
		}
	}
	up.state.countStatus(resp.StatusCode)
	if failStatus(resp.StatusCode) {
		up.state.failed(b.passive, "answered "+strconv.Itoa(resp.StatusCode))
	} else {
		up.state.succeeded()
	}
	if up.failedAt.Load() != 0 {
		up.failedAt.Store(0)
	}
	if a.retry(more) && b.retryStatus(resp.StatusCode) {
		_, _ = io.CopyN(io.Discard, resp.Body, maxCheckBody)
		resp.Body.Close()
		a.left--
		a.next(up, fmt.Errorf("answered %d", resp.StatusCode))
		return false
	}
	return true
}

// failed records an attempt that got no response and reports whether the
// next upstream gets the request: always after a refused connect (nothing
// was sent), after other failures only when retry allows it and the
// route's timeout was not what ran out.
func (a *attempts) failed(req *http.Request, up *upstream, err error, more bool) bool {
	b := a.b
	switch {
	case req.Context().Err() != nil:
		up.state.count(outcomeCanceled)
		return false
	case isDialError(err):
		up.state.count(outcomeConnect)
		up.failedAt.Store(time.Now().UnixNano())
		up.state.failed(b.passive, "connect: "+err.Error())
		a.next(up, err)
		return true
	case isTimeout(err):
		up.state.count(outcomeTimeout)
		up.state.failed(b.passive, err.Error())
		return false
	}
	up.state.count(outcomeReset)
	up.state.failed(b.passive, err.Error())
	if !a.retry(more) {
		return false
	}
	a.left--
	a.next(up, err)
	return true
}

// order returns every upstream in the order to try them: those in
// rotation first, by policy, then the rest in the same order, as a last
// resort (a health check can be wrong; a dead upstream still answers 502).
// sticky is the upstream the client's cookie names (lb: cookie), if any.
func (b *balancer) order(req *http.Request, buf []*upstream) (order []*upstream, sticky *upstream) {
	n := len(b.ups)
	if n == 1 {
		if b.policy == config.LBCookie {
			sticky = b.fromCookie(req)
		}
		return append(buf, b.ups[0]), sticky
	}
	var now int64
	var skip *upstream
	switch b.policy {
	case config.LBIPHash:
		return b.rendezvous(req, buf), nil
	case config.LBCookie:
		if sticky = b.fromCookie(req); sticky != nil && sticky.available(&now) {
			buf, skip = append(buf, sticky), sticky
		}
	}
	start := b.start()
	for pass := 0; pass < 2; pass++ {
		for i := range n {
			if up := b.ups[(start+i)%n]; up != skip && up.available(&now) == (pass == 0) {
				buf = append(buf, up)
			}
		}
	}
	return buf, sticky
}

// start returns the index of the first upstream to try.
func (b *balancer) start() int {
	n := len(b.ups)
	switch {
	case n == 1 || b.policy == config.LBFirst:
		return 0
	case b.policy == config.LBLeastConn:
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
func (b *balancer) try(req *http.Request, up *upstream, path, rawPath string, inf informer) (*http.Response, error) {
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
	if b.policy != config.LBLeastConn {
		return checkStatus(send(up.rt, req, inf))
	}
	up.inflight.Add(1)
	resp, err := checkStatus(send(up.rt, req, inf))
	if err != nil {
		up.inflight.Add(-1)
		return nil, err
	}
	resp.Body = countBody(resp.Body, up)
	return resp, nil
}

// errBadStatus: the upstream's status line parsed (three digits) but names
// no status; ReverseProxy would pass it to WriteHeader, which panics below
// 100 (found by FuzzLeanResponse with "HTTP/1.1 000").
var errBadStatus = errors.New("upstream sent a status code below 100")

// checkStatus turns a response whose status no ResponseWriter accepts into
// an error (a 502), closing its body so the connection is not reused.
func checkStatus(resp *http.Response, err error) (*http.Response, error) {
	if err != nil || resp.StatusCode >= 100 {
		return resp, err
	}
	resp.Body.Close()
	return nil, fmt.Errorf("%w: %d", errBadStatus, resp.StatusCode)
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
