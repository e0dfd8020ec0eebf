package dns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/libdns/libdns"
)

// Exec writes TXT records by running a user program:
//
//	COMMAND present FQDN VALUE
//	COMMAND cleanup FQDN VALUE
//
// FQDN is the record's full name with a trailing dot
// (_acme-challenge.example.com.), VALUE the TXT text. Exit status 0 means
// done; anything else is an error carrying the end of the program's stderr.
// It is safe for concurrent use: the program may run several times at once.
type Exec struct {
	// Command is the program to run (a path, or a name looked up in PATH);
	// it is not split on spaces.
	Command string
	// Timeout bounds one run. Zero means one minute.
	Timeout time.Duration
}

var (
	_ libdns.RecordAppender = (*Exec)(nil)
	_ libdns.RecordDeleter  = (*Exec)(nil)
)

// stderrLimit is how much of a failed program's stderr goes into the error.
const stderrLimit = 2048

// AppendRecords runs `Command present FQDN VALUE` for each record.
func (p *Exec) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	return recs, eachRecord(ctx, "exec", actionPresent, zone, recs, p.run)
}

// DeleteRecords runs `Command cleanup FQDN VALUE` for each record.
func (p *Exec) DeleteRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	return recs, eachRecord(ctx, "exec", actionCleanup, zone, recs, p.run)
}

func (p *Exec) run(ctx context.Context, action, fqdn, value string) error {
	timeout := p.Timeout
	if timeout == 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.Command, action, fqdn, value)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = time.Second // a child that keeps stderr open must not hang us
	err := cmd.Run()
	if err == nil {
		return nil
	}
	msg := strings.TrimSpace(stderr.String())
	if len(msg) > stderrLimit {
		msg = "..." + msg[len(msg)-stderrLimit:]
	}
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		err = fmt.Errorf("%s did not finish within %s", p.Command, timeout)
	case errors.Is(err, exec.ErrNotFound):
		return fmt.Errorf("command %q not found: %w", p.Command, err)
	default:
		err = fmt.Errorf("%s failed: %w", p.Command, err)
	}
	if msg != "" {
		return fmt.Errorf("%w; stderr: %s", err, msg)
	}
	return err
}
