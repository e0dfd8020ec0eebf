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

// newAccessSink makes the request metrics, which live as long as the
// process.
func newAccessSink() *accesslog.Sink {
	return &accesslog.Sink{Metrics: accesslog.NewMetrics()}
}

// switchAccessOutputLocked opens cfg's access log output when it is not
// the one open (at start, or a reload that changed output, max_size or
// max_backups) and returns the writer cfg's Runtime logs to (nil when the
// log is off). The old writer is closed in the background once it has
// written what is queued; lines of requests still in flight on the old
// Runtime after that are dropped (counted). Call it only for a Runtime
// that will be put in service. s.reloadMu must be held (or s not yet shared).
func (s *Server) switchAccessOutputLocked(cfg *config.Config) *accesslog.Writer {
	o := accessOutput(cfg)
	if s.alogOpen && o == s.alogOut {
		return s.alogW.Load()
	}
	var w *accesslog.Writer
	if o.Path != "" {
		w = accesslog.NewWriter(o, s.alog.Metrics.Dropped)
	}
	old := s.alogW.Swap(w)
	s.alogOut, s.alogOpen = o, true
	if old != nil {
		s.retiring.Go(func() { s.closeAccessWriter(old, "a reload changed the access log output") })
	}
	return w
}

// accessOutput is where access_log writes; its Path is "" when the log is
// off (defaults make it stdout otherwise).
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
	if w := s.alogW.Load(); w != nil {
		w.Reopen()
	}
}

// closeAccessLog closes the writer in service and waits for retired ones.
func (s *Server) closeAccessLog() {
	if w := s.alogW.Swap(nil); w != nil {
		s.closeAccessWriter(w, "exit")
	}
	s.retiring.Wait()
}

func (s *Server) closeAccessWriter(w *accesslog.Writer, why string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		s.logger.Warn("access log: lines still queued were not written", "at", why, "error", err)
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
				s.countHandshake(cs.ServerName, cs.Version, cs.HandshakeComplete)
			}
		}
	}
}

// countHandshake counts one TLS handshake (TCP or QUIC) in
// tlsgate_tls_handshakes_total when its connection ends.
func (s *Server) countHandshake(serverName string, version uint16, complete bool) {
	site, result := accesslog.UnknownSite, "failed"
	if complete {
		result = "ok"
	}
	if st, ok := s.rt.Load().hosts.Match(serverName); ok && serverName != "" {
		site = st.defaultName
	}
	s.alog.Metrics.Handshakes.WithLabelValues(site, accesslog.TLSVersion(version), result).Inc()
}

func isFalse(b *bool) bool { return b != nil && !*b }
