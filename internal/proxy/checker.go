package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// HealthCheck is a route's active health check: GET Path on every
// upstream each Interval; an answer with ExpectStatus within Timeout
// passes. UnhealthyAfter failures in a row take the upstream out of
// rotation, HealthyAfter passes in a row bring it back.
type HealthCheck struct {
	Path           string
	Interval       time.Duration
	Timeout        time.Duration
	ExpectStatus   int
	UnhealthyAfter int
	HealthyAfter   int
}

// maxCheckBody is how much of a health check answer is read (so the
// connection can be reused) before it is closed instead.
const maxCheckBody = 64 << 10

// checkers runs a route's health checks: one goroutine per upstream,
// between Start and Stop. The zero value (no check configured) does
// nothing.
type checkers struct {
	hc   *HealthCheck // nil = no active checks
	ups  []*upstream
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// start launches one checker goroutine per upstream; stop ends them.
func (c *checkers) start() {
	if c.hc == nil {
		// A reload that removed the health check: nothing would ever
		// bring back an upstream its last checks took out.
		for _, up := range c.ups {
			up.state.uncheck()
		}
		return
	}
	if c.stop != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.stop = cancel
	for _, up := range c.ups {
		c.wg.Go(func() { c.checkLoop(ctx, up) })
	}
}

// halt cancels the checker goroutines and waits for them to return.
func (c *checkers) halt() {
	if c.stop == nil {
		return
	}
	c.stop()
	c.wg.Wait()
	c.stop = nil
}

// checkLoop checks up at once, then every interval, until ctx is done.
func (c *checkers) checkLoop(ctx context.Context, up *upstream) {
	up.state.checkers.Add(1)
	defer up.state.checkers.Add(-1)
	t := time.NewTicker(c.hc.Interval)
	defer t.Stop()
	for {
		ok, reason := c.checkOnce(ctx, up)
		if ctx.Err() != nil {
			return
		}
		up.state.checked(ok, reason, c.hc.UnhealthyAfter, c.hc.HealthyAfter)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkOnce sends one health check request to up.
func (c *checkers) checkOnce(ctx context.Context, up *upstream) (ok bool, reason string) {
	ctx, cancel := context.WithTimeout(ctx, c.hc.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, up.scheme+"://"+up.host+up.baseRaw+c.hc.Path, nil)
	if err != nil {
		return false, "bad check URL: " + err.Error()
	}
	req.Header.Set("User-Agent", "tlsgate-health-check")
	resp, err := up.rt.RoundTrip(req)
	if err != nil {
		return false, fmt.Sprintf("GET %s: %v", c.hc.Path, err)
	}
	_, _ = io.CopyN(io.Discard, resp.Body, maxCheckBody)
	resp.Body.Close()
	if resp.StatusCode != c.hc.ExpectStatus {
		return false, "GET " + c.hc.Path + ": status " + strconv.Itoa(resp.StatusCode) + ", want " + strconv.Itoa(c.hc.ExpectStatus)
	}
	return true, "GET " + c.hc.Path + ": status " + strconv.Itoa(resp.StatusCode)
}
