package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/tlsgate/tlsgate/internal/config"
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
	url := up.scheme + "://" + up.host + up.baseRaw + c.hc.Path
	if c.hc.Path == config.GRPCHealthPath {
		return grpcCheck(ctx, up.rt, url)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
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

// grpcCheck calls grpc.health.v1.Health/Check with an empty request (the
// whole server) over rt, which must speak HTTP/2 (h2c:// or https://).
// The wire format is small enough to write by hand: a 5-byte frame header
// before each message, and the answer's one field, status (1 = SERVING).
func grpcCheck(ctx context.Context, rt http.RoundTripper, url string) (ok bool, reason string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader([]byte{0, 0, 0, 0, 0}))
	if err != nil {
		return false, "bad check URL: " + err.Error()
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	req.Header.Set("User-Agent", "tlsgate-health-check")
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return false, "gRPC health check: " + err.Error()
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCheckBody))
	resp.Body.Close()
	if err != nil {
		return false, "gRPC health check: " + err.Error()
	}
	code := resp.Trailer.Get("Grpc-Status")
	if code == "" {
		code = resp.Header.Get("Grpc-Status") // a trailers-only answer
	}
	switch {
	case resp.StatusCode != http.StatusOK:
		return false, "gRPC health check: HTTP status " + strconv.Itoa(resp.StatusCode)
	case code != "0":
		return false, "gRPC health check: grpc-status " + code
	}
	// One message: flag, 4-byte length, then field 1 (varint) = status.
	if len(body) >= 7 && body[5] == 0x08 && body[6] == 1 {
		return true, "gRPC health check: SERVING"
	}
	return false, "gRPC health check: not SERVING"
}
