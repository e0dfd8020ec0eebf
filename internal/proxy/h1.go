package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The lean HTTP/1.1 client. http.Transport runs two goroutines per upstream
// connection and hands every request and response between them over
// channels; under keep-alive load that scheduling, not the network, was a
// quarter of tlsgate's CPU. For the common request — plain http:// or unix:
// upstream, no request body, no upgrade — h1Pool does the round trip on the
// caller's goroutine: one write of the whole request, http.ReadResponse on
// a pooled bufio.Reader, and the connection back to the idle pool when the
// body hits EOF. Everything else goes to the pool's http.Transport, which
// also judges requests the lean writer is not sure about.
//
// What http.Transport guaranteed still holds: dial errors are *net.OpError
// "dial", so the balancer moves on; the header timeout is a read deadline
// that is lifted before the body; an idle connection the upstream closed
// is noticed at checkout (peerClosed) or, in a race, the request is sent
// once more on a new connection when that is safe (replayable, or nothing
// sent); a cancelled context closes the connection (context.AfterFunc);
// 1xx answers reach ReverseProxy's ClientTrace; no goroutine outlives a
// request but the idle sweep's timer.

const (
	// maxHeaderBytes bounds an upstream's response headers (1xx included),
	// as http.Transport's default MaxResponseHeaderBytes does.
	maxHeaderBytes = 10 << 20
	// max1xx bounds the informational responses before the final one, so
	// an upstream cannot keep a request busy with 103s forever.
	max1xx = 16
	// readBufSize is the size of the pooled response readers: a small
	// response in one read; larger bodies bypass it into ReverseProxy's
	// 32 KiB copy buffer.
	readBufSize = 4 << 10
	// maxPooledWriteBuf: request buffers that grew beyond this are dropped.
	maxPooledWriteBuf = 64 << 10
)

var (
	errTooMany1xx     = errors.New("upstream sent too many 1xx responses")
	errHeaderTooLarge = errors.New("upstream response headers too large")
	errUnsolicited101 = errors.New("upstream switched protocols without being asked")
	errBodyClosed     = errors.New("read on closed response body")
)

// h1Pool is the upstream client of one (dial timeout, header timeout) pair:
// idle keep-alive connections per upstream host, and the http.Transport
// for what the lean path does not handle.
type h1Pool struct {
	t      *Transport
	dialer *net.Dialer
	header time.Duration
	std    *http.Transport

	// mu guards idle and sweep.
	mu    sync.Mutex
	idle  map[string][]*h1Conn // by URL host; the most recently used last
	sweep *time.Timer          // closes connections idle too long; nil = not armed
}

// h1Conn is one upstream connection of the lean path. Outside the idle
// pool it belongs to exactly one request.
type h1Conn struct {
	nc     net.Conn
	raw    syscall.RawConn // for the liveness peek (peerClosed); nil when not a socket
	key    string
	cr     connReader
	abort  func() // closes nc; made once, used by context.AfterFunc
	reused bool
	idleAt time.Time
}

// connReader is what the pooled bufio.Reader reads from: it counts bytes,
// so a failed read can tell whether the upstream sent anything, and it
// bounds the response headers.
type connReader struct {
	nc    net.Conn
	n     int64
	limit int64
}

func (r *connReader) Read(p []byte) (int, error) {
	if r.n >= r.limit {
		return 0, errHeaderTooLarge
	}
	if rem := r.limit - r.n; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := r.nc.Read(p)
	r.n += int64(n)
	return n, err
}

func newH1Pool(t *Transport, d *net.Dialer, header time.Duration, std *http.Transport) *h1Pool {
	return &h1Pool{t: t, dialer: d, header: header, std: std, idle: make(map[string][]*h1Conn)}
}

// RoundTrip implements http.RoundTripper.
func (p *h1Pool) RoundTrip(req *http.Request) (*http.Response, error) { return p.roundTrip(req, nil) }

// roundTrip is RoundTrip with 1xx responses going to inf (the fast path,
// fast.go) instead of the request's ClientTrace; nil inf means the trace.
func (p *h1Pool) roundTrip(req *http.Request, inf informer) (*http.Response, error) {
	if p.t.noLean.Load() || !leanEligible(req) {
		return p.std.RoundTrip(traced(req, inf))
	}
	wb := p.t.getWriteBuf()
	defer p.t.putWriteBuf(wb)
	var ok bool
	if *wb, ok = appendRequest((*wb)[:0], req); !ok {
		// Something unusual (an invalid header, a non-ASCII host): let
		// net/http write it, or refuse it, exactly as before.
		return p.std.RoundTrip(traced(req, inf))
	}
	ctx := req.Context()
	replay := replayable(req)
	fresh := false
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c, err := p.get(ctx, req.URL.Host, fresh, replay)
		if err != nil {
			return nil, err
		}
		resp, retry, err := p.exchange(c, req, *wb, replay, inf)
		if err == nil {
			return resp, nil
		}
		// A pooled connection the upstream closed while it sat idle: try
		// once more on a new one, as http.Transport does.
		if !retry || !c.reused || fresh {
			return nil, err
		}
		fresh = true
	}
}

