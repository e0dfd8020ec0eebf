package storagetest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// EtcdServer is a real single-member etcd (Debian's etcd-server) on free
// loopback ports, with its data in a test's temporary directory.
type EtcdServer struct {
	// Endpoint is the client URL, http://127.0.0.1:PORT.
	Endpoint string

	t        *testing.T
	bin      string
	dir      string
	peer     string
	log      *lockedBuffer
	cmd      *exec.Cmd
	waitDone chan struct{}
}

// StartEtcd starts etcd and waits until it is healthy; the test's cleanup
// stops it (and shows its log when the test failed). Without the etcd
// binary the test fails with how to install it, or skips under -short.
func StartEtcd(t *testing.T) *EtcdServer {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		msg := "etcd is not installed: apt-get install -y etcd-server etcd-client (scripts/test.sh does this)"
		if testing.Short() {
			t.Skip(msg)
		}
		t.Fatal(msg)
	}
	s := &EtcdServer{
		t:        t,
		bin:      bin,
		dir:      t.TempDir(),
		Endpoint: fmt.Sprintf("http://127.0.0.1:%d", freePort(t)),
		peer:     fmt.Sprintf("http://127.0.0.1:%d", freePort(t)),
		log:      &lockedBuffer{},
	}
	s.Start()
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("etcd log:\n%s", s.log.String())
		}
	})
	return s
}

// Start runs etcd (again) on the same ports and data, and waits for health.
func (s *EtcdServer) Start() {
	t := s.t
	t.Helper()
	s.cmd = exec.Command(s.bin,
		"--name", "test",
		"--data-dir", filepath.Join(s.dir, "data"),
		"--listen-client-urls", s.Endpoint, "--advertise-client-urls", s.Endpoint,
		"--listen-peer-urls", s.peer, "--initial-advertise-peer-urls", s.peer,
		"--initial-cluster", "test="+s.peer,
		"--logger", "zap", "--log-outputs", "stderr",
	)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	s.waitDone = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.waitDone)
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(s.Endpoint + "/health")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), `"health":"true"`) {
				return
			}
			err = fmt.Errorf("health: %s", body)
		}
		select {
		case <-s.waitDone:
			t.Fatalf("etcd exited at start:\n%s", s.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd not healthy after 20s: %v\n%s", err, s.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends etcd (SIGTERM, then SIGKILL) and waits for it.
func (s *EtcdServer) Stop() {
	select {
	case <-s.waitDone:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.waitDone:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.waitDone
	}
}

// Etcdctl runs etcdctl against the server and returns its output.
func (s *EtcdServer) Etcdctl(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("etcdctl", append([]string{"--endpoints", s.Endpoint}, args...)...)
	cmd.Env = append(cmd.Environ(), "ETCDCTL_API=3")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("etcdctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// lockedBuffer collects a process's output for tests to read.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
