package events

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Sink delivers events somewhere outside the process. Each sink gets its
// own goroutine and bounded queue from the Bus, so Deliver may take its
// time (retries included): it holds up only the events queued behind it on
// the same sink. Deliver must return when ctx is done.
type Sink interface {
	// Kind names the sink in logs and metrics ("webhook", "exec").
	Kind() string
	// Deliver sends one event; body is e encoded as JSON.
	Deliver(ctx context.Context, e Event, body []byte) error
}

// Options configure a Bus. The zero value of each field has the meaning its
// comment gives.
type Options struct {
	// Logger receives delivery failures. Nil discards.
	Logger *slog.Logger
	// Now stamps events emitted without a time; nil means time.Now.
	Now func() time.Time
	// Recent is how many events GET /events keeps; zero means 200.
	Recent int
	// Queue is how many events wait per sink before new ones are
	// dropped (and counted); zero means 256.
	Queue int
}

// Bus keeps the recent events and fans each one out to the sinks. It is
// safe for concurrent use; Emit never blocks on a sink. Call Close when done.
type Bus struct {
	opts   Options
	logger *slog.Logger
	// ctx ends deliveries still running when Close gives up waiting.
	ctx    context.Context
	cancel context.CancelFunc
	// outcomes counts deliveries by sink and result (sent, failed, dropped).
	outcomes *prometheus.CounterVec

	// mu guards ring, next, count, workers and closed; held only to copy
	// or enqueue, never across a delivery.
	mu      sync.Mutex
	ring    []Event
	next    int // where the next event goes in ring
	count   int // events in ring
	workers []*worker
	closed  bool

	// running counts the worker goroutines, retired ones included.
	running sync.WaitGroup
}

// NewBus returns a Bus with no sinks.
func NewBus(opts Options) *Bus {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Recent <= 0 {
		opts.Recent = 200
	}
	if opts.Queue <= 0 {
		opts.Queue = 256
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b := &Bus{
		opts:   opts,
		logger: logger,
		ring:   make([]Event, opts.Recent),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tlsgate_alerts_total",
			Help: "Alert deliveries by sink and result: sent, failed (after retries), dropped (the sink's queue was full).",
		}, []string{"sink", "result"}),
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	return b
}

// Collectors are the Bus's metrics, for the admin API's /metrics.
func (b *Bus) Collectors() []prometheus.Collector { return []prometheus.Collector{b.outcomes} }

// Emit records e and queues it for every sink. A sink whose queue is full
// loses e (counted as dropped): alerts must never slow serving or renewal.
func (b *Bus) Emit(e Event) {
	if e.Time.IsZero() {
		e.Time = b.opts.Now()
	}
	body, err := json.Marshal(e)
	if err != nil {
		// A Detail value that does not encode is a programming error;
		// keep the event without its detail rather than lose it.
		b.logger.Error("event detail does not encode as JSON", "event", e.Event, "error", err)
		e.Detail = map[string]any{"error": "detail not encodable"}
		body, _ = json.Marshal(e)
	}
	b.logger.Debug("event", "event", e.Event, "name", e.Name)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ring[b.next] = e
	b.next = (b.next + 1) % len(b.ring)
	b.count = min(b.count+1, len(b.ring))
	for _, w := range b.workers {
		select {
		case w.queue <- queued{e, body}:
		default:
			b.outcomes.WithLabelValues(w.sink.Kind(), "dropped").Inc()
			b.logger.Warn("alert dropped: the sink's queue is full", "sink", w.sink.Kind(), "event", e.Event, "name", e.Name)
		}
	}
}

// Recent returns the events kept, newest first.
func (b *Bus) Recent() []Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Event, 0, b.count)
	for i := 1; i <= b.count; i++ {
		out = append(out, b.ring[(b.next-i+len(b.ring))%len(b.ring)])
	}
	return out
}

// SetSinks replaces the sinks. Events already queued for the old sinks are
// still delivered by them, in the background; new events go to the new ones.
func (b *Bus) SetSinks(sinks []Sink) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	for _, w := range b.workers {
		close(w.queue)
	}
	b.workers = b.workers[:0:0]
	for _, s := range sinks {
		w := &worker{sink: s, queue: make(chan queued, b.opts.Queue)}
		b.workers = append(b.workers, w)
		b.running.Go(func() { b.deliverLoop(w) })
	}
}

// Close stops taking events for sinks and waits until the queued ones are
// delivered or ctx is done; then deliveries still running are cancelled.
func (b *Bus) Close(ctx context.Context) error {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		for _, w := range b.workers {
			close(w.queue)
		}
		b.workers = nil
	}
	b.mu.Unlock()
	done := make(chan struct{})
	go func() { b.running.Wait(); close(done) }()
	select {
	case <-done:
		b.cancel()
		return nil
	case <-ctx.Done():
		b.cancel()
		<-done
		return ctx.Err()
	}
}

type worker struct {
	sink  Sink
	queue chan queued // closed when the sink is retired
}

type queued struct {
	e    Event
	body []byte
}

// deliverLoop is a sink's goroutine: it delivers its queue in order until
// the queue is closed and empty.
func (b *Bus) deliverLoop(w *worker) {
	kind := w.sink.Kind()
	for q := range w.queue {
		if err := w.sink.Deliver(b.ctx, q.e, q.body); err != nil {
			b.outcomes.WithLabelValues(kind, "failed").Inc()
			b.logger.Warn("could not deliver an alert", "sink", kind, "event", q.e.Event, "name", q.e.Name, "error", err)
			continue
		}
		b.outcomes.WithLabelValues(kind, "sent").Inc()
	}
}
