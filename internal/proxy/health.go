package proxy

import (
	"crypto/rand"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Health is the health of every upstream of every route, keyed by route
// name and upstream address. The server owns one and hands it to every
// Runtime it compiles, so a reload that keeps an upstream keeps its state
// (no flap, no fresh start for a backend that is down); Retain forgets the
// upstreams a reload removed.
//
// Health is a prometheus.Collector of tlsgate_upstream_healthy{route,upstream}.
// It is safe for concurrent use.
type Health struct {
	log      *slog.Logger
	onChange func(Change)
	now      func() time.Time
	desc     *prometheus.Desc
	requests *prometheus.CounterVec
	// key signs lb: cookie values; made per process, so cookies outlive
	// reloads but not restarts (a client then gets a new upstream once).
	key []byte

	// mu guards states.
	mu     sync.Mutex
	states map[healthKey]*upstreamState
}

// HealthOptions configure a Health.
type HealthOptions struct {
	// Logger receives state changes, once each. Nil discards.
	Logger *slog.Logger
	// OnChange, when set, is called (outside any lock) each time an
	// upstream leaves or returns to rotation, e.g. to emit the
	// upstream_down and upstream_up events. It must not block.
	OnChange func(Change)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Change is an upstream leaving (Up false) or returning to rotation.
type Change struct {
	Route    string
	Upstream string
	Up       bool
	// Reason says why in plain words ("health check: status 500").
	Reason string
}

type healthKey struct{ route, upstream string }

// NewHealth returns an empty Health.
func NewHealth(opts HealthOptions) *Health {
	h := &Health{
		log:      opts.Logger,
		onChange: opts.OnChange,
		now:      opts.Now,
		states:   make(map[healthKey]*upstreamState),
		key:      make([]byte, 32),
		desc: prometheus.NewDesc("tlsgate_upstream_healthy",
			"1 when the upstream is in rotation, 0 when health checks or failed requests took it out.",
			[]string{"route", "upstream"}, nil),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tlsgate_upstream_requests_total",
			Help: "Attempts sent to an upstream, by outcome: ok (an answer below 500), 5xx, connect_error, reset (broken before a whole answer), timeout (no response headers in time), canceled (the client went away).",
		}, []string{"route", "upstream", "outcome"}),
	}
	rand.Read(h.key) // never fails (crypto/rand since Go 1.24)
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	return h
}

// state returns the state of upstream on route, making it (healthy) on
// first use.
func (h *Health) state(route, upstream string) *upstreamState {
	k := healthKey{route, upstream}
	h.mu.Lock()
	defer h.mu.Unlock()
	if s, ok := h.states[k]; ok {
		return s
	}
	s := &upstreamState{h: h, route: route, upstream: upstream}
	for i, name := range outcomeNames {
		s.requests[i] = h.requests.WithLabelValues(route, upstream, name)
	}
	h.states[k] = s
	return s
}

// Retain forgets every upstream not in keep (route name → upstream
// addresses), so a reload that drops an upstream drops its state and its
// metric series.
func (h *Health) Retain(keep map[string][]string) {
	want := make(map[healthKey]bool)
	for route, ups := range keep {
		for _, u := range ups {
			want[healthKey{route, u}] = true
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for k := range h.states {
		if !want[k] {
			delete(h.states, k)
			for _, name := range outcomeNames {
				h.requests.DeleteLabelValues(k.route, k.upstream, name)
			}
		}
	}
}

// UpstreamHealth is one upstream's state, as the admin API reports it.
type UpstreamHealth struct {
	Route    string `json:"route"`
	Upstream string `json:"upstream"`
	Healthy  bool   `json:"healthy"`
	// Checkers is how many health check goroutines probe it: 1 with a
	// health_check, 0 without (more only for a moment during a reload).
	Checkers int `json:"checkers"`
}

// List returns every known upstream's state, sorted by route and upstream.
func (h *Health) List() []UpstreamHealth {
	h.mu.Lock()
	out := make([]UpstreamHealth, 0, len(h.states))
	now := h.now().UnixNano()
	for k, s := range h.states {
		out = append(out, UpstreamHealth{Route: k.route, Upstream: k.upstream, Healthy: s.healthy(now), Checkers: int(s.checkers.Load())})
	}
	h.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Route != out[j].Route {
			return out[i].Route < out[j].Route
		}
		return out[i].Upstream < out[j].Upstream
	})
	return out
}

// Describe implements prometheus.Collector.
func (h *Health) Describe(ch chan<- *prometheus.Desc) {
	ch <- h.desc
	h.requests.Describe(ch)
}

