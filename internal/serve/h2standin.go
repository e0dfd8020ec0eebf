package serve

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"sync"
)

// h2Standin serves HTTP/2 with net/http's own HTTP/2 server until
// internal/serve/h2 lands: one http.Server is handed each *tls.Conn that
// negotiated h2 (its handshake already done) through a listener of its
// own, and its Shutdown sends every such connection GOAWAY.
type h2Standin struct {
	srv     *http.Server
	ln      *connListener
	start   sync.Once
	serving sync.WaitGroup

	mu   sync.Mutex
	done map[net.Conn]chan struct{} // closed when the connection ends
}

func newH2Standin(s *Server) *h2Standin {
	h := &h2Standin{ln: newConnListener(), done: make(map[net.Conn]chan struct{})}
	h.srv = &http.Server{
		Handler:        s.Handler,
		MaxHeaderBytes: s.MaxHeaderBytes,
		IdleTimeout:    s.IdleTimeout,
		HTTP2:          &http.HTTP2Config{MaxConcurrentStreams: int(s.MaxConcurrentStreams)},
		ErrorLog:       slog.NewLogLogger(s.Logger.Handler(), slog.LevelDebug),
		ConnState: func(c net.Conn, st http.ConnState) {
			if st != http.StateClosed {
				return
			}
			h.mu.Lock()
			if d := h.done[c]; d != nil {
				close(d)
				delete(h.done, c)
			}
			h.mu.Unlock()
		},
	}
	return h
}

func (h *h2Standin) newConn(tc *tls.Conn) protoConn { return &h2Conn{h: h, tc: tc} }

// shutdown sends GOAWAY on every connection and waits for them or ctx.
func (h *h2Standin) shutdown(ctx context.Context) {
	h.srv.Shutdown(ctx)
	h.ln.Close()
	h.serving.Wait()
}

type h2Conn struct {
	h  *h2Standin
	tc *tls.Conn
}

func (c *h2Conn) Serve(ctx context.Context) error {
	h := c.h
	h.start.Do(func() {
		h.serving.Add(1)
		go func() {
			defer h.serving.Done()
			h.srv.Serve(h.ln)
		}()
	})
	done := make(chan struct{})
	h.mu.Lock()
	h.done[c.tc] = done
	h.mu.Unlock()
	select {
	case h.ln.conns <- c.tc:
	case <-h.ln.closed:
		h.mu.Lock()
		delete(h.done, c.tc)
		h.mu.Unlock()
		return net.ErrClosed
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}

// Shutdown: the stand-in's connections get GOAWAY from shutdown.
func (c *h2Conn) Shutdown() {}

// connListener hands over connections accepted elsewhere.
type connListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newConnListener() *connListener {
	return &connListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *connListener) Addr() net.Addr { return &net.TCPAddr{} }
