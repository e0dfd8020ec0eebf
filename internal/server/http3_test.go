package server

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/quic-go/quic-go"

	"github.com/tlsgate/tlsgate/internal/route"
	"github.com/tlsgate/tlsgate/internal/testproc"
)

// TestQUICAdmission: a QUIC connection past max_connections is refused and
// counted; reaching the cap starts a cap episode whose time ends when a
// connection closes; before the first Runtime every connection is refused.
func TestQUICAdmission(t *testing.T) {
	s := &Server{alog: newAccessSink()}
	stats := &capStats{}
	a := &quicAdmission{s: s, max: 2, stats: stats, open: prometheus.NewGauge(prometheus.GaugeOpts{Name: "open"})}
	info := &quic.ClientInfo{}

	if _, err := a.connContext(context.Background(), info); !errors.Is(err, errQUICNotReady) {
		t.Fatalf("before the first Runtime: %v; want %v", err, errQUICNotReady)
	}
	s.rt.Store(&Runtime{hosts: route.NewHosts(map[string]*site{})})

	var cancels []context.CancelFunc
	for i := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		cancels = append(cancels, cancel)
		if _, err := a.connContext(ctx, info); err != nil {
			t.Fatalf("connection %d of 2: %v", i+1, err)
		}
	}
	if stats.waits.Load() != 1 || stats.since.Load() == 0 {
		t.Errorf("at the cap: waits %d, since %d; want one episode in progress", stats.waits.Load(), stats.since.Load())
	}
	if _, err := a.connContext(context.Background(), info); !errors.Is(err, errQUICAtCap) {
		t.Fatalf("a 3rd connection with max_connections 2: %v; want %v", err, errQUICAtCap)
	}
	if stats.refused.Load() != 1 {
		t.Errorf("refused = %d; want 1", stats.refused.Load())
	}
	// context.AfterFunc runs in its own goroutine: wait for the release.
	cancels[0]()
	testproc.Eventually(t, 5*time.Second, "the closed connection released", func() error {
		if n := a.count(); n != 1 {
			return fmt.Errorf("%d connections counted", n)
		}
		return nil
	})
	if stats.since.Load() != 0 || stats.nanos.Load() <= 0 {
		t.Errorf("after a close below the cap: since %d, nanos %d; want the episode ended and its time counted", stats.since.Load(), stats.nanos.Load())
	}
	if _, err := a.connContext(context.Background(), info); err != nil {
		t.Errorf("a connection once one closed: %v", err)
	}
	cancels[1]()
}
