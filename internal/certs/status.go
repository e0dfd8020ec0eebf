package certs

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/tlsgate/tlsgate/internal/events"
)

// statusBook remembers, per name, what the last obtain or renewal did, for
// `tlsgate certs` and /metrics. Safe for concurrent use.
type statusBook struct {
	// mu guards byName.
	mu     sync.Mutex
	byName map[string]*nameStatus
}

type nameStatus struct {
	lastError   string
	lastErrorAt time.Time
	failures    int64 // renewal or obtain failures since start
}

func newStatusBook() *statusBook { return &statusBook{byName: make(map[string]*nameStatus)} }

func (b *statusBook) get(name string) nameStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.byName[name]; s != nil {
		return *s
	}
	return nameStatus{}
}

func (b *statusBook) failed(name string, err error, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.byName[name]
	if s == nil {
		s = &nameStatus{}
		b.byName[name] = s
	}
	s.failures++
	s.lastError, s.lastErrorAt = err.Error(), at
}

func (b *statusBook) succeeded(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.byName[name]; s != nil {
		s.lastError = ""
	}
}

// onEvent receives CertMagic's events for every config of this Manager,
// and passes obtained, renewed and failed certificates on to Events.
func (m *Manager) onEvent(ctx context.Context, event string, data map[string]any) error {
	name, _ := data["identifier"].(string)
	renewal, _ := data["renewal"].(bool)
	switch event {
	case "cert_failed":
		err, _ := data["error"].(error)
		if err == nil {
			err = errors.New("unknown error")
		}
		m.status.failed(name, err, m.opts.Now())
		m.emitFailed(ctx, name, renewal, data, err)
		attrs := []any{"name", name, "renewal", renewal, "error", err}
		if hint := Hint(err); hint != "" {
			attrs = append(attrs, "hint", hint)
		}
		if renewal {
			attrs = append(attrs, "note", "the current certificate keeps serving until it expires; tlsgate retries with backoff")
		}
		m.logger.Error("could not get a certificate", attrs...)
	case "cert_obtained":
		m.status.succeeded(name)
		e := events.Event{Event: events.CertObtained, Name: name, Time: m.opts.Now(), Detail: map[string]any{}}
		if renewal {
			e.Event = events.CertRenewed
		}
		if issuer, ok := data["issuer"].(string); ok {
			e.Detail["issuer"] = issuer
		}
		m.opts.Events.Emit(e)
	}
	return nil
}

// emitFailed sends cert_failed with the error and the next attempt the
// persisted backoff allows. Attempts refused because the backoff has not
// passed never reached the CA: they are not news, and are not sent.
func (m *Manager) emitFailed(ctx context.Context, name string, renewal bool, data map[string]any, err error) {
	if errors.Is(err, errBackoff) {
		return
	}
	detail := map[string]any{"error": err.Error(), "renewal": renewal}
	if hint := Hint(err); hint != "" {
		detail["hint"] = hint
	}
	issuers, _ := data["issuers"].([]string)
	for _, iss := range issuers {
		if rec, lerr := loadFailure(ctx, m.storage, failureKey(iss, []string{name})); lerr == nil && !rec.NextAttempt.IsZero() {
			detail["next_attempt"] = rec.NextAttempt.UTC().Format(time.RFC3339)
			break
		}
	}
	m.opts.Events.Emit(events.Event{Event: events.CertFailed, Name: name, Time: m.opts.Now(), Detail: detail})
}
