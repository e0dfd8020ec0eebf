package proxy

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Transport defaults, tuned for a reverse proxy talking to a few local
// backends: many idle keep-alive connections per backend, no HTTP proxy
// from the environment, no transparent gzip (bodies pass through as sent).
const (
	idleConnTimeout     = 90 * time.Second
	maxIdleConnsPerHost = 256
	tcpKeepAlive        = 30 * time.Second
	tlsHandshakeTimeout = 10 * time.Second
	expectContinue      = 1 * time.Second
	ioBufferSize        = 16 << 10
)

// unixHostSuffix marks the made-up host names that stand for unix socket
// upstreams in request URLs. ".invalid" can never resolve (RFC 6761), so a
// mix-up fails closed.
const unixHostSuffix = ".unix.tlsgate.invalid"

// Transport is the upstream transport shared by every route of a process.
// It keeps one keep-alive pool per distinct (dial timeout, header timeout)
// pair, so routes with the default timeouts share connections. Bodyless
// requests to http:// and unix: upstreams take the lean HTTP/1.1 path
// (h1.go); the rest go through the pair's http.Transport.
// Unix socket upstreams get a made-up host name (see UnixHost) that the
// dialer maps back to the socket path.
//
// A Transport is safe for concurrent use; make one with NewTransport and
// keep it across config reloads so pools survive.
type Transport struct {
	// mu guards pools, tlsPools, h2cPools, sockets and unixHosts.
	mu        sync.Mutex
	pools     map[timeouts]*h1Pool
	tlsPools  map[tlsPoolKey]*http.Transport
	h2cPools  map[timeouts]*http.Transport
	sockets   map[string]string // made-up host name → socket path
	unixHosts map[string]string // socket path → made-up host name

	// buffers holds *[bufSize]byte copy buffers for every route's ReverseProxy.
	buffers sync.Pool
	// writeBufs (*[]byte) and readers (*bufio.Reader) serve the lean path's
	// requests, so idle connections hold no buffers.
	writeBufs sync.Pool
	readers   sync.Pool

	// noLean sends every request through http.Transport (SetLeanH1).
	noLean atomic.Bool
	// idleTimeout closes keep-alive connections unused for this long.
	idleTimeout time.Duration
	// sweepInterval is how often idle connections are checked for having
	// been closed by the upstream (and for idleTimeout).
	sweepInterval time.Duration
}

type timeouts struct{ dial, header time.Duration }

var _ http.RoundTripper = (*Transport)(nil)

// NewTransport returns a Transport with no pools yet; they are made on
// first use. The lean HTTP/1.1 client is on; see SetLeanH1.
func NewTransport() *Transport {
	return &Transport{
		pools:         make(map[timeouts]*h1Pool),
		tlsPools:      make(map[tlsPoolKey]*http.Transport),
		h2cPools:      make(map[timeouts]*http.Transport),
		sockets:       make(map[string]string),
		unixHosts:     make(map[string]string),
		idleTimeout:   idleConnTimeout,
		sweepInterval: 5 * time.Second,
	}
}

// RoundTrip sends req without dial or header timeouts (the context bounds
// it). Routes use the pool of their own timeouts through New instead.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.pool(0, 0).RoundTrip(req)
}

// SetLeanH1 turns the lean HTTP/1.1 client (h1.go) on or off for every
// route's next requests; off, every request goes through net/http's
// http.Transport. It is the operator's way out (config key lean_h1) should
// the lean client misbehave with some upstream. Connections the lean
// client pooled are closed when their idle time is up.
func (t *Transport) SetLeanH1(on bool) { t.noLean.Store(!on) }

// LeanH1 reports whether the lean HTTP/1.1 client is on.
func (t *Transport) LeanH1() bool { return !t.noLean.Load() }

// CloseIdleConnections closes the idle connections of every pool.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	pools := make([]*h1Pool, 0, len(t.pools))
	for _, p := range t.pools {
		pools = append(pools, p)
	}
	var others []*http.Transport
	for _, p := range t.tlsPools {
		others = append(others, p)
	}
	for _, p := range t.h2cPools {
		others = append(others, p)
	}
	t.mu.Unlock()
	for _, p := range pools {
		p.closeIdle()
		p.std.CloseIdleConnections()
	}
	for _, p := range others {
		p.CloseIdleConnections()
	}
}

// UnixHost returns the host name that stands for the unix socket at path in
// request URLs sent through t. The same path always gets the same name.
func (t *Transport) UnixHost(path string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if h, ok := t.unixHosts[path]; ok {
		return h
	}
	h := "u" + strconv.Itoa(len(t.unixHosts)) + unixHostSuffix
	t.unixHosts[path] = h
	t.sockets[h] = path
	return h
}

// pool returns the client for these timeouts, making it on first use: the
// lean HTTP/1.1 path (h1.go) with an http.Transport for everything else.
func (t *Transport) pool(dial, header time.Duration) *h1Pool {
	key := timeouts{dial: dial, header: header}
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.pools[key]; ok {
		return p
	}
	d := &net.Dialer{Timeout: dial, KeepAlive: tcpKeepAlive}
	// HTTP/1.1 only: backends behind http:// speak it, and upgrades need
	// it. https:// upstreams go through tlsPool instead.
	p := t.stdTransport(d, header)
	hp := newH1Pool(t, d, header, p)
	t.pools[key] = hp
	return hp
}

// dial connects to addr, or to the unix socket a made-up host name stands for.
func (t *Transport) dial(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error) {
	host := addr
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		host = addr[:i]
	}
	if strings.HasSuffix(host, unixHostSuffix) {
		t.mu.Lock()
		path, ok := t.sockets[host]
		t.mu.Unlock()
		if ok {
			return d.DialContext(ctx, "unix", path)
		}
		return nil, &net.OpError{Op: "dial", Net: "unix", Err: errUnknownSocket}
	}
	return d.DialContext(ctx, network, addr)
}
