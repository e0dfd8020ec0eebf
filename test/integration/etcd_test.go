package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/storage"
	"github.com/tlsgate/tlsgate/internal/storage/storagetest"
	"github.com/tlsgate/tlsgate/test/testenv"
)

// The fleet tests run Debian's etcd-server binary (storagetest.StartEtcd)
// rather than etcd's embed package in-process: the binary is what users
// run, and embed would pull the whole etcd server into go.mod for tests.

// fleetStorage is the storage block every member of a test fleet shares:
// etcd at endpoint under prefix, private keys sealed with keyFile.
func fleetStorage(endpoint, prefix, keyFile string) string {
	return fmt.Sprintf(`storage:
  backend: etcd
  etcd: {endpoints: [%q], prefix: %q}
  encryption_key_file: %s
`, strings.TrimPrefix(endpoint, "http://"), prefix, keyFile)
}

// storageKey makes an encryption key with `tlsgate storage keygen`.
func storageKey(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "storage.key")
	if res := tlsgate(t, filepath.Dir(path), "storage", "keygen", "--out", path); res.Code != 0 {
		t.Fatalf("storage keygen: %s", res)
	}
	return path
}

// startMember runs `tlsgate run --log-level debug` with config text and
// waits only until its admin API answers: members of a fleet may wait for
// each other's locks before they have certificates to serve.
func startMember(t *testing.T, g gateConfig, configYAML string) *instance {
	t.Helper()
	inst := &instance{gateConfig: g, ConfigPath: filepath.Join(g.Dir, "tlsgate.yaml")}
	inst.HTTPSPort, inst.HTTPPort = portOf(t, g.HTTPS), portOf(t, g.HTTP)
	inst.writeConfig(t, configYAML)
	inst.Proc = startProc(t, g.Dir, "run", "-c", inst.ConfigPath, "--log-level", "debug")
	eventually(t, 20*time.Second, "admin /status of a fleet member", func() error {
		if inst.Exited() {
			t.Fatalf("tlsgate exited: %v\n%s", inst.Err(), inst.Stderr.String())
		}
		resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + g.Admin + "/status")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	return inst
}

// mustLog waits for s in the instance's log, or fails.
func (inst *instance) mustLog(t *testing.T, s string, d time.Duration) {
	t.Helper()
	if !inst.WaitLog(s, d) {
		t.Fatalf("tlsgate did not log %q within %v", s, d)
	}
}

// pause freezes the process (SIGSTOP) until the returned func resumes it;
// cleanup resumes it too, so it can be stopped.
func pause(t *testing.T, p *testenv.Proc) (resume func()) {
	t.Helper()
	p.Signal(t, sigSTOP)
	resumed := false
	resume = func() {
		if !resumed && !p.Exited() {
			resumed = true
			_ = p.Cmd.Process.Signal(sigCONT)
		}
	}
	t.Cleanup(resume)
	return resume
}

// assertNoPlainKeys fails if any file under dir (but the local CA's
// directory, which is not storage) holds a PEM private key.
func assertNoPlainKeys(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && d.Name() == "ca" && filepath.Dir(p) == dir {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			if data, _ := os.ReadFile(p); strings.Contains(string(data), "PRIVATE KEY") {
				t.Errorf("%s holds a private key in plain text", p)
			}
		}
		return nil
	})
}

// holdLock takes a CertMagic lock (e.g. "issue_cert_NAME") in the fleet's
// etcd, as a member would, so the test decides who gets it next.
func holdLock(t *testing.T, etcd *storagetest.EtcdServer, prefix, name string) (release func()) {
	t.Helper()
	s, err := storage.NewEtcd(storage.EtcdOptions{Endpoints: []string{etcd.Endpoint}, Prefix: prefix, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Lock(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := s.Unlock(context.Background(), name); err != nil {
			t.Fatal(err)
		}
	}
}

// startEtcd starts a real etcd for a test (see storagetest.StartEtcd).
func startEtcd(t *testing.T) *storagetest.EtcdServer {
	t.Helper()
	return storagetest.StartEtcd(t)
}
