package server

import (
	"context"
	"log/slog"
	"reflect"
	"time"

	"github.com/tlsgate/tlsgate/internal/certs"
	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/events"
)

// expiryCheckInterval is how often certificates are checked against
// alerts.expiry_warnings (and once at start): thresholds are days apart,
// so an hour late is on time.
const expiryCheckInterval = time.Hour

// alertSinks builds the sinks of an alerts block (defaults filled in).
func alertSinks(a *config.Alerts, logger *slog.Logger) []events.Sink {
	var sinks []events.Sink
	if a == nil {
		return nil
	}
	if w := a.Webhook; w != nil {
		sinks = append(sinks, &events.Webhook{URL: w.URL, Headers: w.Headers,
			Timeout: time.Duration(w.Timeout), Attempts: w.Attempts, Slack: w.Format == config.AlertFormatSlack})
	}
	if x := a.Exec; x != nil {
		sinks = append(sinks, &events.Exec{Command: x.Command, Timeout: time.Duration(x.Timeout), Logger: logger})
	}
	return sinks
}

// applyAlertsLocked gives the bus the sinks of cfg when they changed, so a
// reload that keeps alerts as they were does not drop queued events.
// s.reloadMu must be held (or s not yet shared).
func (s *Server) applyAlertsLocked(cfg *config.Config) {
	if s.alertsSet && reflect.DeepEqual(cfg.Alerts, s.alerts) {
		return
	}
	s.alerts, s.alertsSet = cfg.Alerts, true
	s.events.SetSinks(alertSinks(cfg.Alerts, s.logger.With("component", "alerts")))
}

// Events returns the recent events, newest first, for GET /events.
func (s *Server) Events() []events.Event { return s.events.Recent() }

// Emitter is where other parts of the instance (upstream health checks)
// send their events.
func (s *Server) Emitter() events.Emitter { return s.events }

// watchExpiry checks certificate expiry at start, after each reload
// (which may bring new certificates or thresholds) and every
// expiryCheckInterval until ctx is done.
func (s *Server) watchExpiry(ctx context.Context) {
	t := time.NewTicker(expiryCheckInterval)
	defer t.Stop()
	for {
		s.checkExpiry(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.expiryNow:
		}
	}
}

// recheckExpiry asks watchExpiry for a check soon; it never waits.
func (s *Server) recheckExpiry() {
	select {
	case s.expiryNow <- struct{}{}:
	default: // one is pending
	}
}

func (s *Server) checkExpiry(ctx context.Context) {
	list, err := s.certs.List(ctx)
	if err != nil {
		s.logger.Warn("could not list certificates to check their expiry", "error", err)
		return
	}
	var thresholds []time.Duration
	for _, d := range s.rt.Load().cfg.Alerts.ExpiryWarnings {
		thresholds = append(thresholds, time.Duration(d))
	}
	x := &events.Expiry{Thresholds: thresholds, Store: s.storage, Emitter: s.events, Now: s.opts.Now}
	if err := x.Check(ctx, expiryList(list)); err != nil {
		s.logger.Warn("certificate expiry check", "error", err)
	}
}

func expiryList(list []certs.CertInfo) []events.Certificate {
	out := make([]events.Certificate, 0, len(list))
	for _, c := range list {
		if c.NotAfter == nil {
			continue
		}
		e := events.Certificate{Names: c.Names, NotAfter: *c.NotAfter}
		if c.NotBefore != nil {
			e.NotBefore = *c.NotBefore
		}
		out = append(out, e)
	}
	return out
}

func (s *Server) closeEvents() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.events.Close(ctx); err != nil {
		s.logger.Warn("alerts still queued at exit were not delivered", "error", err)
	}
}
