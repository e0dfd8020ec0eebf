package testproc

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stopGrace is how long Stop waits after SIGTERM before it kills.
const stopGrace = 15 * time.Second

// Proc is a long-running child process with its output captured.
type Proc struct {
	Cmd            *exec.Cmd
	Stdout, Stderr *SyncBuffer

	done chan struct{} // closed when the process has exited
	err  error         // Wait's result; read after done
}

// Start starts cmd (its Dir and Env set by the caller) with stdout and
// stderr captured. The test's cleanup stops it and, when the test failed,
// logs its output. A caller that wants a crash-like end instead registers
// t.Cleanup(p.Kill) after Start: cleanups run last-in first-out.
func Start(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{Cmd: cmd, Stdout: &SyncBuffer{}, Stderr: &SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Stdout, p.Stderr
	name := filepath.Base(cmd.Path) + " " + strings.Join(cmd.Args[1:], " ")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go p.wait()
	t.Cleanup(func() {
		p.Stop(t)
		if t.Failed() {
			t.Logf("%s stderr:\n%s", name, p.Stderr.String())
			if out := p.Stdout.String(); out != "" {
				t.Logf("%s stdout:\n%s", name, out)
			}
		}
	})
	return p
}

func (p *Proc) wait() {
	p.err = p.Cmd.Wait()
	close(p.done)
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is the process's Wait error once it has exited, nil before.
func (p *Proc) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// Stop sends SIGTERM, waits, then kills; a process still running 15s after
// SIGTERM is a test error. It returns the exit code (-1 for a signal).
func (p *Proc) Stop(t testing.TB) int {
	t.Helper()
	if !p.Exited() {
		_ = p.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(stopGrace):
			t.Errorf("%s did not exit within %v of SIGTERM; killing it", p.Cmd.Path, stopGrace)
			p.Kill()
		}
	}
	return ExitCode(p.err)
}

// Kill ends the process with SIGKILL, as a crash would, and waits for it.
func (p *Proc) Kill() {
	_ = p.Cmd.Process.Kill()
	<-p.done
}

// Signal sends sig to the process.
func (p *Proc) Signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// WaitExit waits up to d for the process to exit on its own and returns
// its exit code; still running after d fails the test.
func (p *Proc) WaitExit(t testing.TB, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return ExitCode(p.err)
	case <-time.After(d):
		t.Fatalf("%s still running after %v", p.Cmd.Path, d)
		return -1
	}
}

// WaitLog waits up to d until stderr contains s (case-insensitive).
func (p *Proc) WaitLog(s string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if strings.Contains(strings.ToLower(p.Stderr.String()), strings.ToLower(s)) {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}