// leanEligible reports whether the lean path handles req: plain HTTP, no
// body (so nothing is streamed while the response arrives, and a retry
// replays nothing), no upgrade, no Expect, no Connection header.
func leanEligible(req *http.Request) bool {
	if !leanSupported || req.URL.Scheme != "http" || req.URL.Host == "" || (req.Body != nil && req.Body != http.NoBody) || req.Close {
		return false
	}
	h := req.Header
	return len(h["Upgrade"]) == 0 && len(h["Expect"]) == 0 && len(h["Connection"]) == 0 &&
		len(h["Transfer-Encoding"]) == 0 && len(req.TransferEncoding) == 0 && len(req.Trailer) == 0
}

// replayable mirrors net/http's rule for resending a request that may have
// reached the upstream: safe methods, or an Idempotency-Key.
func replayable(req *http.Request) bool {
	switch req.Method {
	case "", "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	return len(req.Header["Idempotency-Key"]) > 0 || len(req.Header["X-Idempotency-Key"]) > 0
}

// exchange sends the request on c and reads the response headers. retry
// reports whether the upstream cannot have acted on the request (nothing
// was sent, or nothing came back and the request is replayable).
func (p *h1Pool) exchange(c *h1Conn, req *http.Request, wb []byte, replay bool, inf informer) (resp *http.Response, retry bool, err error) {
	ctx := req.Context()
	var stop func() bool
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, c.abort)
	}
	fail := func(err error, retry bool) (*http.Response, bool, error) {
		if stop != nil {
			stop()
		}
		c.nc.Close()
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		return nil, retry, err
	}
	if _, err := c.nc.Write(wb); err != nil {
		// Without a body, a request cut short was not acted on.
		return fail(err, true)
	}
	if p.header > 0 {
		c.nc.SetReadDeadline(time.Now().Add(p.header))
	}
	br := p.t.getReader(&c.cr)
	c.cr.n, c.cr.limit = 0, maxHeaderBytes
	resp, err = readResponse(br, req, inf)
	if err != nil {
		p.t.putReader(br)
		var ne net.Error
		timeout := errors.As(err, &ne) && ne.Timeout()
		return fail(err, replay && c.cr.n == 0 && !timeout)
	}
	c.cr.limit = math.MaxInt64
	if resp.Body == http.NoBody {
		// stop reports false when the context was cancelled and c.abort
		// runs or ran.
		alive := stop == nil || stop()
		if !resp.Close && br.Buffered() == 0 && alive {
			p.put(c) // the header deadline is replaced by the next request's
		} else {
			c.nc.Close()
		}
		p.t.putReader(br)
		return resp, false, nil
	}
	// The header timeout must not cut the body short, unless all of it is
	// already buffered (a small response): then no read reaches c.
	if p.header > 0 && (resp.ContentLength < 0 || int64(br.Buffered()) < resp.ContentLength) {
		c.nc.SetReadDeadline(time.Time{})
	}
	resp.Body = &h1Body{inner: resp.Body, p: p, c: c, br: br, ctx: ctx, stop: stop, keep: !resp.Close}
	return resp, false, nil
}

// readResponse reads the final response, passing 1xx ones (103 Early
// Hints) to inf, or without one to the request's ClientTrace as
// http.Transport does; that is how ReverseProxy forwards them. A 101 was
// not asked for and is an error.
func readResponse(br *bufio.Reader, req *http.Request, inf informer) (*http.Response, error) {
	for range max1xx {
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return nil, err
		}
		code := resp.StatusCode
		if code == http.StatusSwitchingProtocols {
			return nil, errUnsolicited101
		}
		if code < 100 || code > 199 {
			return resp, nil
		}
		if inf != nil {
			if err := inf.got1xx(code, resp.Header); err != nil {
				return nil, err
			}
		} else if trace := httptrace.ContextClientTrace(req.Context()); trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(code, textproto.MIMEHeader(resp.Header)); err != nil {
				return nil, err
			}
		}
	}
	return nil, errTooMany1xx
}

// Body states: open, read to EOF, closed early.
const (
	stateOpen int32 = iota
	stateEOF
	stateClosed
)

// h1Body is a lean response body. The first of EOF, a read error or Close
// settles the connection: back to the pool after a clean EOF on a
// keep-alive response, closed otherwise.
type h1Body struct {
	inner io.ReadCloser
	p     *h1Pool
	c     *h1Conn
	br    *bufio.Reader
	ctx   context.Context
	stop  func() bool
	keep  bool
	state atomic.Int32
}

