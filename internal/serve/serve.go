// Package serve is tlsgate's serving engine: the accept loop, the TLS
// handshake under a deadline, dispatch by ALPN to the HTTP/1.1 (h1) or
// HTTP/2 connection, per-connection tracking and graceful shutdown, with
// net/http's Server's fields and ConnState reporting, so internal/server
// builds either engine in one place.
package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tlsgate/tlsgate/internal/serve/h1"
	"github.com/tlsgate/tlsgate/internal/serve/h2"
)

// Server serves HTTP/1.1 and HTTP/2 (over TLS) to an http.Handler.
type Server struct {
	Handler              http.Handler
	TLSConfig            *tls.Config // nil: plain HTTP/1.1 (the :80 listener)
	MaxHeaderBytes       int
	ReadHeaderTimeout    time.Duration // also bounds the TLS handshake
	IdleTimeout          time.Duration
	MaxConcurrentStreams uint32 // HTTP/2
	Logger               *slog.Logger
	// ConnState is told New once, then Active/Idle/Hijacked, and Closed
	// once unless hijacked — as net/http reports them, failed handshakes
	// included.
	ConnState func(net.Conn, http.ConnState)

	once   sync.Once
	h1opts h1.Options
	h2opts h2.Options
	// described stands in for an *http.Server under http.ServerContextKey
	// in request contexts; it is never served. Handlers look for that key:
	// httputil.ReverseProxy aborts the client's response (panics with
	// http.ErrAbortHandler, which h1 and h2 turn into a cut connection or
	// stream) when an upstream body breaks off only if it is set; without
	// it, a truncated body would end like a complete one.
	described *http.Server
	mu        sync.Mutex
	lns       map[*net.Listener]struct{}
	conns     map[*conn]struct{}
	closing   atomic.Bool
	connsWG   sync.WaitGroup
	listenWG  sync.WaitGroup
}

// protoConn is what h1 and h2 connections offer.
type protoConn interface {
	Serve(ctx context.Context) error
	Shutdown()
}

type conn struct {
	s     *Server
	rwc   net.Conn  // the *tls.Conn once wrapped
	proto protoConn // nil during the handshake
	opts  h1.Options
}

func (s *Server) init() {
	s.once.Do(func() {
		if s.Logger == nil {
			s.Logger = slog.New(slog.DiscardHandler)
		}
		s.h1opts = h1.Options{
			Handler:           s.Handler,
			MaxHeaderBytes:    s.MaxHeaderBytes,
			ReadHeaderTimeout: s.ReadHeaderTimeout,
			IdleTimeout:       s.IdleTimeout,
			Logger:            s.Logger,
		}
		s.h2opts = h2.Options{
			Handler:              s.Handler,
			MaxHeaderBytes:       s.MaxHeaderBytes,
			ReadHeaderTimeout:    s.ReadHeaderTimeout,
			IdleTimeout:          s.IdleTimeout,
			MaxConcurrentStreams: s.MaxConcurrentStreams,
			Logger:               s.Logger,
		}
		s.described = &http.Server{Handler: s.Handler}
		s.lns = make(map[*net.Listener]struct{})
		s.conns = make(map[*conn]struct{})
	})
}

