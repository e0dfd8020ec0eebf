package ech

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"sync/atomic"
	"time"
)

// Options configure a Manager.
type Options struct {
	// Storage keeps the key set; in a fleet it is the shared (etcd)
	// storage. Required.
	Storage Storage
	// PublicName is ech.public_name. Required.
	PublicName string
	// Rotate is ech.rotate: a new key this often. Required (more than zero).
	Rotate time.Duration
	// Reread is how often the stored set is read again, to pick up keys
	// another node rotated and to rotate when due. Zero means Rotate/8, at
	// most a minute.
	Reread time.Duration
	// Publish, when set, is called with the current ECHConfigList whenever
	// it differs from the one last published (and after Republish); a
	// failure is logged and retried with backoff: at the next re-read, then
	// after twice that, and so on up to maxPublishBackoff (a new list or a
	// Republish tries at once).
	Publish func(ctx context.Context, configList []byte) error
	// Logger receives rotations and failures, never key material. Nil
	// discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the source of key material and config_ids; nil means
	// crypto/rand.Reader.
	Rand io.Reader
}

// Manager owns the ECH keys of one instance: the set in service, and its
// rotation. Keys and ConfigList are safe for concurrent use; Run is called
// once.
type Manager struct {
	opts   Options
	logger *slog.Logger
	// cur is the set in service; only refresh (Start, then Run's
	// goroutine) replaces it, handshakes read it.
	cur atomic.Pointer[inService]
	// republish asks Run to publish even if the list did not change.
	republish chan struct{}
}

// inService is a key set with what handshakes and publishing need of it,
// computed once.
type inService struct {
	set  *Set
	keys []tls.EncryptedClientHelloKey
	list []byte
}

// NewManager checks opts; Start loads or makes the keys.
func NewManager(opts Options) (*Manager, error) {
	if opts.Storage == nil || opts.PublicName == "" || opts.Rotate <= 0 {
		return nil, errors.New("ech: a manager needs storage, a public name and a rotation period")
	}
	if opts.Reread == 0 {
		opts.Reread = min(opts.Rotate/8, time.Minute)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{opts: opts, logger: logger, republish: make(chan struct{}, 1)}, nil
}

// Start puts the stored key set in service, making (and storing) the first
// key, or a new one when rotation is due, under the storage lock.
func (m *Manager) Start(ctx context.Context) error {
	return m.refresh(ctx)
}

// Keys is crypto/tls's GetEncryptedClientHelloKeys: every key accepted,
// the current one sent as the retry config.
func (m *Manager) Keys(*tls.ClientHelloInfo) ([]tls.EncryptedClientHelloKey, error) {
	if c := m.cur.Load(); c != nil {
		return c.keys, nil
	}
	return []tls.EncryptedClientHelloKey{}, nil // before Start: ECH is declined, never an error
}

// ConfigList is the ECHConfigList in service (nil before Start).
func (m *Manager) ConfigList() []byte {
	if c := m.cur.Load(); c != nil {
		return c.list
	}
	return nil
}

// Republish makes Run publish the current list again (the hosts to
// publish for changed).
func (m *Manager) Republish() {
	select {
	case m.republish <- struct{}{}:
	default:
	}
}

// maxPublishBackoff bounds the wait between two tries of a publish that
// keeps failing.
const maxPublishBackoff = time.Hour

// Run re-reads the stored set every Reread, rotates when due, and
// publishes, until ctx is done.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(m.opts.Reread)
	defer t.Stop()
	var p publishState
	for {
		m.publish(ctx, &p)
		select {
		case <-ctx.Done():
			return
		case <-m.republish:
			p = publishState{}
		case <-t.C:
			if err := m.refresh(ctx); err != nil && ctx.Err() == nil {
				m.logger.Error("keys not refreshed; the ones in service stay", "error", err)
			}
		}
	}
}

// publishState is what Run knows of publishing: the list last published,
// and the list that failed, how often, and when to try it again.
type publishState struct {
	published []byte
	failed    []byte
	failures  int
	retryAt   time.Time
}

// publish calls Options.Publish when the list in service is not the one
// last published, unless that list failed and its retry time has not come.
func (m *Manager) publish(ctx context.Context, p *publishState) {
	list := m.ConfigList()
	if m.opts.Publish == nil || list == nil || bytes.Equal(list, p.published) {
		return
	}
	now := m.opts.Now()
	if bytes.Equal(list, p.failed) && now.Before(p.retryAt) {
		return
	}
	if err := m.opts.Publish(ctx, list); err != nil {
		if ctx.Err() != nil {
			return
		}
		if !bytes.Equal(list, p.failed) {
			p.failed, p.failures = list, 0
		}
		p.failures++
		wait := min(m.opts.Reread<<min(p.failures-1, 16), maxPublishBackoff)
		p.retryAt = now.Add(wait)
		m.logger.Error("publishing the HTTPS records failed; retrying later", "error", err, "retry_in", wait.String(), "failures", p.failures)
		return
	}
	*p = publishState{published: list}
	m.logger.Info("HTTPS records published", "config_id", m.cur.Load().set.Keys[0].ConfigID)
}

// refresh reads the stored set and, when it is due for rotation (or
// absent), rotates it under the storage lock, checking again once the lock
// is held: in a fleet, another node may have rotated meanwhile.
func (m *Manager) refresh(ctx context.Context) error {
	set, err := Load(ctx, m.opts.Storage)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if set.due(m.opts.PublicName, m.opts.Rotate, m.opts.Now()) {
		if set, err = m.rotate(ctx); err != nil {
			return err
		}
	}
	return m.install(set)
}

func (m *Manager) rotate(ctx context.Context) (*Set, error) {
	if err := m.opts.Storage.Lock(ctx, lockName); err != nil {
		return nil, fmt.Errorf("ech: taking the storage lock %s: %w", lockName, err)
	}
	// A cancelled ctx must not strand the lock in a shared storage.
	defer m.opts.Storage.Unlock(context.WithoutCancel(ctx), lockName)
	set, err := Load(ctx, m.opts.Storage)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	now := m.opts.Now()
	if !set.due(m.opts.PublicName, m.opts.Rotate, now) {
		return set, nil // another node rotated while we waited for the lock
	}
	var prev *Key
	if set != nil && len(set.Keys) > 0 {
		prev = &set.Keys[0]
	}
	k, err := NewKey(m.opts.PublicName, now, prev, m.opts.Rand)
	if err != nil {
		return nil, err
	}
	next := set.rotated(m.opts.PublicName, k)
	if err := store(ctx, m.opts.Storage, next); err != nil {
		return nil, err
	}
	m.logger.Info("new key", "config_id", k.ConfigID, "public_name", m.opts.PublicName,
		"keys_accepted", len(next.Keys), "next_rotation", k.Created.Add(m.opts.Rotate).Format(time.RFC3339))
	return next, nil
}

// install puts set in service unless it already is.
func (m *Manager) install(set *Set) error {
	if c := m.cur.Load(); c != nil && sameKeys(c.set, set) {
		return nil
	}
	list, err := set.ConfigList()
	if err != nil {
		return err
	}
	prev := m.cur.Swap(&inService{set: set, keys: set.TLSKeys(), list: list})
	if prev != nil {
		m.logger.Info("keys in service changed", "config_id", set.Keys[0].ConfigID, "keys_accepted", len(set.Keys))
	}
	return nil
}

func sameKeys(a, b *Set) bool {
	if len(a.Keys) != len(b.Keys) {
		return false
	}
	for i := range a.Keys {
		if !bytes.Equal(a.Keys[i].Config, b.Keys[i].Config) {
			return false
		}
	}
	return true
}