func (b *h1Body) Read(p []byte) (int, error) {
	switch b.state.Load() {
	case stateEOF:
		return 0, io.EOF
	case stateClosed:
		return 0, errBodyClosed
	}
	n, err := b.inner.Read(p)
	switch {
	case err == io.EOF:
		b.finish(stateEOF)
	case err != nil:
		if b.ctx.Err() != nil {
			err = b.ctx.Err()
		}
		b.finish(stateClosed)
	}
	return n, err
}

// Close closes the connection unless the body was read to its end: what
// is left may be long or endless (a stream), so it is not drained.
func (b *h1Body) Close() error {
	b.finish(stateClosed)
	return nil
}

func (b *h1Body) finish(state int32) {
	if !b.state.CompareAndSwap(stateOpen, state) {
		return
	}
	c, br := b.c, b.br
	// stop is false when the context was cancelled and c.abort runs or ran.
	reuse := state == stateEOF && b.keep && br.Buffered() == 0 && (b.stop == nil || b.stop())
	if !reuse && b.stop != nil {
		b.stop()
	}
	// Close may come from another goroutine while a Read is still using
	// br, so only a reader that saw EOF hands br back to the pool.
	if state == stateEOF {
		b.p.t.putReader(br)
	}
	b.c, b.br = nil, nil
	if reuse {
		b.p.put(c)
	} else {
		c.nc.Close()
	}
}

// get returns an idle connection to host that is still open, or a new one.
// For a replayable request the MSG_PEEK check (peerClosed) is skipped: if
// the upstream closed the idle connection, nothing comes back, and
// RoundTrip sends the request once more on a new connection, as it does
// for a close the check cannot see. That saves one syscall on most
// requests (GETs); requests that must not be sent twice keep the check.
func (p *h1Pool) get(ctx context.Context, host string, fresh, replay bool) (*h1Conn, error) {
	if !fresh {
		for {
			c := p.popIdle(host)
			if c == nil {
				break
			}
			if time.Since(c.idleAt) < p.t.idleTimeout && (replay || !peerClosed(c.raw)) {
				c.reused = true
				return c, nil
			}
			c.nc.Close()
		}
	}
	nc, err := p.t.dial(ctx, p.dialer, "tcp", dialAddr(host))
	if err != nil {
		return nil, err
	}
	c := &h1Conn{nc: nc, key: host, cr: connReader{nc: nc}}
	c.abort = func() { nc.Close() }
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			c.raw = raw
		}
	}
	return c, nil
}

func (p *h1Pool) popIdle(host string) *h1Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.idle[host]
	if len(list) == 0 {
		return nil
	}
	c := list[len(list)-1]
	list[len(list)-1] = nil
	p.idle[host] = list[:len(list)-1]
	return c
}

// put returns c to the idle pool, or closes it when the pool is full.
func (p *h1Pool) put(c *h1Conn) {
	c.idleAt = time.Now()
	p.mu.Lock()
	list := p.idle[c.key]
	if len(list) >= maxIdleConnsPerHost {
		p.mu.Unlock()
		c.nc.Close()
		return
	}
	p.idle[c.key] = append(list, c)
	if p.sweep == nil {
		p.sweep = time.AfterFunc(p.sweepEvery(), p.sweepIdle)
	}
	p.mu.Unlock()
}

// sweepEvery is how often idle connections are looked at: often enough
// that one the upstream closed does not sit half-closed, holding a file
// descriptor, for the whole idle timeout.
func (p *h1Pool) sweepEvery() time.Duration { return min(p.t.idleTimeout, p.t.sweepInterval) }

// sweepIdle closes connections idle for idleConnTimeout or closed by the
// upstream, and re-arms itself while any remain, so an unused route does not
// hold sockets forever.
func (p *h1Pool) sweepIdle() {
	now := time.Now()
	var stale []*h1Conn
	p.mu.Lock()
	for host, list := range p.idle {
		keep := list[:0]
		for _, c := range list {
			if now.Sub(c.idleAt) >= p.t.idleTimeout || peerClosed(c.raw) {
				stale = append(stale, c)
			} else {
				keep = append(keep, c)
			}
		}
		clear(list[len(keep):])
		if len(keep) == 0 {
			delete(p.idle, host)
			continue
		}
		p.idle[host] = keep
	}
	if len(p.idle) == 0 {
		p.sweep = nil
	} else {
		p.sweep.Reset(p.sweepEvery())
	}
	p.mu.Unlock()
	for _, c := range stale {
		c.nc.Close()
	}
}

// closeIdle closes every idle connection.
func (p *h1Pool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = make(map[string][]*h1Conn)
	p.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.nc.Close()
		}
	}
}

// dialAddr adds the default port to a URL host that has none.
func dialAddr(host string) string {
	for i := len(host) - 1; i >= 0; i-- {
		switch host[i] {
		case ':':
			return host
		case ']':
			return host + ":80"
		}
	}
	return host + ":80"
}
