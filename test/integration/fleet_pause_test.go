//go:build unix

package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tlsgate/tlsgate/internal/storage/storagetest"
	"github.com/tlsgate/tlsgate/test/testenv"
)

// TestFleetPausedWaiter is the fleet's lock race end to end: two members
// wait behind a held issuance lock; member 0 is paused (SIGSTOP) until its
// waiter key expires with its lease (10 s), and the holder lets go as it
// resumes — just before or just after the SIGCONT. Member 1, now first in
// line, orders; member 0 lines up again on a new lease, answers Pebble's
// challenge from storage, and once it gets the lock finds the certificate
// there. Pebble must see exactly one order, both members serve one
// certificate, and neither ever loses a lock it holds.
// (internal/storage's TestEtcdPausedWaiterNeverSecondHolder repeats the
// handover 20 times and checks etcd's history.)
func TestFleetPausedWaiter(t *testing.T) {
	for _, releaseFirst := range []bool{true, false} {
		name := "resume-then-release"
		if releaseFirst {
			name = "release-then-resume"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testFleetPausedWaiter(t, releaseFirst)
		})
	}
}

func testFleetPausedWaiter(t *testing.T, releaseFirst bool) {
	etcd := startEtcd(t)
	configs := []gateConfig{newGateConfig(t), newGateConfig(t)}
	p := startPebble(t, pebbleOptions{HTTPPort: portOf(t, configs[0].HTTP), TLSPort: testenv.FreePort(t)})
	conf := header + p.acmeConfig("http-01") + fleetStorage(etcd.Endpoint, "fleet/", storageKey(t)) + fleetSite
	const lock = "fleet/locks/issue_cert_fleet.example.com/"

	release := holdLock(t, etcd, "fleet/", "issue_cert_fleet.example.com")
	insts := make([]*instance, 2)
	for i := range insts {
		insts[i] = startMember(t, configs[i], conf)
		insts[i].mustLog(t, "acquiring lock", 20*time.Second)
	}
	// In line: the test's key, then member 0's, then member 1's.
	var waiter0 string
	eventually(t, 20*time.Second, "both members wait in line", func() error {
		keys := lockKeys(t, etcd, lock)
		if len(keys) != 3 {
			return fmt.Errorf("lock keys %q", keys)
		}
		waiter0 = keys[1]
		return nil
	})
	resume := pause(t, insts[0].Proc)
	eventually(t, 30*time.Second, "the paused member's waiter key expires", func() error {
		if keys := lockKeys(t, etcd, lock); len(keys) != 2 || keys[0] == waiter0 || keys[1] == waiter0 {
			return fmt.Errorf("lock keys %q", keys)
		}
		return nil
	})
	if releaseFirst {
		release()
		resume()
	} else {
		resume()
		release()
	}

	fleetServesOneCertificate(t, insts, p.roots(t), 45*time.Second)
	if n := p.orders(); n != 1 {
		t.Errorf("Pebble took %d orders; want exactly 1", n)
	}
	for i, inst := range insts {
		if log := inst.Stderr.String(); strings.Contains(log, "lock lost") {
			t.Errorf("member %d lost a lock it held", i)
		}
	}
	if !strings.Contains(insts[1].Stderr.String(), "obtaining certificate") {
		t.Error("member 1, first in line after the pause, did not order")
	}
	// Member 0 still wanted the lock; once it had it, it looked in storage.
	insts[0].mustLog(t, "certificate already exists in storage", 20*time.Second)
}

// lockKeys lists the waiter keys under a lock's prefix, oldest first (the
// first one holds).
func lockKeys(t *testing.T, etcd *storagetest.EtcdServer, prefix string) []string {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{etcd.Endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly(),
		clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		keys = append(keys, string(kv.Key))
	}
	return keys
}
