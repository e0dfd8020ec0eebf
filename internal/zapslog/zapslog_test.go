package zapslog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// TestAttrOrder: attributes come out in the order zap got them, every time
// (storage's copy ranged over a map, so its order was random; issue 19).
func TestAttrOrder(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	z := New(l, Options{NameKey: "lib"}).Named("etcd").With(zap.String("w1", "a"), zap.String("w0", "b"))
	for range 20 {
		z.Info("hello", zap.String("z", "1"), zap.Int("a", 2), zap.String("m", "3"), zap.Bool("b", true))
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 20 {
		t.Fatalf("got %d lines; want 20", len(lines))
	}
	const want = "level=INFO msg=hello w1=a w0=b z=1 a=2 m=3 b=true lib=etcd"
	for i, line := range lines {
		if _, rest, _ := strings.Cut(line, " "); rest != want {
			t.Fatalf("line %d: got %q; want %q", i, rest, want)
		}
	}
}

func TestLevels(t *testing.T) {
	demote := func(e zapcore.Entry, l slog.Level) slog.Level {
		if e.Message == "routine" {
			return slog.LevelDebug
		}
		return l
	}
	tests := []struct {
		name   string
		log    func(*zap.Logger)
		opts   Options
		min    slog.Level
		want   string
		absent bool
	}{
		{name: "warn stays warn", log: func(z *zap.Logger) { z.Warn("w") }, min: slog.LevelInfo, want: "level=WARN msg=w"},
		{name: "error stays error", log: func(z *zap.Logger) { z.Error("e") }, min: slog.LevelInfo, want: "level=ERROR msg=e"},
		{name: "debug hidden at info", log: func(z *zap.Logger) { z.Debug("d") }, min: slog.LevelInfo, absent: true},
		{name: "demoted info hidden at info", opts: Options{Level: demote}, log: func(z *zap.Logger) { z.Info("routine") }, min: slog.LevelInfo, absent: true},
		{name: "demoted info shown at debug", opts: Options{Level: demote}, log: func(z *zap.Logger) { z.Info("routine") }, min: slog.LevelDebug, want: "level=DEBUG msg=routine"},
		{name: "other info kept", opts: Options{Level: demote}, log: func(z *zap.Logger) { z.Info("other") }, min: slog.LevelInfo, want: "level=INFO msg=other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tt.min}))
			tt.log(New(l, tt.opts))
			got := buf.String()
			if tt.absent {
				if got != "" {
					t.Fatalf("got %q; want nothing", got)
				}
				return
			}
			if !strings.Contains(got, tt.want) {
				t.Fatalf("got %q; want %q", got, tt.want)
			}
		})
	}
}

func TestDebug(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	Debug(l).Error("noisy")
	if buf.Len() != 0 {
		t.Fatalf("got %q; want nothing at info", buf.String())
	}
}