// Serve accepts connections on ln until Shutdown or Close (then it returns
// http.ErrServerClosed) or an accept error that is not temporary.
func (s *Server) Serve(ln net.Listener) error {
	s.init()
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	s.lns[&ln] = struct{}{}
	s.listenWG.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.lns, &ln)
		s.mu.Unlock()
		s.listenWG.Done()
	}()
	ctx := context.WithValue(context.Background(), http.ServerContextKey, s.described)
	ctx = context.WithValue(ctx, http.LocalAddrContextKey, ln.Addr())
	var delay time.Duration
	for {
		rw, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			//lint:ignore SA1019 net/http's accept loop retries on the same test
			if errors.As(err, &ne) && ne.Temporary() {
				if delay == 0 {
					delay = 5 * time.Millisecond
				} else {
					delay = min(2*delay, time.Second)
				}
				s.Logger.Debug("http: accept error; retrying", "error", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		c := &conn{s: s, rwc: rw}
		s.mu.Lock()
		if s.closing.Load() {
			s.mu.Unlock()
			rw.Close()
			return http.ErrServerClosed
		}
		s.conns[c] = struct{}{}
		s.connsWG.Add(1)
		s.mu.Unlock()
		go c.serve(context.WithValue(ctx, http.LocalAddrContextKey, rw.LocalAddr()))
	}
}

func (c *conn) state(st http.ConnState) {
	if f := c.s.ConnState; f != nil {
		f(c.rwc, st)
	}
}

func (c *conn) serve(ctx context.Context) {
	s := c.s
	hijacked := false
	defer func() {
		if !hijacked {
			c.rwc.Close()
			c.state(http.StateClosed)
		}
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.connsWG.Done()
	}()
	if s.TLSConfig != nil {
		tc := tls.Server(c.rwc, s.TLSConfig)
		c.rwc = tc
		c.state(http.StateNew)
		if d := s.ReadHeaderTimeout; d > 0 {
			dl := time.Now().Add(d)
			tc.SetReadDeadline(dl)
			tc.SetWriteDeadline(dl)
		}
		if err := tc.HandshakeContext(ctx); err != nil {
			reason := err.Error()
			var re tls.RecordHeaderError
			if errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader) {
				io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
				re.Conn.Close()
				reason = "client sent an HTTP request to an HTTPS server"
			}
			s.Logger.Debug("http: TLS handshake error", "remote", c.rwc.RemoteAddr().String(), "error", reason)
			return
		}
		tc.SetReadDeadline(time.Time{})
		tc.SetWriteDeadline(time.Time{})
		if tc.ConnectionState().NegotiatedProtocol == "h2" {
			c.serveH2(ctx, tc)
			return
		}
	} else {
		c.state(http.StateNew)
	}
	c.opts = s.h1opts
	c.opts.OnState = c.state
	h := h1.NewConn(c.rwc, &c.opts)
	if !c.setProto(h) {
		return
	}
	h.Serve(ctx)
	hijacked = h.Hijacked()
}

// serveH2 is the one place HTTP/2 is served.
func (c *conn) serveH2(ctx context.Context, tc *tls.Conn) {
	opts := c.s.h2opts
	opts.OnState = c.state
	p := h2.NewConn(tc, &opts)
	if !c.setProto(p) {
		return
	}
	p.Serve(ctx)
}

// setProto records the protocol connection for Shutdown; false: the server
// is shutting down already (the connection then ends).
func (c *conn) setProto(p protoConn) bool {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.proto = p
	if c.s.closing.Load() {
		p.Shutdown()
	}
	return true
}

// looksLikeHTTP is net/http's tlsRecordHeaderLooksLikeHTTP.
func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

// Shutdown stops accepting, asks every connection to end gracefully, and
// waits for them or ctx; then it closes the rest and returns ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.mu.Lock()
	s.closing.Store(true)
	for ln := range s.lns {
		(*ln).Close()
	}
	for c := range s.conns {
		if c.proto != nil {
			c.proto.Shutdown()
		}
	}
	s.mu.Unlock()
	s.listenWG.Wait()
	done := make(chan struct{})
	go func() {
		s.connsWG.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.closeConns()
		<-done
		return ctx.Err()
	}
}

// Close closes the listeners and every connection now.
func (s *Server) Close() error {
	s.init()
	s.mu.Lock()
	s.closing.Store(true)
	var err error
	for ln := range s.lns {
		err = errors.Join(err, (*ln).Close())
	}
	s.mu.Unlock()
	s.closeConns()
	s.listenWG.Wait()
	return err
}

func (s *Server) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.rwc.Close()
	}
}
