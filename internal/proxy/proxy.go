// Package proxy forwards requests to upstream HTTP servers: it picks an
// upstream (round robin, least connections or first), moves on when one
// refuses the connection, writes the forwarding and client-certificate
// headers backends rely on, and answers 502/504 in plain words when no
// upstream can help.
//
// Start at New; one Transport (NewTransport) is shared by every route of a
// process. The per-request work is built on httputil.ReverseProxy with
// Rewrite, with a fast path past it for bodyless requests to plain HTTP/1.1
// upstreams (fast.go), and everything that can be is computed once in New.
package proxy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strings"
	"time"

	"github.com/tlsgate/tlsgate/internal/answer"
	"github.com/tlsgate/tlsgate/internal/config"
)

// Options configure one proxy route.
type Options struct {
	// Upstreams are "http://127.0.0.1:8000", "http://host:port/base",
	// "https://...", or "unix:/run/app.sock". At least one is required.
	Upstreams []string

	// LB is the balancing policy, one of config's LB values ("" is
	// config.LBRoundRobin); config validated it.
	LB string

	// ResponseHeaderTimeout is how long to wait for an upstream's response
	// headers before answering 504 (http.Transport's name; config key
	// timeout, whose default config sets). It does not limit a body that is
	// still streaming, and it bounds retries. 0 means no limit.
	ResponseHeaderTimeout time.Duration

	// DialTimeout bounds connecting to one upstream; after it the next
	// upstream is tried, and when none is left the answer is 502 (config key
	// dial_timeout, whose default config sets). 0 means only the operating
	// system's connect timeout.
	DialTimeout time.Duration

	// StripPrefix is removed from the request path before forwarding
	// ("/api" or "/api/" turns "/api/users" into "/users"). "" means none.
	StripPrefix string

	// TrustedProxies are peers whose X-Forwarded-* and Forwarded headers are
	// kept and extended; everyone else's are replaced.
	TrustedProxies []netip.Prefix

	// Transport is the shared upstream transport. Nil means a new one.
	Transport *Transport

	// Logger receives upstream failures. Nil means discard.
	Logger *slog.Logger

	// Name labels this route in logs (e.g. "app.example.com/api/").
	Name string

	// Health keeps upstream health across reloads; the same route Name
	// and upstream address share state. Nil means a private one.
	Health *Health

	// HealthCheck, when set, is checked on every upstream between Start
	// and Stop. Nil means no active checks.
	HealthCheck *HealthCheck

	// Passive takes an upstream out of rotation after failed requests.
	// The zero value turns it off.
	Passive Passive

	// Retries is how many other upstreams an idempotent request with a
	// body of at most MaxReplayBody is sent to after a failure that may
	// have reached an upstream (a reset before any response, or an answer
	// in RetryOn). 0 means none. A refused connect always moves on.
	Retries int
	RetryOn []int

	// CookiePath is the Path of the lb: cookie cookie ("" = "/").
	CookiePath string

	// UpstreamTLS verifies https:// upstreams and holds the client
	// certificate offered to them. Nil means the system roots and no
	// client certificate.
	UpstreamTLS *UpstreamTLS
}

// Handler is one proxy route. It serves requests from New on; Start and
// Stop run its health checks (if any).
type Handler struct {
	name   string
	rp     *httputil.ReverseProxy
	checks *checkers
	// fast, when set, serves the requests the fast path takes (fast.go);
	// nil when some upstream is not a plain HTTP/1.1 one.
	fast *fastPath
}

// Name is the route's name (Options.Name).
func (h *Handler) Name() string { return h.name }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor < 2 && isGRPC(r.Header.Get("Content-Type")) {
		// gRPC needs HTTP/2 end to end (trailers, full duplex); over
		// HTTP/1.1 it would fail in confusing ways further on.
		answer.Text(w, http.StatusBadRequest, grpcH1Body)
		return
	}
	if f := h.fast; f != nil && f.t.LeanH1() && fastEligible(r) {
		f.serve(w, r)
		return
	}
	h.rp.ServeHTTP(w, r)
}

var grpcH1Body = []byte("400 Bad Request: gRPC needs HTTP/2, and this request came over HTTP/1.1; use a gRPC client (they speak HTTP/2)\n")

// isGRPC reports whether a Content-Type is gRPC's (application/grpc or
// application/grpc+proto etc.; gRPC-Web, which works over HTTP/1.1, is not).
func isGRPC(ct string) bool {
	rest, ok := strings.CutPrefix(ct, "application/grpc")
	return ok && (rest == "" || rest[0] == '+' || rest[0] == ';')
}

// Start begins the route's health checks: one goroutine per upstream.
// It does nothing without a HealthCheck, or when they run already.
func (h *Handler) Start() { h.checks.start() }

// Stop ends the health checks and waits for them; the upstreams' state
// stays in the Health for the Runtime that replaces this one.
func (h *Handler) Stop() { h.checks.halt() }

