package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// quicBufferBytes is the UDP socket buffer size quic-go asks for (its
// desiredBufferSize, 7MiB); below it, bursts of packets are dropped.
const quicBufferBytes = 7 << 20

// newHTTP3Server is the HTTP/3 server: the same handler as the https
// server. Its listeners (listenHTTP3) select certificates the same way.
func (s *Server) newHTTP3Server(handler http.Handler) {
	s.h3 = &http3.Server{
		Handler:        handler,
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

// listenHTTP3 opens the UDP socket and QUIC listener for HTTP/3.
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
	// The https listener's TLS policy (configForClient: the site by SNI,
	// its certificate and client_auth), with ALPN h3.
	ln, err := quic.Listen(pc, http3.ConfigureTLSConfig(s.tlsConfig()), s.quicConfig())
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("listen http3 (QUIC) on %s: %w", addr, err)
	}
	s.checkUDPBuffers(pc)
	return &boundListener{addr: addr, pc: pc, qln: ln}, nil
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

// shutdownHTTP3 sends GOAWAY on every HTTP/3 connection and waits (up to
// ctx) for their requests to finish; the listener is closed afterwards.
func (s *Server) shutdownHTTP3(ctx context.Context) error {
	return s.h3.Shutdown(ctx)
}