// Collect implements prometheus.Collector.
func (h *Health) Collect(ch chan<- prometheus.Metric) {
	h.requests.Collect(ch)
	for _, u := range h.List() {
		v := 0.0
		if u.Healthy {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(h.desc, prometheus.GaugeValue, v, u.Route, u.Upstream)
	}
}

func (h *Health) changed(c Change) {
	if c.Up {
		h.log.Info("upstream back in rotation", "route", c.Route, "upstream", c.Upstream, "reason", c.Reason)
	} else {
		h.log.Warn("upstream out of rotation", "route", c.Route, "upstream", c.Upstream, "reason", c.Reason)
	}
	if h.onChange != nil {
		h.onChange(c)
	}
}

// upstreamState is what Health keeps for one upstream of one route: the
// active check's verdict and counters, and the passive failure window.
type upstreamState struct {
	h               *Health
	route, upstream string

	// activeDown is set while health checks fail.
	activeDown atomic.Bool
	// passiveUntil is when a passive cooldown ends (unix nanoseconds;
	// 0 = not cooling down).
	passiveUntil atomic.Int64
	// out is the state last reported through Health.changed: true while
	// out of rotation.
	out atomic.Bool
	// requests counts attempts by outcome (tlsgate_upstream_requests_total).
	requests [nOutcomes]prometheus.Counter
	// checkers counts the goroutines checking it (checkLoop).
	checkers atomic.Int32

	// mu guards the check counters and the failure window.
	mu        sync.Mutex
	passes    int     // checks passed in a row
	fails     int     // checks failed in a row
	failTimes []int64 // unix nanoseconds of recent failed requests, oldest first
}

// healthy reports whether the upstream is in rotation at now.
func (s *upstreamState) healthy(now int64) bool {
	return !s.activeDown.Load() && s.passiveUntil.Load() <= now
}

// checked records one health check result and flips the active verdict
// after enough in a row.
func (s *upstreamState) checked(ok bool, reason string, unhealthyAfter, healthyAfter int) {
	s.mu.Lock()
	if ok {
		s.passes, s.fails = s.passes+1, 0
		if s.passes >= healthyAfter {
			s.activeDown.Store(false)
		}
	} else {
		s.fails, s.passes = s.fails+1, 0
		if s.fails >= unhealthyAfter {
			s.activeDown.Store(true)
		}
	}
	s.mu.Unlock()
	s.reconcile("health check: " + reason)
}

// uncheck drops the active verdict and counters: the route no longer has
// a health check.
func (s *upstreamState) uncheck() {
	s.mu.Lock()
	s.passes, s.fails = 0, 0
	s.mu.Unlock()
	if s.activeDown.Swap(false) {
		s.reconcile("health check removed")
	}
}

// Passive is the passive health policy of a route: FailAfter failed
// requests within Window take an upstream out of rotation for Cooldown.
// The zero value (FailAfter 0) turns it off.
type Passive struct {
	FailAfter int
	Window    time.Duration
	Cooldown  time.Duration
}

// failed records a failed request under policy p and starts a cooldown
// when there were p.FailAfter within p.Window.
func (s *upstreamState) failed(p Passive, reason string) {
	if p.FailAfter <= 0 {
		return
	}
	now := s.h.now().UnixNano()
	s.mu.Lock()
	s.failTimes = append(s.failTimes, now)
	if len(s.failTimes) > p.FailAfter {
		s.failTimes = s.failTimes[len(s.failTimes)-p.FailAfter:]
	}
	trip := len(s.failTimes) == p.FailAfter && now-s.failTimes[0] <= int64(p.Window)
	if trip {
		s.failTimes = s.failTimes[:0]
		s.passiveUntil.Store(now + int64(p.Cooldown))
	}
	s.mu.Unlock()
	if trip {
		s.reconcile(reason)
	}
}

// succeeded records an answer that did not count as a failure: after a
// passive cooldown, the first one says the upstream is back.
func (s *upstreamState) succeeded() {
	if s.passiveUntil.Load() == 0 && !s.out.Load() {
		return // the hot path: nothing to record
	}
	if until := s.passiveUntil.Load(); until != 0 && until <= s.h.now().UnixNano() {
		s.passiveUntil.CompareAndSwap(until, 0)
	}
	s.reconcile("answered after its cooldown")
}

// reconcile reports a change of rotation (active and passive verdicts
// together) once: a passive cooldown during failing checks, or checks
// passing during a cooldown, changes nothing a user sees.
func (s *upstreamState) reconcile(reason string) {
	out := !s.healthy(s.h.now().UnixNano())
	if s.out.CompareAndSwap(!out, out) {
		s.h.changed(Change{Route: s.route, Upstream: s.upstream, Up: !out, Reason: reason})
	}
}

// Outcomes of one attempt: the outcome label of
// tlsgate_upstream_requests_total.
const (
	outcomeOK       = iota // an answer below 500
	outcome5xx             // a 5xx answer
	outcomeConnect         // the connection could not be made
	outcomeReset           // the connection broke before a whole answer
	outcomeTimeout         // no response headers within the route's timeout
	outcomeCanceled        // the client went away first
	nOutcomes
)

var outcomeNames = [nOutcomes]string{"ok", "5xx", "connect_error", "reset", "timeout", "canceled"}

func (s *upstreamState) count(outcome int) { s.requests[outcome].Inc() }

func (s *upstreamState) countStatus(code int) {
	if code >= 500 {
		s.count(outcome5xx)
	} else {
		s.count(outcomeOK)
	}
}
