package events

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func testLogger(t *testing.T) *slog.Logger { return slog.New(slog.NewTextHandler(t.Output(), nil)) }

// eventually polls cond until it holds or a few seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRecentIsBoundedNewestFirst(t *testing.T) {
	b := NewBus(Options{Recent: 3})
	defer b.Close(context.Background())
	for i := range 5 {
		b.Emit(Event{Event: CertObtained, Name: fmt.Sprint(i)})
	}
	got := b.Recent()
	if len(got) != 3 || got[0].Name != "4" || got[2].Name != "2" {
		t.Fatalf("got %+v; want names 4, 3, 2", got)
	}
	if got[0].Time.IsZero() {
		t.Error("an event without a time was not stamped")
	}
}

// blockingSink holds every delivery until release is closed.
type blockingSink struct {
	release chan struct{}
	entered atomic.Int64
	got     atomic.Int64
}

func (s *blockingSink) Kind() string { return "block" }
func (s *blockingSink) Deliver(ctx context.Context, _ Event, _ []byte) error {
	s.entered.Add(1)
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.got.Add(1)
	return nil
}

// A sink that never finishes must not make Emit wait: the queue fills,
// further events are dropped and counted.
func TestEmitNeverBlocksOnASink(t *testing.T) {
	b := NewBus(Options{Queue: 2, Logger: testLogger(t)})
	s := &blockingSink{release: make(chan struct{})}
	b.SetSinks([]Sink{s})
	start := time.Now()
	b.Emit(Event{Event: CertFailed, Name: "a.test"})
	eventually(t, "the first delivery to start", func() bool { return s.entered.Load() == 1 })
	for range 9 {
		b.Emit(Event{Event: CertFailed, Name: "a.test"})
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("10 emits took %s with a stuck sink", d)
	}
	// One in delivery, two queued, the rest dropped.
	eventually(t, "drops counted", func() bool {
		return testutil.ToFloat64(b.outcomes.WithLabelValues("block", "dropped")) == 7
	})
	close(s.release)
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.got.Load(); got != 3 {
		t.Errorf("delivered %d; want the 3 that were queued", got)
	}
}

func TestCloseGivesUpOnAStuckSink(t *testing.T) {
	b := NewBus(Options{})
	b.SetSinks([]Sink{&blockingSink{release: make(chan struct{})}})
	b.Emit(Event{Event: CertFailed})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := b.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v; want the deadline", err)
	}
}

func TestWebhook(t *testing.T) {
	tests := []struct {
		name string
		// answers are the statuses of successive attempts; 0 hangs.
		answers  []int
		wantErr  bool
		wantHits int
	}{
		{"ok", []int{200}, false, 1},
		{"500 then ok is retried", []int{500, 500, 204}, false, 3},
		{"hang then ok is retried", []int{0, 200}, false, 2},
		// 400 says the body is wrong; sending it again would not help.
		{"400 is final", []int{400, 200}, true, 1},
		{"gives up after attempts", []int{503, 503, 503, 503}, true, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var bodies []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				mu.Lock()
				n := len(bodies)
				bodies = append(bodies, string(body)+" "+r.Header.Get("Authorization"))
				mu.Unlock()
				code := tc.answers[min(n, len(tc.answers)-1)]
				if code == 0 {
					<-r.Context().Done()
					return
				}
				w.WriteHeader(code)
			}))
			defer srv.Close()
			w := &Webhook{URL: srv.URL, Headers: map[string]string{"Authorization": "Bearer x"},
				Timeout: 200 * time.Millisecond, Attempts: 3, Backoff: 10 * time.Millisecond}
			e := Event{Event: CertFailed, Name: "a.test"}
			err := w.Deliver(context.Background(), e, []byte(`{"event":"cert_failed"}`))
			if (err != nil) != tc.wantErr {
				t.Fatalf("Deliver = %v; want error %v", err, tc.wantErr)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(bodies) != tc.wantHits {
				t.Fatalf("receiver got %d requests; want %d", len(bodies), tc.wantHits)
			}
			if bodies[0] != `{"event":"cert_failed"} Bearer x` {
				t.Errorf("receiver got %q", bodies[0])
			}
		})
	}
}

