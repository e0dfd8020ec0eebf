package server

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/tlsgate/tlsgate/internal/access"
	"github.com/tlsgate/tlsgate/internal/accesslog"
	"github.com/tlsgate/tlsgate/internal/config"
)

// newAccessSink opens the access log output of cfg (none when access_log
// is absent) and makes the request metrics.
func newAccessSink(cfg *config.Config) *accesslog.Sink {
	sink := &accesslog.Sink{Metrics: accesslog.NewMetrics()}
	if o := accessOutput(cfg); o.Path != "" {
		sink.W = accesslog.NewWriter(o, sink.Metrics.Dropped)
	}
	return sink
}

// accessOutput is what of access_log is read at start only; its Path is
// "" when the log is off (defaults make it stdout otherwise).
func accessOutput(cfg *config.Config) accesslog.Output {
	a := cfg.AccessLog
	if a == nil {
		return accesslog.Output{}
	}
	return accesslog.Output{Path: a.Output, MaxSize: int64(a.MaxSize), MaxBackups: a.MaxBackups}
}

// accessMiddleware is cfg's view of the access log sink.
func (s *Server) accessMiddleware(cfg *config.Config, trusted []netip.Prefix) (*accesslog.Middleware, error) {
	m := &accesslog.Middleware{Sink: s.alog, Trusted: trusted,
		ClientIP: func(r *http.Request) netip.Addr { return access.ClientIP(r, trusted) }}
	format := config.AccessLogJSON
	if a := cfg.AccessLog; a != nil {
		format, m.Redact = a.Format, a.RedactQuery
	}
	f, err := accesslog.NewFormatter(format)
	if err != nil {
		return nil, err
	}
	m.Format = f
	return m, nil
}

// ReopenLogs makes a file access log start a new file at its path (after
// logrotate moved the old one away); SIGUSR1 calls it.
func (s *Server) ReopenLogs() {
	if s.alog.W != nil {
		s.alog.W.Reopen()
	}
}

func (s *Server) closeAccessLog() {
	if s.alog.W == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.alog.W.Close(ctx); err != nil {
		s.logger.Warn("access log: lines still queued at exit were not written", "error", err)
	}
}

// routeLog names the route in the request's access log record.
func routeLog(h http.Handler, name string, off bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		accesslog.SetRoute(r.Context(), name, off)
		h.ServeHTTP(w, r)
	})
}

// connState keeps tlsgate_connections_open and, when a TLS connection
// ends, counts its handshake: net/http reports every connection as New
// once and Closed or Hijacked once, including those whose handshake failed.
func (s *Server) connState(listener string) func(net.Conn, http.ConnState) {
	open := s.alog.Metrics.ConnsOpen.WithLabelValues(listener)
	return func(c net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			open.Inc()
		case http.StateClosed, http.StateHijacked:
			open.Dec()
			if tc, ok := c.(*tls.Conn); ok {
				cs := tc.ConnectionState()
				site, result := accesslog.UnknownSite, "failed"
				if cs.HandshakeComplete {
					result = "ok"
				}
				if st, ok := s.rt.Load().hosts.Match(cs.ServerName); ok && cs.ServerName != "" {
					site = st.defaultName
				}
				s.alog.Metrics.Handshakes.WithLabelValues(site, accesslog.TLSVersion(cs.Version), result).Inc()
			}
		}
	}
}

func isFalse(b *bool) bool { return b != nil && !*b }
