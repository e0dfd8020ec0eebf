package server

import (
	"context"
	"net"
	"net/http"
)

// engine serves one client listener: tlsgate's own (serve.Server) or
// net/http's, as server.engine says. The admin listener is always
// net/http's.
type engine interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
}

// stdTLS is net/http's server on the https listener: Serve does the TLS.
type stdTLS struct{ *http.Server }

func (s stdTLS) Serve(ln net.Listener) error { return s.ServeTLS(ln, "", "") }
