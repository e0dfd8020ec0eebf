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
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
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

// newDebugZap returns a zap logger that writes every entry to l at debug
// level: the etcd client's own messages are for debugging only.
func newDebugZap(l *slog.Logger) *zap.Logger {
	return zap.New(&debugCore{logger: l})
}

type debugCore struct {
	logger *slog.Logger
	attrs  []slog.Attr
}

func (c *debugCore) Enabled(zapcore.Level) bool {
	return c.logger.Enabled(context.Background(), slog.LevelDebug)
}

func (c *debugCore) With(fields []zapcore.Field) zapcore.Core {
	return &debugCore{logger: c.logger, attrs: append(append([]slog.Attr(nil), c.attrs...), zapAttrs(fields)...)}
}

func (c *debugCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *debugCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	attrs := append(append([]slog.Attr(nil), c.attrs...), zapAttrs(fields)...)
	c.logger.LogAttrs(context.Background(), slog.LevelDebug, e.Message, attrs...)
	return nil
}

func (c *debugCore) Sync() error { return nil }

func zapAttrs(fields []zapcore.Field) []slog.Attr {
	if len(fields) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	attrs := make([]slog.Attr, 0, len(enc.Fields))
	for k, v := range enc.Fields {
		attrs = append(attrs, slog.Any(k, v))
	}
	return attrs
}
