//go:build unix

package launch

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/testproc"
)

func startSh(t *testing.T, script string, out *testproc.SyncBuffer) *Child {
	t.Helper()
	opts := Options{}
	if out != nil {
		opts.Stdout = out
	}
	c, err := Start("/bin/sh", []string{"-c", script}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Kill)
	return c
}

// firstLinePID waits for the child to print a PID on its first line.
func firstLinePID(t *testing.T, out *testproc.SyncBuffer) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if line, _, ok := strings.Cut(out.String(), "\n"); ok {
			pid, err := strconv.Atoi(strings.TrimSpace(line))
			if err != nil {
				t.Fatalf("child printed %q, not a PID", line)
			}
			return pid
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("child printed no PID")
	return 0
}

// waitGone fails the test unless pid disappears within a few seconds.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("process %d still exists: an orphan was left behind", pid)
}

func TestStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		script string
		want   Status
	}{
		{"exit 0", Status{Code: 0}},
		{"exit 3", Status{Code: 3}},
		{"kill -TERM $$", Status{Code: 128 + int(syscall.SIGTERM), Signal: syscall.SIGTERM}},
	}
	for _, tt := range tests {
		t.Run(tt.script, func(t *testing.T) {
			t.Parallel()
			c := startSh(t, tt.script, nil)
			<-c.Done()
			if got := c.Status(); got != tt.want {
				t.Errorf("status = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStartMissingCommand(t *testing.T) {
	t.Parallel()
	if _, err := Start("/nonexistent/app", nil, Options{}); err == nil || !strings.Contains(err.Error(), "/nonexistent/app") {
		t.Errorf("Start of a missing command: %v, want an error naming it", err)
	}
}

func TestEnvReachesChild(t *testing.T) {
	t.Parallel()
	var out testproc.SyncBuffer
	c, err := Start("/bin/sh", []string{"-c", "echo port=$PORT"}, Options{Env: []string{"PORT=8123"}, Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	c.Kill()
	if got := out.String(); got != "port=8123\n" {
		t.Errorf("child printed %q", got)
	}
}

// TestStopReachesGroup: the signal reaches a process the child started, and
// none survives Stop.
func TestStopReachesGroup(t *testing.T) {
	t.Parallel()
	var out testproc.SyncBuffer
	c := startSh(t, "sleep 60 & echo $!; wait", &out)
	grandchild := firstLinePID(t, &out)
	if !c.Stop(syscall.SIGTERM, 5*time.Second) {
		t.Error("the child did not exit on SIGTERM")
	}
	if st := c.Status(); st.Signal != syscall.SIGTERM {
		t.Errorf("status = %v, want killed by SIGTERM", st)
	}
	waitGone(t, grandchild)
}

// TestStopKillsAfterGrace: a child that ignores SIGTERM is killed.
func TestStopKillsAfterGrace(t *testing.T) {
	t.Parallel()
	var out testproc.SyncBuffer
	c := startSh(t, "trap '' TERM; echo $$; while :; do sleep 1; done", &out)
	firstLinePID(t, &out)
	if c.Stop(syscall.SIGTERM, 200*time.Millisecond) {
		t.Error("Stop reported a clean exit of a child that ignores SIGTERM")
	}
	if st := c.Status(); st.Signal != syscall.SIGKILL {
		t.Errorf("status = %v, want killed by SIGKILL", st)
	}
}

// TestKillEndsLeftovers: the child exits on its own, leaving a process in
// its group; Kill ends it.
func TestKillEndsLeftovers(t *testing.T) {
	t.Parallel()
	var out testproc.SyncBuffer
	c := startSh(t, "sleep 60 & echo $!", &out)
	leftover := firstLinePID(t, &out)
	<-c.Done()
	c.Kill()
	c.Kill() // a second call is harmless
	waitGone(t, leftover)
}

func TestParseTarget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		to      string
		want    Target
		wantErr bool
	}{
		{"http://127.0.0.1:8000", Target{"tcp", "127.0.0.1:8000", "8000"}, false},
		{"http://localhost:5000/base", Target{"tcp", "localhost:5000", "5000"}, false},
		{"http://[::1]:8080", Target{"tcp", "[::1]:8080", "8080"}, false},
		{"http://app.internal", Target{"tcp", "app.internal:80", ""}, false},
		{"https://app.internal", Target{"tcp", "app.internal:443", ""}, false},
		{"unix:/run/app.sock", Target{"unix", "/run/app.sock", ""}, false},
		{"unix:", Target{}, true},
		{"127.0.0.1:8000", Target{}, true},
	}
	for _, tt := range tests {
		got, err := ParseTarget(tt.to)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseTarget(%q) = %+v, %v; want %+v, error %v", tt.to, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestWaitListening(t *testing.T) {
	t.Parallel()
	t.Run("tcp listener", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		if err := WaitListening(t.Context(), Target{Network: "tcp", Address: ln.Addr().String()}, nil); err != nil {
			t.Errorf("WaitListening: %v", err)
		}
	})
	t.Run("unix socket that appears later", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "app.sock")
		ready := make(chan net.Listener, 1)
		go func() {
			time.Sleep(300 * time.Millisecond) // the app takes a while to start
			ln, err := net.Listen("unix", path)
			if err != nil {
				t.Error(err)
			}
			ready <- ln
		}()
		err := WaitListening(t.Context(), Target{Network: "unix", Address: path}, nil)
		if ln := <-ready; ln != nil {
			ln.Close()
		}
		if err != nil {
			t.Errorf("WaitListening: %v", err)
		}
	})
	t.Run("child exits first", func(t *testing.T) {
		t.Parallel()
		c := startSh(t, "exit 3", nil)
		err := WaitListening(t.Context(), Target{Network: "unix", Address: filepath.Join(t.TempDir(), "none.sock")}, c)
		if !errors.Is(err, ErrExited) {
			t.Errorf("WaitListening = %v, want ErrExited", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		c := startSh(t, "sleep 60", nil)
		err := WaitListening(ctx, Target{Network: "unix", Address: filepath.Join(t.TempDir(), "none.sock")}, c)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("WaitListening = %v, want a deadline error", err)
		}
	})
}