func TestExecGetsJSONOnStdin(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "got")
	script := filepath.Join(dir, "hook.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n{ echo \"$1 $2\"; cat; } > "+out+"\necho hello from hook\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	x := &Exec{Command: script, Logger: testLogger(t)}
	if err := x.Deliver(context.Background(), Event{Event: CertExpiring, Name: "a.test"}, []byte(`{"x":1}`)); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if string(got) != "cert_expiring a.test\n{\"x\":1}" {
		t.Errorf("hook got %q", got)
	}
}

func TestExecTimeout(t *testing.T) {
	x := &Exec{Command: "sleep", Timeout: 100 * time.Millisecond}
	// sleep cert_failed NAME fails at once on its arguments; use a
	// script that sleeps instead.
	dir := t.TempDir()
	x.Command = filepath.Join(dir, "slow.sh")
	if err := os.WriteFile(x.Command, []byte("#!/bin/sh\nexec sleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := x.Deliver(context.Background(), Event{Event: CertFailed, Name: "a"}, nil)
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("Deliver = %v after %s; want a timeout error soon", err, time.Since(start))
	}
}

func TestWebhookSlack(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- string(b)
	}))
	defer srv.Close()
	w := &Webhook{URL: srv.URL, Slack: true}
	e := Event{Event: CertFailed, Name: "a.test", Detail: map[string]any{"renewal": true, "error": "CA down", "next_attempt": "2026-01-02T03:04:05Z"}}
	if err := w.Deliver(context.Background(), e, []byte(`{"event":"cert_failed"}`)); err != nil {
		t.Fatal(err)
	}
	want := `{"text":"tlsgate: could not renew the certificate for a.test: CA down (next attempt 2026-01-02T03:04:05Z)"}`
	if b := <-got; b != want {
		t.Errorf("body %s; want %s", b, want)
	}
}

func TestSummary(t *testing.T) {
	tests := []struct {
		e    Event
		want string
	}{
		{Event{Event: CertExpiring, Name: "a.test", Detail: map[string]any{"days_left": 2, "not_after": "2026-01-02T00:00:00Z"}},
			"tlsgate: the certificate for a.test expires in 2 days (2026-01-02T00:00:00Z)"},
		{Event{Event: UpstreamDown, Name: "http://10.0.0.1:80", Detail: map[string]any{"route": "/api", "reason": "connection refused"}},
			"tlsgate: upstream http://10.0.0.1:80 of route /api is down: connection refused"},
		{Event{Event: CertObtained, Name: "a.test"}, "tlsgate: obtained a certificate for a.test"},
	}
	for _, tc := range tests {
		if got := Summary(tc.e); got != tc.want {
			t.Errorf("Summary(%s) = %q; want %q", tc.e.Event, got, tc.want)
		}
	}
}

// Webhook URLs carry secrets (Slack's token is in the path): errors, which
// are logged, name only the scheme and host.
func TestWebhookErrorsHideTheURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	for _, u := range []string{srv.URL + "/services/T0/B0/s3cret", deadURL(t) + "/services/T0/B0/s3cret"} {
		w := &Webhook{URL: u, Attempts: 1}
		err := w.Deliver(context.Background(), Event{}, []byte("{}"))
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Deliver to %s: %v; want an error without the path", u, err)
		}
	}
}

// deadURL is an http URL where nothing listens.
func deadURL(t *testing.T) string {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	return u
}

// TestWebhookZeroAttemptsIsOnce: events has no default of its own for what
// config's alerts.webhook.attempts fills; zero sends once, no retry.
func TestWebhookZeroAttemptsIsOnce(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	w := &Webhook{URL: srv.URL, Backoff: time.Millisecond}
	if err := w.Deliver(context.Background(), Event{Event: CertFailed, Name: "a.test"}, []byte(`{}`)); err == nil {
		t.Fatal("a 503 answer was taken as delivered")
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("receiver got %d requests; want 1", n)
	}
}
