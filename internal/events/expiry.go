package events

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"
)

// Store keeps what Expiry already sent; certmagic.Storage satisfies it, so
// the memory is shared by a cluster and survives restarts.
type Store interface {
	Load(ctx context.Context, key string) ([]byte, error)
	Store(ctx context.Context, key string, value []byte) error
}

// Locker is the lock side of certmagic.Storage. When Expiry's Store has
// it, a check holds a lock, so instances sharing storage (a fleet on etcd)
// do not both send the same warning.
type Locker interface {
	Lock(ctx context.Context, name string) error
	Unlock(ctx context.Context, name string) error
}

// expiryLock names the lock a check holds.
const expiryLock = "tlsgate_alerts_expiring"

// Certificate is what Expiry needs to know about one certificate.
type Certificate struct {
	Names               []string
	NotBefore, NotAfter time.Time
}

// Expiry emits cert_expiring once per threshold per certificate: when a
// certificate's time left drops below a threshold, one event says so, and
// storage remembers it, so neither the next check nor a restart sends it
// again. A renewed certificate (a different NotAfter) starts afresh.
//
// A threshold longer than a quarter of a certificate's lifetime counts as a
// quarter: short-lived certificates (7-day local leaves, 6-day ACME
// profiles) renew with a third left, and must not alert on every renewal.
type Expiry struct {
	// Thresholds are the warning points, in any order.
	Thresholds []time.Duration
	Store      Store
	Emitter    Emitter
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// expirySent is the stored record of one certificate's warnings.
type expirySent struct {
	Names    []string  `json:"names"`
	NotAfter time.Time `json:"not_after"`
	// Sent are the thresholds already alerted, in seconds.
	Sent []int64 `json:"sent"`
}

// Check looks at every certificate once. Errors are storage errors; a
// certificate whose record cannot be read or written is alerted anyway
// (a repeated alert beats a missing one).
func (x *Expiry) Check(ctx context.Context, list []Certificate) error {
	now := time.Now()
	if x.Now != nil {
		now = x.Now()
	}
	if l, ok := x.Store.(Locker); ok {
		if err := l.Lock(ctx, expiryLock); err != nil {
			return fmt.Errorf("lock %s: %w", expiryLock, err)
		}
		// Release even when ctx is cancelled (shutdown), so the lock is
		// not left to expire in shared storage.
		defer l.Unlock(context.WithoutCancel(ctx), expiryLock)
	}
	var errs []error
	for _, c := range list {
		if err := x.checkOne(ctx, c, now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (x *Expiry) checkOne(ctx context.Context, c Certificate, now time.Time) error {
	if c.NotAfter.IsZero() || len(c.Names) == 0 {
		return nil
	}
	left := c.NotAfter.Sub(now)
	crossed := x.crossed(c, left)
	if len(crossed) == 0 {
		return nil
	}
	key := expiryKey(c.Names)
	rec, loadErr := x.load(ctx, key)
	if !rec.NotAfter.Equal(c.NotAfter) {
		rec = expirySent{Names: c.Names, NotAfter: c.NotAfter}
	}
	var fresh []time.Duration
	for _, t := range crossed {
		if !slices.Contains(rec.Sent, int64(t/time.Second)) {
			fresh = append(fresh, t)
			rec.Sent = append(rec.Sent, int64(t/time.Second))
		}
	}
	if len(fresh) == 0 {
		return loadErr
	}
	data, _ := json.Marshal(rec)
	storeErr := x.Store.Store(ctx, key, data)
	// Crossing two thresholds at once (a restart after a long stop) sends
	// one event, for the nearest.
	x.Emitter.Emit(Event{Event: CertExpiring, Name: c.Names[0], Time: now, Detail: map[string]any{
		"names":     c.Names,
		"not_after": c.NotAfter.UTC().Format(time.RFC3339),
		"days_left": int(left.Hours() / 24),
		"threshold": formatDays(slices.Min(fresh)),
	}})
	if storeErr != nil {
		return fmt.Errorf("remember cert_expiring for %s: %w", c.Names[0], storeErr)
	}
	return loadErr
}

// crossed returns the thresholds c's time left is below, each clamped to a
// quarter of c's lifetime.
func (x *Expiry) crossed(c Certificate, left time.Duration) []time.Duration {
	var out []time.Duration
	for _, t := range x.Thresholds {
		if !c.NotBefore.IsZero() {
			t = min(t, c.NotAfter.Sub(c.NotBefore)/4)
		}
		if left < t && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

func (x *Expiry) load(ctx context.Context, key string) (expirySent, error) {
	var rec expirySent
	data, err := x.Store.Load(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return rec, nil
	}
	if err != nil {
		return rec, fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return expirySent{}, fmt.Errorf("read %s: %w", key, err)
	}
	return rec, nil
}

// expiryKey is where the record for a set of names lives: hashed, since
// names may hold characters (a wildcard's *) some storages refuse.
func expiryKey(names []string) string {
	sorted := slices.Sorted(slices.Values(names))
	sum := sha256.Sum256([]byte(strings.Join(sorted, "\n")))
	return "tlsgate/alerts/expiring/" + hex.EncodeToString(sum[:12]) + ".json"
}

// formatDays writes a threshold the way the config does: "14d", or hours
// when it is not whole days.
func formatDays(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
