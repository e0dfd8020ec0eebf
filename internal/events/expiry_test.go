package events

import (
	"context"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"
)

type memStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *memStore) Load(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.m[key]; ok {
		return v, nil
	}
	return nil, fs.ErrNotExist
}

func (s *memStore) Store(_ context.Context, key string, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = v
	return nil
}

type recorder struct {
	mu  sync.Mutex
	got []Event
}

func (r *recorder) Emit(e Event) { r.mu.Lock(); r.got = append(r.got, e); r.mu.Unlock() }

func TestExpiryOncePerThreshold(t *testing.T) {
	const day = 24 * time.Hour
	now := time.Unix(0, 0)
	store := &memStore{m: map[string][]byte{}}
	cert := Certificate{Names: []string{"a.test"}, NotBefore: now.Add(-80 * day), NotAfter: now.Add(10 * day)}
	steps := []struct {
		name     string
		at       time.Time
		cert     Certificate
		want     int    // events so far
		wantLast string // threshold of the last event
	}{
		{"above both", now.Add(-10 * day), cert, 0, ""},
		{"crosses 14d", now, cert, 1, "14d"},
		// A new Expiry over the same store is a restart.
		{"restart does not re-send", now.Add(time.Hour), cert, 1, "14d"},
		{"crosses 3d", now.Add(8 * day), cert, 2, "3d"},
		{"renewed certificate starts afresh", now.Add(8 * day),
			Certificate{Names: cert.Names, NotBefore: now.Add(-80 * day), NotAfter: now.Add(19 * day)}, 3, "14d"},
	}
	rec := &recorder{}
	for _, st := range steps {
		x := &Expiry{Thresholds: []time.Duration{3 * day, 14 * day}, Store: store, Emitter: rec, Now: func() time.Time { return st.at }}
		if err := x.Check(context.Background(), []Certificate{st.cert}); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if len(rec.got) != st.want {
			t.Fatalf("%s: %d events; want %d", st.name, len(rec.got), st.want)
		}
		if st.want > 0 {
			if got := rec.got[len(rec.got)-1].Detail["threshold"]; got != st.wantLast {
				t.Errorf("%s: threshold %v; want %s", st.name, got, st.wantLast)
			}
		}
	}
}

// A 7-day certificate renews with a third left; a 14-day threshold must
// not alert while it is on schedule.
func TestExpiryShortLivedCertificates(t *testing.T) {
	const day = 24 * time.Hour
	now := time.Unix(0, 0)
	rec := &recorder{}
	x := &Expiry{Thresholds: []time.Duration{14 * day}, Store: &memStore{m: map[string][]byte{}}, Emitter: rec, Now: func() time.Time { return now }}
	onSchedule := Certificate{Names: []string{"a"}, NotBefore: now.Add(-5 * day), NotAfter: now.Add(2 * day)}
	overdue := Certificate{Names: []string{"b"}, NotBefore: now.Add(-6 * day), NotAfter: now.Add(day)}
	if err := x.Check(context.Background(), []Certificate{onSchedule, overdue}); err != nil {
		t.Fatal(err)
	}
	if len(rec.got) != 1 || rec.got[0].Name != "b" || rec.got[0].Detail["days_left"] != 1 {
		t.Fatalf("got %+v; want one event for b with 1 day left", rec.got)
	}
}

// lockingStore records Lock and Unlock around the records it holds.
type lockingStore struct {
	memStore
	calls []string
}

func (s *lockingStore) Lock(_ context.Context, name string) error {
	s.calls = append(s.calls, "lock "+name)
	return nil
}

func (s *lockingStore) Unlock(_ context.Context, name string) error {
	s.calls = append(s.calls, "unlock "+name)
	return nil
}

func (s *lockingStore) Store(ctx context.Context, key string, v []byte) error {
	s.calls = append(s.calls, "store")
	return s.memStore.Store(ctx, key, v)
}

// A check on shared storage holds its lock across reading and writing the
// records, so two instances do not both send a warning.
func TestExpiryLocksSharedStorage(t *testing.T) {
	now := time.Unix(0, 0)
	st := &lockingStore{memStore: memStore{m: map[string][]byte{}}}
	x := &Expiry{Thresholds: []time.Duration{time.Hour}, Store: st, Emitter: &recorder{}, Now: func() time.Time { return now }}
	c := Certificate{Names: []string{"a"}, NotAfter: now.Add(time.Minute)}
	if err := x.Check(context.Background(), []Certificate{c}); err != nil {
		t.Fatal(err)
	}
	want := "lock tlsgate_alerts_expiring,store,unlock tlsgate_alerts_expiring"
	if got := strings.Join(st.calls, ","); got != want {
		t.Errorf("calls %s; want %s", got, want)
	}
}
