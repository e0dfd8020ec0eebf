package testenv

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	r := Run(t, 10*time.Second, t.TempDir(), BaseEnv(), "sh", "-c", "echo out; echo err >&2; exit 3")
	if r.Code != 3 || r.Stdout != "out\n" || r.Stderr != "err\n" {
		t.Errorf("got %s; want exit 3, out, err", r)
	}
}

func TestIsolatedEnv(t *testing.T) {
	t.Setenv("SSL_CERT_FILE", "/nowhere")
	env := IsolatedEnv(t.TempDir())
	for _, kv := range env {
		if strings.HasPrefix(kv, "SSL_CERT_FILE=") {
			t.Errorf("%s leaked into the child environment", kv)
		}
	}
	if n := len(slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return !strings.HasPrefix(kv, "HOME=") })); n != 1 {
		t.Errorf("%d HOME entries; want 1", n)
	}
}

func TestProc(t *testing.T) {
	p := Start(t, exec.Command("sh", "-c", "echo Ready >&2; echo hi; exec sleep 60"))
	if !p.WaitLog("ready", 10*time.Second) {
		t.Fatalf("no ready line; stderr %q", p.Stderr.String())
	}
	if p.Exited() {
		t.Fatal("exited early")
	}
	if code := p.Stop(t); code != -1 || !p.Exited() {
		t.Errorf("Stop: code %d, exited %v; want -1 (SIGTERM), true", code, p.Exited())
	}
	if got := p.Stdout.String(); got != "hi\n" {
		t.Errorf("stdout %q; want hi", got)
	}

	q := Start(t, exec.Command("sh", "-c", "exit 4"))
	if code := q.WaitExit(t, 10*time.Second); code != 4 || q.Err() == nil {
		t.Errorf("WaitExit: %d, err %v; want 4 and an exit error", code, q.Err())
	}
}

func TestFreePortNeverRepeats(t *testing.T) {
	seen := map[int]bool{}
	for range 200 {
		p := FreePort(t)
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
}
