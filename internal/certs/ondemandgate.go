package certs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/tlsgate/tlsgate/internal/config"
)

// Bounds of on-demand issuance that no config key holds.
const (
	// askTimeout bounds one call to on_demand.ask; no answer in time is a
	// no. The ask service is on the handshake's path, so it must be quick.
	askTimeout = 3 * time.Second
	// maxRemembered caps the names remembered as refused (FIFO beyond it),
	// so a scanner sending random names cannot grow memory without bound.
	maxRemembered = 10000
	// maxRememberedKey is how much of a refused name is kept as its key.
	maxRememberedKey = 255
	// maxConcurrentAsks bounds the asks in flight: a scanner sending many
	// different names at once (under a DNS wildcard of yours) gets refusals
	// past it instead of a flood at the ask service.
	maxConcurrentAsks = 16
)

// errRefused marks a name on-demand issuance will not order for; the
// handshake gets unrecognized_name, as for a name no site serves.
var errRefused = errors.New("on-demand certificate refused")

// onDemandGate decides which new names get an on-demand certificate: the
// ask service must say yes, at most conf.Burst new names pass per
// conf.Interval, and names refused are remembered for conf.Interval so the
// ask service is not called again for them. One gate serves every
// tls: on_demand site; a reload with the same on_demand block keeps it.
type onDemandGate struct {
	conf   config.OnDemand // with defaults applied
	ask    *url.URL
	client *http.Client
	// askTimeout bounds one ask (askTimeout the constant; tests shorten it).
	askTimeout time.Duration
	logger     *slog.Logger
	now        func() time.Time

	// asking holds one token per ask in flight (maxConcurrentAsks).
	asking chan struct{}

	// mu guards granted and refused.
	mu sync.Mutex
	// granted holds when new names were let through in the last
	// interval, oldest first; never more than conf.Burst.
	granted []time.Time
	refused refusals
}

func newOnDemandGate(conf config.OnDemand, logger *slog.Logger, now func() time.Time) (*onDemandGate, error) {
	u, err := url.Parse(conf.Ask)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("on_demand.ask %q is not a URL", conf.Ask)
	}
	if conf.Burst <= 0 || conf.Interval <= 0 {
		return nil, errors.New("on_demand: burst and interval must be positive (the config's defaults were not applied)")
	}
	return &onDemandGate{
		conf: conf, ask: u, logger: logger, now: now, askTimeout: askTimeout,
		client: &http.Client{
			// A redirect is not a yes: only the ask URL's own 200 is.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		refused: refusals{until: make(map[string]time.Time)},
		asking:  make(chan struct{}, maxConcurrentAsks),
	}, nil
}

// decideNew is the decision for a name with no certificate in storage (or
// renewal: a name whose stored certificate is due). It returns nil to
// order, or an error wrapping errRefused that says why not. Every refusal
// is logged once per remembering window at info; repeats at debug.
func (g *onDemandGate) decideNew(ctx context.Context, name string, renewal bool) error {
	if err := g.checkRemembered(name); err != nil {
		return err
	}
	select {
	case g.asking <- struct{}{}:
	default:
		// Not remembered: the name itself may be fine.
		g.logger.Info("on-demand certificate refused", "name", name,
			"reason", fmt.Sprintf("already %d names being asked about at once", maxConcurrentAsks))
		return fmt.Errorf("%w: %s: too many names being asked about at once", errRefused, name)
	}
	err := g.askService(ctx, name)
	<-g.asking
	if err != nil {
		g.remember(name)
		g.logger.Info("on-demand certificate refused", "name", name, "reason", err.Error())
		return fmt.Errorf("%w: %s: %w", errRefused, name, err)
	}
	if renewal {
		return nil // not a new name: the burst limit is for new ones
	}
	if !g.takeSlot() {
		g.logger.Info("on-demand certificate refused", "name", name,
			"reason", fmt.Sprintf("on_demand.burst: already %d new names in the last %s; try again later", g.conf.Burst, time.Duration(g.conf.Interval)))
		return fmt.Errorf("%w: %s: more than %d new names in %s", errRefused, name, g.conf.Burst, time.Duration(g.conf.Interval))
	}
	return nil
}

