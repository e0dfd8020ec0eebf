//lint:file-ignore SA1019 the stand-in serves HTTP/2 with x/net/http2's ServeConn until internal/serve/h2 lands

package serve

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"

	"golang.org/x/net/http2"
)

// h2Standin serves HTTP/2 with golang.org/x/net/http2 until
// internal/serve/h2 lands; Shutdown of its connections goes through the
// base http.Server's shutdown hook (GOAWAY on every connection).
type h2Standin struct {
	srv  *http2.Server
	base *http.Server
	h    http.Handler
}

func newH2Standin(s *Server) *h2Standin {
	base := &http.Server{
		Handler:           s.Handler,
		MaxHeaderBytes:    s.MaxHeaderBytes,
		ReadHeaderTimeout: s.ReadHeaderTimeout,
		IdleTimeout:       s.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelDebug),
	}
	srv := &http2.Server{MaxConcurrentStreams: s.MaxConcurrentStreams, IdleTimeout: s.IdleTimeout}
	http2.ConfigureServer(base, srv)
	return &h2Standin{srv: srv, base: base, h: s.Handler}
}

func (h *h2Standin) newConn(tc *tls.Conn) protoConn { return &h2Conn{h: h, tc: tc} }

func (h *h2Standin) shutdown() {
	// Runs the shutdown hook ConfigureServer registered (GOAWAY); the base
	// server has no listener or connection of its own to wait for.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h.base.Shutdown(ctx)
}

type h2Conn struct {
	h  *h2Standin
	tc *tls.Conn
}

func (c *h2Conn) Serve(ctx context.Context) error {
	c.h.srv.ServeConn(c.tc, &http2.ServeConnOpts{Context: ctx, BaseConfig: c.h.base, Handler: c.h.h})
	return nil
}

func (c *h2Conn) Shutdown() {}
