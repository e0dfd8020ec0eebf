package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// quicBufferBytes is the UDP socket buffer size quic-go asks for (its
// desiredBufferSize, 7MiB); below it, bursts of packets are dropped.
const quicBufferBytes = 7 << 20

// http3State is what the HTTP/3 listeners share: the handler (the same as
// the https server's) and the listeners retired by a reload, still
// draining their connections.
type http3State struct {
	handler  http.Handler
	mu       sync.Mutex
	retiring map[*boundListener]struct{}
	drains   sync.WaitGroup
}

// newHTTP3Server records the handler the HTTP/3 listeners serve: the same
// as the https server's. Each listener gets its own http3.Server
// (newHTTP3ServerFor), so a reload that moves the address can drain the
// old one's connections while the new one serves.
func (s *Server) newHTTP3Server(handler http.Handler) {
	s.h3.handler = handler
}

// newHTTP3ServerFor is one listener's HTTP/3 server.
func (s *Server) newHTTP3ServerFor() *http3.Server {
	return &http3.Server{
		Handler:        s.h3.handler,
		QUICConfig:     s.quicConfig(),
		MaxHeaderBytes: headerReadLimit(int64(s.limits.MaxHeaderBytes)),
		IdleTimeout:    time.Duration(s.limits.IdleTimeout),
		Logger:         s.logger.With("component", "http3"),
	}
}

// quicConfig is the QUIC transport policy. Allow0RTT is false: 0-RTT data
// (early data) can be replayed by anyone who captured it, and a replayed
// POST reaches the upstream twice; a normal 1-RTT handshake costs one
// round trip more and nothing else.
func (s *Server) quicConfig() *quic.Config {
	return &quic.Config{
		Allow0RTT:          false,
		MaxIdleTimeout:     time.Duration(s.limits.IdleTimeout),
		MaxIncomingStreams: int64(s.limits.MaxConcurrentStreams),
	}
}

// listenHTTP3 opens the UDP socket and QUIC listener for HTTP/3. Every
// connection attempt goes through quicAdmission.connContext first (the
// cap, the metrics).
func (s *Server) listenHTTP3(addr string) (*boundListener, error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		switch {
		case errors.Is(err, syscall.EADDRINUSE):
			return nil, fmt.Errorf("http3 UDP address %s is already in use by another program (another tlsgate, a QUIC server?); stop it, set listen.http3 to a free address, or \"\" to turn HTTP/3 off", addr)
		case errors.Is(err, syscall.EACCES):
			return nil, fmt.Errorf("no permission to listen on UDP %s: ports below 1024 need root or the capability: sudo setcap cap_net_bind_service=+ep $(command -v tlsgate); or set listen.http3 to a high port", addr)
		default:
			return nil, fmt.Errorf("listen http3 on UDP %s: %w", addr, err)
		}
	}
	adm := &quicAdmission{s: s, max: s.limits.MaxConnections, stats: s.capStats[RoleHTTP3],
		open: s.alog.Metrics.ConnsOpen.WithLabelValues(string(RoleHTTP3))}
	tr := &quic.Transport{Conn: pc, ConnContext: adm.connContext}
	// The https listener's TLS policy (configForClient: the site by SNI,
	// its certificate and client_auth), with ALPN h3.
	ln, err := tr.Listen(http3.ConfigureTLSConfig(s.quicTLSConfig()), s.quicConfig())
	if err != nil {
		tr.Close()
		pc.Close()
		return nil, fmt.Errorf("listen http3 (QUIC) on %s: %w", addr, err)
	}
	s.checkUDPBuffers(pc)
	return &boundListener{addr: addr, pc: pc, tr: tr, qln: ln}, nil
}

// quicTLSConfig is tlsConfig, also noting each handshake's server name for
// tlsgate_tls_handshakes_total (counted when the QUIC connection ends).
func (s *Server) quicTLSConfig() *tls.Config {
	c := s.tlsConfig()
	pick := c.GetConfigForClient
	c.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if rec, ok := hello.Context().Value(quicConnKey{}).(*quicConnRecord); ok {
			rec.serverName.Store(&hello.ServerName)
		}
		return pick(hello)
	}
	return c
}

