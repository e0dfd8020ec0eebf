// Package launch runs the app that `tlsgate proxy --to URL -- CMD` fronts:
// CMD as a child in its own process group, so that signals reach the app
// and everything it started, and so that nothing outlives tlsgate. It also
// waits until the app accepts connections on its address.
package launch

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Options say how to start the child.
type Options struct {
	// Env is the child's whole environment; nil means tlsgate's own.
	Env []string
	// Stdout and Stderr receive the child's output unchanged; nil
	// discards it.
	Stdout, Stderr io.Writer
	// Dir is the child's working directory; "" means tlsgate's.
	Dir string
}

// outputDelay is how long after the child's exit its output pipes stay
// open for processes it left behind.
const outputDelay = time.Second

// Child is a started command in its own process group. Its methods are
// safe for concurrent use.
type Child struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the child has been reaped
	err  error         // Wait's result; read after done

	// killOnce makes Kill's SIGKILL to the group happen once.
	killOnce sync.Once
}

// Start starts name with args as a child in a new process group. The
// caller must call Kill on every path out (a deferred Kill is right): it
// ends whatever the child left in its group.
func Start(name string, args []string, opts Options) (*Child, error) {
	cmd := exec.Command(name, args...)
	cmd.Env, cmd.Dir = opts.Env, opts.Dir
	cmd.Stdout, cmd.Stderr = opts.Stdout, opts.Stderr
	// No stdin: a child in a background process group that reads the
	// terminal would be stopped by SIGTTIN.
	cmd.SysProcAttr = groupAttr()
	// When Stdout is not a file, exec copies through a pipe, and Wait
	// would also wait for every process the child left holding it.
	cmd.WaitDelay = outputDelay
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &Child{cmd: cmd, done: make(chan struct{})}
	go c.reap()
	return c, nil
}

// reap waits for the child and records how it ended.
func (c *Child) reap() {
	c.err = c.cmd.Wait()
	close(c.done)
}

// PID is the child's process ID, which is also its process group ID.
func (c *Child) PID() int { return c.cmd.Process.Pid }

// Done is closed when the child has exited.
func (c *Child) Done() <-chan struct{} { return c.done }

// Status describes how the child ended; call it after Done.
type Status struct {
	Code   int       // exit code, or 128+signal number when Signal is set
	Signal os.Signal // the signal that ended the child, or nil
}

func (s Status) String() string {
	if s.Signal != nil {
		return fmt.Sprintf("killed by signal %v", s.Signal)
	}
	return fmt.Sprintf("exited with status %d", s.Code)
}

// Status is how the child ended. It must be called after Done is closed.
func (c *Child) Status() Status {
	<-c.done
	var ee *exec.ExitError
	if c.err != nil && !errors.As(c.err, &ee) {
		return Status{Code: 1} // Wait failed without an exit status
	}
	ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return Status{Code: 128 + int(ws.Signal()), Signal: ws.Signal()}
	}
	return Status{Code: c.cmd.ProcessState.ExitCode()}
}

// Signal sends sig to the child's whole process group.
func (c *Child) Signal(sig os.Signal) error {
	if err := signalGroup(c.cmd.Process, sig); err != nil {
		return fmt.Errorf("signal %v to process group %d: %w", sig, c.PID(), err)
	}
	return nil
}

// Stop sends sig to the group and waits up to grace for the child to
// exit, then kills the group (see WaitOrKill).
func (c *Child) Stop(sig os.Signal, grace time.Duration) bool {
	_ = c.Signal(sig) // fails only when the group is already gone
	return c.WaitOrKill(grace)
}

// WaitOrKill waits up to grace for the child to exit, then kills its
// group either way. It reports whether the child exited within grace.
func (c *Child) WaitOrKill(grace time.Duration) bool {
	t := time.NewTimer(grace)
	defer t.Stop()
	exited := true
	select {
	case <-c.done:
	case <-t.C:
		exited = false
	}
	c.Kill()
	return exited
}

// Kill sends SIGKILL to the child's process group, so that nothing the
// child started survives it, and waits until the child is reaped. It is
// safe to call more than once and after the child has exited.
func (c *Child) Kill() {
	c.killOnce.Do(func() { _ = signalGroup(c.cmd.Process, os.Kill) })
	<-c.done
}
