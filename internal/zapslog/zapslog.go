// Package zapslog forwards the entries of a zap logger (the logging library
// of CertMagic and of the etcd client) to one *slog.Logger, so every log line
// comes out of the one handler the user chose.
package zapslog

import (
	"context"
	"log/slog"
	"sort"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Options says how zap entries become slog records. The zero value maps
// zap's levels to slog's and adds nothing.
type Options struct {
	// Level, if set, picks the slog level of an entry; it gets the entry
	// and the level that zap's own level maps to. If nil, that level is used.
	Level func(e zapcore.Entry, l slog.Level) slog.Level

	// NameKey, if set, is the attribute that carries the zap logger's name
	// (for example "certmagic"). If empty, the name is dropped.
	NameKey string
}

// New returns a zap logger that writes through to l.
func New(l *slog.Logger, opts Options) *zap.Logger {
	return zap.New(&core{logger: l, opts: opts})
}

// Debug returns a zap logger that writes every entry to l at debug level,
// for libraries whose own messages are for debugging only.
func Debug(l *slog.Logger) *zap.Logger {
	return New(l, Options{Level: func(zapcore.Entry, slog.Level) slog.Level { return slog.LevelDebug }})
}

// core is a zapcore.Core that forwards entries to a slog.Logger.
type core struct {
	logger *slog.Logger
	opts   Options
	attrs  []slog.Attr
}

// Enabled asks about an entry with no message yet: Check asks again once the
// message (which Options.Level may look at) is known.
func (c *core) Enabled(level zapcore.Level) bool {
	return c.logger.Enabled(context.Background(), c.level(zapcore.Entry{Level: level}))
}

func (c *core) With(fields []zapcore.Field) zapcore.Core {
	return &core{logger: c.logger, opts: c.opts, attrs: append(append([]slog.Attr(nil), c.attrs...), Attrs(fields)...)}
}

func (c *core) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.logger.Enabled(context.Background(), c.level(e)) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *core) Write(e zapcore.Entry, fields []zapcore.Field) error {
	attrs := append(append([]slog.Attr(nil), c.attrs...), Attrs(fields)...)
	if c.opts.NameKey != "" && e.LoggerName != "" {
		attrs = append(attrs, slog.String(c.opts.NameKey, e.LoggerName))
	}
	c.logger.LogAttrs(context.Background(), c.level(e), e.Message, attrs...)
	return nil
}

func (c *core) Sync() error { return nil }

func (c *core) level(e zapcore.Entry) slog.Level {
	l := Level(e.Level)
	if c.opts.Level != nil {
		l = c.opts.Level(e, l)
	}
	return l
}

// Level maps a zap level to the slog level of the same meaning.
func Level(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

// Attrs turns zap fields into slog attributes in the order zap got them
// (one encoder per field; a field that adds several keys, such as an inline
// object, adds them sorted), so log lines are the same from run to run.
func Attrs(fields []zapcore.Field) []slog.Attr {
	if len(fields) == 0 {
		return nil
	}
	attrs := make([]slog.Attr, 0, len(fields))
	for _, f := range fields {
		enc := zapcore.NewMapObjectEncoder()
		f.AddTo(enc)
		keys := make([]string, 0, len(enc.Fields))
		for k := range enc.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			attrs = append(attrs, slog.Any(k, enc.Fields[k]))
		}
	}
	return attrs
}
