package integration

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/test/testenv"
)

// notifyConfig is one site, so that run has something to bind.
const notifyConfig = header + `
sites:
  - hosts: [notify.test]
    tls: local
    routes:
      - path: /
        respond: {status: 200, body: "ok"}
`

// TestSdNotify: with NOTIFY_SOCKET set, `tlsgate run` tells systemd
// READY=1 once its listeners accept, RELOADING=1 then READY=1 around a
// SIGHUP reload, and STOPPING=1 on SIGTERM.
func TestSdNotify(t *testing.T) {
	t.Parallel()
	g := newGateConfig(t)
	// A short path: unix socket paths are limited to ~108 bytes.
	sockDir, err := os.MkdirTemp("", "sdn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sockPath := filepath.Join(sockDir, "notify")
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sock.Close() })
	cfgPath := filepath.Join(g.Dir, "tlsgate.yaml")
	if err := os.WriteFile(cfgPath, []byte(g.render(t, notifyConfig)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tlsgateBin, "run", "-c", cfgPath)
	cmd.Dir, cmd.Env = g.Dir, append(append([]string{}, childEnv...), "NOTIFY_SOCKET="+sockPath)
	p := testenv.Start(t, cmd)

	next := func(want string) {
		t.Helper()
		if err := sock.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		n, err := sock.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %s on NOTIFY_SOCKET: %v\nstderr:\n%s", want, err, p.Stderr)
		}
		if got := strings.TrimSpace(string(buf[:n])); got != want {
			t.Fatalf("NOTIFY_SOCKET got %q, want %q", got, want)
		}
	}
	next("READY=1")
	if err := tcpDial(g.HTTPS); err != nil {
		t.Errorf("READY=1 came before the https listener accepts: %v", err)
	}
	p.Signal(t, syscall.SIGHUP)
	next("RELOADING=1")
	next("READY=1")
	p.Signal(t, syscall.SIGTERM)
	next("STOPPING=1")
	if code := p.WaitExit(t, 20*time.Second); code != 0 {
		t.Errorf("tlsgate exited %d after SIGTERM\nstderr:\n%s", code, p.Stderr)
	}
}