// checkRemembered refuses a name ask refused within the last interval.
func (g *onDemandGate) checkRemembered(name string) error {
	if g.rememberedRefusal(name) {
		g.logger.Debug("on-demand certificate refused: ask refused this name recently", "name", name)
		return fmt.Errorf("%w: %s: refused by on_demand.ask recently", errRefused, name)
	}
	return nil
}

// refuseName logs a name refused before the ask service is called (not a
// DNS name or IP address). Such names are not remembered, so random junk
// cannot push real refusals out of the memory, and are logged at debug
// only, so a scanner cannot flood the log.
func (g *onDemandGate) refuseName(name, reason string) {
	g.logger.Debug("on-demand certificate refused", "name", truncate(name), "reason", reason)
}

// askService asks on_demand.ask about name: nil only for a 200 answer.
func (g *onDemandGate) askService(ctx context.Context, name string) error {
	u := *g.ask
	q := u.Query()
	q.Set("domain", name)
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, g.askTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("on_demand.ask %s: %w", g.askAddress(), withoutURL(err))
	}
	resp, err := g.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("on_demand.ask %s did not answer within %s", g.askAddress(), g.askTimeout)
		}
		return fmt.Errorf("on_demand.ask %s: %w", g.askAddress(), withoutURL(err))
	}
	// Drain a little so the connection is reused; the body means nothing.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("on_demand.ask answered %s", resp.Status)
	}
	return nil
}

// askAddress is the ask URL as logged: without its query or user info,
// which often carry a secret token.
func (g *onDemandGate) askAddress() string {
	u := url.URL{Scheme: g.ask.Scheme, Host: g.ask.Host, Path: g.ask.Path}
	return u.String()
}

// withoutURL strips the *url.Error the HTTP client wraps its errors in:
// its message holds the full request URL, query (token) included.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// takeSlot lets one new name through if fewer than Burst did in the last
// Interval (a sliding window: at most Burst in any Interval).
func (g *onDemandGate) takeSlot() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	cutoff := now.Add(-time.Duration(g.conf.Interval))
	for len(g.granted) > 0 && !g.granted[0].After(cutoff) {
		g.granted = g.granted[1:]
	}
	if len(g.granted) >= g.conf.Burst {
		return false
	}
	g.granted = append(g.granted, now)
	return true
}

func (g *onDemandGate) rememberedRefusal(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.refused.has(truncate(name), g.now())
}

func (g *onDemandGate) remember(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	g.refused.add(truncate(name), now, now.Add(time.Duration(g.conf.Interval)))
}

// truncate bounds a name used as a key or logged: SNI may be 64 KiB.
func truncate(name string) string {
	if len(name) > maxRememberedKey {
		return name[:maxRememberedKey]
	}
	return name
}

// refusals remembers refused names until a time, oldest first. Every entry
// lives the same interval, so insertion order is expiry order and the
// oldest is the first to go when the cap is reached.
type refusals struct {
	until map[string]time.Time
	queue []string // names in insertion order; may hold stale repeats
}

func (r *refusals) has(name string, now time.Time) bool {
	t, ok := r.until[name]
	return ok && now.Before(t)
}

func (r *refusals) add(name string, now, until time.Time) {
	r.expire(now)
	for len(r.until) >= maxRemembered && len(r.queue) > 0 {
		r.pop()
	}
	if _, ok := r.until[name]; !ok {
		r.queue = append(r.queue, name)
	}
	r.until[name] = until
}

// expire drops the entries whose time has passed.
func (r *refusals) expire(now time.Time) {
	for len(r.queue) > 0 {
		t, ok := r.until[r.queue[0]]
		if ok && now.Before(t) {
			return
		}
		r.pop()
	}
}

func (r *refusals) pop() {
	delete(r.until, r.queue[0])
	r.queue[0] = ""
	r.queue = r.queue[1:]
	if cap(r.queue) > 2*maxRemembered && len(r.queue) < cap(r.queue)/4 {
		r.queue = append([]string(nil), r.queue...) // let the old array go
	}
}
