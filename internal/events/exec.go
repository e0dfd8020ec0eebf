package events

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"time"
)

// Exec runs Command EVENT NAME for each event, with the event's JSON on
// stdin. It is not retried: a command may have done part of its work before
// it failed. Its output (stdout and stderr, up to 16 KiB) is logged.
type Exec struct {
	// Command is the program to run (an absolute path after config Load).
	Command string
	// Timeout bounds one run; then the command is killed. Zero means only
	// the caller's context does. Config: alerts.exec.timeout (its default
	// is config's).
	Timeout time.Duration
	// Logger receives the command's output. Nil discards.
	Logger *slog.Logger
}

// Kind is "exec".
func (x *Exec) Kind() string { return "exec" }

// maxOutput bounds how much of a command's output is kept for the log.
const maxOutput = 16 << 10

// Deliver runs the command once.
func (x *Exec) Deliver(ctx context.Context, e Event, body []byte) error {
	if x.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, x.Timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, x.Command, e.Event, e.Name)
	cmd.Stdin = bytes.NewReader(body)
	out := &limitedBuffer{max: maxOutput}
	cmd.Stdout, cmd.Stderr = out, out
	// A child the command left behind may hold the output pipe open: stop
	// waiting for it shortly after the command itself ends.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	logger := x.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if s := strings.TrimSpace(out.String()); s != "" {
		logger.Info("alert command output", "command", x.Command, "event", e.Event, "name", e.Name, "output", s)
	}
	if x.Timeout > 0 && ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("%s: killed after %s", x.Command, x.Timeout)
	}
	if err != nil {
		return fmt.Errorf("%s %s %s: %w", x.Command, e.Event, e.Name, err)
	}
	return nil
}

// limitedBuffer keeps the first max bytes written and discards the rest,
// so a chatty command cannot grow memory.
type limitedBuffer struct {
	buf bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return l.buf.String() }
