package storage

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// health remembers whether etcd answers, so that losing it and getting it
// back are each logged once, however many requests fail in between.
// Certificates already in CertMagic's memory keep being served meanwhile.
type health struct {
	logger    *slog.Logger
	endpoints []string

	// mu guards down.
	mu   sync.Mutex
	down bool
}

// observe records the outcome of one request. Errors that say nothing about
// reachability (a key not found, a failed compare) count as answers.
func (h *health) observe(err error) {
	unreachable := err != nil && isUnreachable(err)
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case unreachable && !h.down:
		h.down = true
		h.logger.Warn("etcd unreachable: serving cached certificates; storage operations fail until it is back",
			"endpoints", strings.Join(h.endpoints, ","), "error", err)
	case !unreachable && h.down:
		h.down = false
		h.logger.Info("etcd reachable again", "endpoints", strings.Join(h.endpoints, ","))
	}
}

// isUnreachable tells errors of an unreachable or leaderless cluster.
func isUnreachable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, rpctypes.ErrNoLeader) ||
		errors.Is(err, rpctypes.ErrTimeout) || errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail) {
		return true
	}
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.Unavailable, codes.DeadlineExceeded:
			return true
		}
	}
	return false
}

// probe asks etcd for one key count every HealthInterval until Close.
func (e *Etcd) probe() {
	defer close(e.done)
	tick := time.NewTicker(e.opts.HealthInterval)
	defer tick.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), min(e.opts.RequestTimeout, e.opts.HealthInterval))
		_, err := e.client.Get(ctx, e.prefix+"health", clientv3.WithCountOnly())
		cancel()
		select {
		case <-e.stop:
			return // the client is closing: not an outage
		default:
		}
		e.health.observe(err)
	}
}
