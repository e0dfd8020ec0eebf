package certs

import (
	"context"
	"errors"
	"sync"
	"time"
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

// onEvent receives CertMagic's events for every config of this Manager.
func (m *Manager) onEvent(_ context.Context, event string, data map[string]any) error {
	name, _ := data["identifier"].(string)
	switch event {
	case "cert_failed":
		err, _ := data["error"].(error)
		if err == nil {
			err = errors.New("unknown error")
		}
		m.status.failed(name, err, m.opts.Now())
		renewal, _ := data["renewal"].(bool)
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
	}
	return nil
}