// quicConnKey keys a QUIC connection's *quicConnRecord in its context.
type quicConnKey struct{}

// quicConnRecord is what the handshake metric needs to know about one QUIC
// connection when it ends.
type quicConnRecord struct {
	serverName atomic.Pointer[string]
	accepted   atomic.Bool // the handshake completed and HTTP/3 took it
}

// quicAdmission decides on each new QUIC connection before any TLS work:
// past limits.max_connections it is refused with CONNECTION_REFUSED, one
// packet and no state, where a TCP listener leaves connections in the
// backlog (UDP has none). It keeps tlsgate_connections_open{listener=
// "http3"} and counts handshakes when connections end, like connState
// for TCP.
type quicAdmission struct {
	s     *Server
	max   int
	stats *capStats
	open  prometheus.Gauge

	mu sync.Mutex
	n  int // connections open (handshaking or established)
}

var (
	errQUICAtCap    = errors.New("limits.max_connections reached")
	errQUICNotReady = errors.New("not serving yet")
)

// connContext is quic.Transport.ConnContext: it runs for the first packet
// of every connection attempt. The context it returns ends when the
// connection closes or its handshake fails.
func (a *quicAdmission) connContext(ctx context.Context, _ *quic.ClientInfo) (context.Context, error) {
	// The socket is bound before the first Runtime exists (New binds
	// first); QUIC handshakes need no Accept, so refuse until it does.
	if a.s.rt.Load() == nil {
		return nil, errQUICNotReady
	}
	if !a.take() {
		return nil, errQUICAtCap
	}
	a.open.Inc()
	rec := &quicConnRecord{}
	context.AfterFunc(ctx, func() {
		a.open.Dec()
		a.release()
		name := ""
		if p := rec.serverName.Load(); p != nil {
			name = *p
		}
		a.s.countHandshake(name, tls.VersionTLS13, rec.accepted.Load())
	})
	return context.WithValue(ctx, quicConnKey{}, rec), nil
}

// take counts one more connection, or refuses it at the cap. Reaching the
// cap starts a tlsgate_listener_cap_waits_total episode as it does on TCP,
// and the time until a connection closes is time at the cap.
func (a *quicAdmission) take() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n >= a.max {
		a.stats.refused.Add(1)
		return false
	}
	a.n++
	if a.n == a.max {
		a.stats.waits.Add(1)
		a.stats.since.Store(time.Now().UnixNano())
	}
	return true
}

func (a *quicAdmission) release() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n == a.max {
		if since := a.stats.since.Swap(0); since != 0 {
			a.stats.nanos.Add(time.Now().UnixNano() - since)
		}
	}
	a.n--
}

func (a *quicAdmission) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

// quicListener marks the connections it hands to HTTP/3 as handshaken, so
// that their end counts as an ok handshake. quic-go offers no hook at the
// end of a server handshake; a connection that closes in the moment
// between its handshake and Accept counts as failed.
type quicListener struct{ *quic.Listener }

func (l quicListener) Accept(ctx context.Context) (*quic.Conn, error) {
	c, err := l.Listener.Accept(ctx)
	if err == nil {
		if rec, ok := c.Context().Value(quicConnKey{}).(*quicConnRecord); ok {
			rec.accepted.Store(true)
		}
	}
	return c, err
}

// serveHTTP3 serves one HTTP/3 listener with its own http3.Server, made
// here (under s.reloadMu) so that retireHTTP3 and shutdownHTTP3 find it.
func (s *Server) serveHTTP3(b *boundListener) func() error {
	b.h3 = s.newHTTP3ServerFor()
	return func() error { return b.h3.ServeListener(quicListener{b.qln}) }
}

