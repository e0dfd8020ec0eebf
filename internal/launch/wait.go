package launch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Target is where the child is expected to listen, taken from an upstream
// URL (http://HOST[:PORT][/base], https://..., or unix:/path.sock).
type Target struct {
	Network string // "tcp" or "unix"
	Address string // host:port to dial, or the socket path
	// Port is the port the URL names explicitly, for the child's PORT
	// variable; "" when the URL names none (or is a unix socket).
	Port string
}

func (t Target) String() string {
	if t.Network == "unix" {
		return "unix:" + t.Address
	}
	return t.Address
}

// ParseTarget reads an upstream URL as a dial target.
func ParseTarget(to string) (Target, error) {
	if path, ok := strings.CutPrefix(to, "unix:"); ok {
		if path == "" {
			return Target{}, fmt.Errorf("%q names no socket path", to)
		}
		return Target{Network: "unix", Address: path}, nil
	}
	u, err := url.Parse(to)
	if err != nil || u.Hostname() == "" {
		return Target{}, fmt.Errorf("%q is not an http://HOST:PORT or unix:/path URL", to)
	}
	port := u.Port()
	dialPort := port
	if dialPort == "" {
		dialPort = "80"
		if u.Scheme == "https" {
			dialPort = "443"
		}
	}
	return Target{Network: "tcp", Address: net.JoinHostPort(u.Hostname(), dialPort), Port: port}, nil
}

// pollInterval is how often WaitListening tries to connect.
const pollInterval = 100 * time.Millisecond

// ErrExited is returned by WaitListening when the child exits first.
var ErrExited = errors.New("the app exited before it accepted connections")

// NotListeningError is WaitListening's answer when ctx ends first.
type NotListeningError struct {
	Err  error // ctx's error
	Last error // the last attempt's dial error
}

func (e *NotListeningError) Error() string {
	return fmt.Sprintf("%v (last attempt: %v)", e.Err, e.Last)
}

func (e *NotListeningError) Unwrap() []error { return []error{e.Err, e.Last} }

// WaitListening returns nil once t accepts a connection. It returns
// ErrExited when the child (if not nil) exits first, and a
// *NotListeningError when ctx ends first.
func WaitListening(ctx context.Context, t Target, child *Child) error {
	var exited <-chan struct{}
	if child != nil {
		exited = child.Done()
	}
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var d net.Dialer
	var last error
	for {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		c, err := d.DialContext(dctx, t.Network, t.Address)
		cancel()
		if err == nil {
			return c.Close()
		}
		if last == nil || ctx.Err() == nil { // keep why the app refused, not that ctx cut the dial
			last = err
		}
		select {
		case <-exited:
			return ErrExited
		case <-ctx.Done():
			return &NotListeningError{Err: ctx.Err(), Last: last}
		case <-tick.C:
		}
	}
}
