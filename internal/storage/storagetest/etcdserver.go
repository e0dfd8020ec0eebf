package storagetest

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/testproc"
)

// EtcdServer is a real single-member etcd (Debian's etcd-server) on free
// loopback ports, with its data in a test's temporary directory.
type EtcdServer struct {
	// Endpoint is the client URL, http://127.0.0.1:PORT.
	Endpoint string

	t    *testing.T
	bin  string
	dir  string
	peer string
	proc *testproc.Proc // the current run
}

// StartEtcd starts etcd and waits until it is healthy; the test's cleanup
// stops it (and shows its log when the test failed, see testproc.Start).
// Without the etcd binary the test fails with how to install it, or skips
// under -short.
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
		Endpoint: fmt.Sprintf("http://127.0.0.1:%d", testproc.FreePort(t)),
		peer:     fmt.Sprintf("http://127.0.0.1:%d", testproc.FreePort(t)),
	}
	s.Start()
	return s
}

// Start runs etcd (again) on the same ports and data, and waits for health.
func (s *EtcdServer) Start() {
	t := s.t
	t.Helper()
	cmd := exec.Command(s.bin,
		"--name", "test",
		"--data-dir", filepath.Join(s.dir, "data"),
		"--listen-client-urls", s.Endpoint, "--advertise-client-urls", s.Endpoint,
		"--listen-peer-urls", s.peer, "--initial-advertise-peer-urls", s.peer,
		"--initial-cluster", "test="+s.peer,
		"--logger", "zap", "--log-outputs", "stderr",
	)
	s.proc = testproc.Start(t, cmd)
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
		if s.proc.Exited() {
			t.Fatalf("etcd exited at start:\n%s", s.proc.Stderr.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd not healthy after 20s: %v\n%s", err, s.proc.Stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends etcd (SIGTERM, then SIGKILL) and waits for it.
func (s *EtcdServer) Stop() {
	s.proc.Stop(s.t)
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