// Keys returns the upstream addresses whose state this route keeps.
func (h *Handler) Keys() []string {
	out := make([]string, len(h.checks.ups))
	for i, up := range h.checks.ups {
		out[i] = up.raw
	}
	return out
}

// handler holds what one route computes once for all its requests.
type handler struct {
	fwd   forwarder
	strip string // StripPrefix without a trailing slash; "" = none
	log   *slog.Logger
	name  string
}

// New returns the handler for one proxy route.
func New(opts Options) (*Handler, error) {
	if len(opts.Upstreams) == 0 {
		return nil, errors.New("proxy: no upstreams")
	}
	switch opts.LB {
	case "", config.LBRoundRobin, config.LBLeastConn, config.LBFirst, config.LBIPHash, config.LBCookie:
	default:
		// config validated it; this guards callers that did not use config.
		return nil, fmt.Errorf("proxy: unknown lb policy %q", opts.LB)
	}
	t := opts.Transport
	if t == nil {
		t = NewTransport()
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dial, header := opts.DialTimeout, opts.ResponseHeaderTimeout
	health := opts.Health
	if health == nil {
		health = NewHealth(HealthOptions{Logger: log})
	}
	b := &balancer{
		name: opts.Name, policy: opts.LB, log: log,
		trusted: unmapPrefixes(opts.TrustedProxies),
		passive: opts.Passive, retries: opts.Retries, retryOn: opts.RetryOn, budget: header,
	}
	pool := t.pool(dial, header)
	cookiePath := cmp.Or(opts.CookiePath, "/")
	for _, raw := range opts.Upstreams {
		up, err := parseUpstream(raw, t)
		if err != nil {
			return nil, fmt.Errorf("proxy: %w", err)
		}
		switch {
		case up.h2c:
			up.rt = t.h2cPool(dial, header)
		case up.scheme == "https":
			up.rt = t.tlsPool(dial, header, opts.UpstreamTLS)
		default:
			up.rt = pool
		}
		up.state = health.state(opts.Name, raw)
		up.tag = cookieTag(health.key, opts.Name, raw)
		up.cookie = setCookie(up.tag, cookiePath)
		b.ups = append(b.ups, up)
	}
	h := &handler{
		fwd:   forwarder{trusted: unmapPrefixes(opts.TrustedProxies)},
		strip: strings.TrimSuffix(opts.StripPrefix, "/"),
		log:   log,
		name:  opts.Name,
	}
	var fast *fastPath
	if allLean(b.ups, pool) {
		fast = &fastPath{h: h, b: b, t: t}
	}
	checks := &checkers{hc: opts.HealthCheck, ups: b.ups}
	if hc := opts.HealthCheck; hc != nil && (hc.Interval <= 0 || hc.Timeout <= 0 || !strings.HasPrefix(hc.Path, "/")) {
		return nil, errors.New("proxy: a health check needs a positive interval and timeout and a path starting with /")
	}
	return &Handler{name: opts.Name, checks: checks, fast: fast, rp: &httputil.ReverseProxy{
		Rewrite:      h.rewrite,
		Transport:    b,
		BufferPool:   bufferPool{&t.buffers},
		ErrorHandler: h.serveError,
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// FlushInterval 0: ReverseProxy already flushes at once for
		// text/event-stream and bodies of unknown length, and batches the rest.
	}}, nil
}

// rewrite is the ReverseProxy Rewrite hook. pr.Out is ReverseProxy's own
// copy of the request, with hop-by-hop and forwarding headers removed. Its
// Host stays the client's, as Caddy does, so apps build correct URLs.
func (h *handler) rewrite(pr *httputil.ProxyRequest) { h.rewriteOut(pr.In, pr.Out) }

// rewriteOut writes this route's forwarding rules onto out, the outbound
// copy of in without the client's hop-by-hop and forwarding headers. It is
// the one place both ReverseProxy (rewrite) and the fast path use.
func (h *handler) rewriteOut(in, out *http.Request) {
	DropLookalikes(out.Header)
	h.fwd.set(in, out)
	setClientCert(in, out)
	setUser(in, out)
	if h.strip != "" {
		stripPrefix(out, h.strip)
	}
}

// serveError answers a request no upstream served, and logs why.
func (h *handler) serveError(w http.ResponseWriter, r *http.Request, err error) {
	status, body, upstream := http.StatusBadGateway, badGatewayBody, ""
	var ue *upstreamError
	if errors.As(err, &ue) {
		status, body, upstream = ue.status, ue.body, ue.upstream
	}
	if errors.Is(r.Context().Err(), context.Canceled) {
		// The client went away; nobody reads the answer.
		h.log.Debug("client gone before upstream answered", "route", h.name, "upstream", upstream, "error", err)
		w.WriteHeader(status)
		return
	}
	if why := tlsRefusal(err); why != "" {
		h.log.Warn("upstream TLS handshake failed", "route", h.name, "upstream", upstream, "status", status, "problem", why, "error", err)
	} else {
		h.log.Warn("upstream request failed", "route", h.name, "upstream", upstream, "status", status, "error", err)
	}
	answer.Error(w, r, status, body)
}