// retireHTTP3 takes an HTTP/3 listener out of service gracefully (a reload
// moved or removed the address): no new connections, GOAWAY on the open
// ones, up to shutdown_timeout for their requests, then the socket
// closes. The new address is already bound. s.reloadMu must be held.
func (s *Server) retireHTTP3(b *boundListener) {
	b.closing.Store(true)
	// Handshakes in flight are refused; open connections stay.
	b.qln.Close()
	if b.h3 == nil { // never served
		b.close()
		return
	}
	timeout := time.Duration(s.rt.Load().cfg.ShutdownTimeout)
	s.h3.mu.Lock()
	if s.h3.retiring == nil {
		s.h3.retiring = make(map[*boundListener]struct{})
	}
	s.h3.retiring[b] = struct{}{}
	s.h3.mu.Unlock()
	s.h3.drains.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := b.h3.Shutdown(ctx); err != nil {
			s.logger.Warn("HTTP/3 requests on the old address were still running after shutdown_timeout and were cut off", "address", b.addr, "timeout", timeout.String())
		}
		b.close()
		s.h3.mu.Lock()
		delete(s.h3.retiring, b)
		s.h3.mu.Unlock()
		s.logger.Info("stopped listening", "role", RoleHTTP3, "address", b.addr, "drained", true)
	})
}

// checkUDPBuffers says in plain words how to raise the kernel's cap when
// the UDP socket's buffers stayed below what QUIC wants. quic.Listen has
// already tried to raise them (also with SO_RCVBUFFORCE, which works for
// root) and printed a terse line of its own; this is the same test.
func (s *Server) checkUDPBuffers(pc net.PacketConn) {
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		return
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return
	}
	rcv, snd, known := socketBufferSizes(rc)
	if !known || rcv >= quicBufferBytes && snd >= quicBufferBytes {
		return
	}
	s.logger.Warn("the kernel caps UDP socket buffers below what HTTP/3 needs; fast transfers may drop packets. To raise the cap, run as root: sysctl -w net.core.rmem_max=7500000 net.core.wmem_max=7500000 (and put both in /etc/sysctl.d/ to keep them after a reboot)",
		"receive_buffer_bytes", rcv, "send_buffer_bytes", snd, "wanted_bytes", quicBufferBytes)
}

// setAltSvcLocked records the Alt-Svc value h1/h2 answers carry: the UDP
// port HTTP/3 is bound to, or nothing when HTTP/3 is off. s.reloadMu must
// be held (or s not yet shared).
func (s *Server) setAltSvcLocked() {
	b := s.bound[RoleHTTP3]
	if b == nil {
		s.altSvc.Store(nil)
		return
	}
	port := b.pc.LocalAddr().(*net.UDPAddr).Port
	v := `h3=":` + strconv.Itoa(port) + `"; ma=86400`
	s.altSvc.Store(&v)
}

// withAltSvc announces HTTP/3 on h1/h2 answers.
func (s *Server) withAltSvc(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := s.altSvc.Load(); v != nil && r.ProtoMajor < 3 {
			w.Header()["Alt-Svc"] = []string{*v}
		}
		next.ServeHTTP(w, r)
	})
}

// shutdownHTTP3 sends GOAWAY on every HTTP/3 connection (also those on
// addresses a reload retired) and waits, up to ctx, for their requests to
// finish; then the sockets close.
func (s *Server) shutdownHTTP3(ctx context.Context) error {
	s.reloadMu.Lock()
	cur := s.bound[RoleHTTP3]
	s.reloadMu.Unlock()
	s.h3.mu.Lock()
	servers := make([]*http3.Server, 0, len(s.h3.retiring)+1)
	for b := range s.h3.retiring {
		servers = append(servers, b.h3)
	}
	s.h3.mu.Unlock()
	if cur != nil && cur.h3 != nil {
		servers = append(servers, cur.h3)
	}
	errs := make([]error, len(servers))
	var wg sync.WaitGroup
	for i, srv := range servers {
		wg.Go(func() { errs[i] = srv.Shutdown(ctx) })
	}
	wg.Wait()
	s.h3.drains.Wait()
	if cur != nil {
		cur.close()
	}
	return errors.Join(errs...)
}
