package storage

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tlsgate/tlsgate/internal/storage/storagetest"
	"github.com/tlsgate/tlsgate/internal/testproc"
)

func newTestEtcd(t *testing.T, server *storagetest.EtcdServer, prefix string, logs *testproc.SyncBuffer) *Etcd {
	t.Helper()
	opts := EtcdOptions{
		Endpoints: []string{server.Endpoint}, Prefix: prefix, LockTTL: 2 * time.Second,
		RequestTimeout: time.Second, HealthInterval: 200 * time.Millisecond, DialTimeout: 5 * time.Second,
	}
	if logs != nil {
		opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	e, err := NewEtcd(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestEtcdFencesWritesOfALostLock(t *testing.T) {
	server := storagetest.StartEtcd(t)
	ctx := context.Background()
	a := newTestEtcd(t, server, "fence/", nil)
	b := newTestEtcd(t, server, "fence/", nil)
	if err := a.Lock(ctx, "issue_cert_a.example"); err != nil {
		t.Fatal(err)
	}
	if err := a.Store(ctx, "certificates/a.crt", []byte("first")); err != nil {
		t.Fatalf("store while holding the lock: %v", err)
	}
	// The lease ends as it would after TTL without renewals (a paused or
	// cut-off holder); b takes the lock and the work over.
	a.mu.Lock()
	lease := a.held["issue_cert_a.example"][0].session.Lease()
	a.mu.Unlock()
	if _, err := b.client.Revoke(ctx, lease); err != nil {
		t.Fatal(err)
	}
	if err := b.Lock(ctx, "issue_cert_a.example"); err != nil {
		t.Fatal(err)
	}
	if err := a.Store(ctx, "certificates/a.crt", []byte("stale")); !errors.Is(err, ErrLockLost) {
		t.Errorf("store after the lease ended: error = %v; want ErrLockLost", err)
	}
	if err := a.Delete(ctx, "certificates/a.crt"); !errors.Is(err, ErrLockLost) {
		t.Errorf("delete after the lease ended: error = %v; want ErrLockLost", err)
	}
	if got, _ := b.Load(ctx, "certificates/a.crt"); string(got) != "first" {
		t.Errorf("value = %q; want the one written under the live lock", got)
	}
	if err := b.Store(ctx, "certificates/a.crt", []byte("second")); err != nil {
		t.Errorf("the new holder cannot write: %v", err)
	}
	// Letting go of the lost lock must not delete the new holder's.
	_ = a.Unlock(ctx, "issue_cert_a.example")
	if !b.Exists(ctx, "certificates/a.crt") {
		t.Fatal("value gone")
	}
	resp, err := b.client.Get(ctx, b.lockKey("issue_cert_a.example")+"/", clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 1 {
		t.Errorf("b's lock key after a's Unlock: %v, %v; want it still there", resp, err)
	}
	if err := a.Store(ctx, "certificates/b.crt", []byte("x")); err != nil {
		t.Errorf("store without locks after Unlock: %v", err)
	}
}

// TestEtcdLostLockSameProcess is the case two goroutines of one instance
// meet (a forced renewal and the background renewal of the same name): G1
// loses its lease, G2 takes the lock. G1 must not write, and G1's Unlock
// must not release G2's lock.
func TestEtcdLostLockSameProcess(t *testing.T) {
	server := storagetest.StartEtcd(t)
	ctx := context.Background()
	e := newTestEtcd(t, server, "same/", nil)
	other := newTestEtcd(t, server, "same/", nil)
	const name = "issue_cert_x.example"
	if err := e.Lock(ctx, name); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	g1 := e.held[name][0]
	e.mu.Unlock()
	if _, err := other.client.Revoke(ctx, g1.session.Lease()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return g1.lost() })
	if err := e.Lock(ctx, name); err != nil { // G2
		t.Fatal(err)
	}
	if err := e.Store(ctx, "certificates/x.crt", []byte("from G1")); !errors.Is(err, ErrLockLost) {
		t.Errorf("G1's write after losing its lease: %v; want ErrLockLost", err)
	}
	if err := e.Unlock(ctx, name); err != nil { // G1 gives up
		t.Fatal(err)
	}
	resp, err := e.client.Get(ctx, e.lockKey(name)+"/", clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("G2's lock key after G1's Unlock: %v, %v; want it still there", resp, err)
	}
	if err := e.Store(ctx, "certificates/x.crt", []byte("from G2")); err != nil {
		t.Errorf("G2 cannot write: %v", err)
	}
	lctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if err := other.Lock(lctx, name); err == nil {
		t.Error("another instance took the lock G2 still holds")
	}
}

func TestEtcdLogsOutageOnce(t *testing.T) {
	server := storagetest.StartEtcd(t)
	logs := &testproc.SyncBuffer{}
	e := newTestEtcd(t, server, "health/", logs)
	ctx := context.Background()
	if err := e.Store(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	server.Stop()
	waitFor(t, func() bool { return strings.Count(logs.String(), "etcd unreachable") > 0 })
	// Requests fail meanwhile, and the probe keeps failing: still one line.
	for range 3 {
		if _, err := e.Load(ctx, "k"); err == nil {
			t.Fatal("load succeeded with etcd stopped")
		}
	}
	time.Sleep(time.Second) // several probe intervals
	server.Start()
	waitFor(t, func() bool { return strings.Count(logs.String(), "etcd reachable again") > 0 })
	if got, err := e.Load(ctx, "k"); err != nil || string(got) != "v" {
		t.Errorf("load after recovery = %q, %v", got, err)
	}
	time.Sleep(500 * time.Millisecond)
	if n := strings.Count(logs.String(), "etcd unreachable"); n != 1 {
		t.Errorf("outage logged %d times; want once", n)
	}
	if n := strings.Count(logs.String(), "etcd reachable again"); n != 1 {
		t.Errorf("recovery logged %d times; want once", n)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestEtcdLocksNeverOverlap has goroutines of three instances take one lock
// in turns; at no moment may two of them hold it.
func TestEtcdLocksNeverOverlap(t *testing.T) {
	server := storagetest.StartEtcd(t)
	ctx := context.Background()
	var holders, maxHolders, turns atomic.Int32
	var wg sync.WaitGroup
	for i := range 3 {
		e := newTestEtcd(t, server, "overlap/", nil)
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 4 {
					if err := e.Lock(ctx, "issue_cert_n.example"); err != nil {
						t.Errorf("instance %d: %v", i, err)
						return
					}
					n := holders.Add(1)
					for m := maxHolders.Load(); n > m && !maxHolders.CompareAndSwap(m, n); m = maxHolders.Load() {
					}
					if err := e.Store(ctx, "certificates/n.crt", []byte("x")); err != nil {
						t.Errorf("store under the lock: %v", err)
					}
					holders.Add(-1)
					turns.Add(1)
					if err := e.Unlock(ctx, "issue_cert_n.example"); err != nil {
						t.Errorf("unlock: %v", err)
					}
				}
			}()
		}
	}
	wg.Wait()
	if got := maxHolders.Load(); got != 1 {
		t.Errorf("at most %d holders at once; want 1", got)
	}
	if got := turns.Load(); got != 24 {
		t.Errorf("%d turns; want 24", got)
	}
}

// TestEtcdWaiterWhoseLeaseEndsWaitsAgain is the paused-waiter case: a
// waiter's lease runs out while it waits (as after a SIGSTOP past the TTL).
// It must not hold the lock on that dead lease; it waits again on a new one
// and gets the lock once the holder lets go, as the only holder.
func TestEtcdWaiterWhoseLeaseEndsWaitsAgain(t *testing.T) {
	server := storagetest.StartEtcd(t)
	ctx := context.Background()
	a := newTestEtcd(t, server, "paused/", nil)
	b := newTestEtcd(t, server, "paused/", nil)
	const name = "issue_cert_p.example"
	if err := a.Lock(ctx, name); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { got <- b.Lock(ctx, name) }()
	prefix := a.lockKey(name) + "/"
	var waiterLease clientv3.LeaseID
	waitFor(t, func() bool {
		resp, err := a.client.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
		if err != nil || len(resp.Kvs) != 2 {
			return false
		}
		waiterLease = clientv3.LeaseID(resp.Kvs[1].Lease)
		return true
	})
	if _, err := a.client.Revoke(ctx, waiterLease); err != nil {
		t.Fatal(err)
	}
	// The waiter lines up again on a new lease, behind the holder.
	waitFor(t, func() bool {
		resp, err := a.client.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
		return err == nil && len(resp.Kvs) == 2 && clientv3.LeaseID(resp.Kvs[1].Lease) != waiterLease
	})
	select {
	case err := <-got:
		t.Fatalf("waiter returned while the holder still holds the lock: %v", err)
	default:
	}
	if err := a.Unlock(ctx, name); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("waiter: %v", err)
	}
	resp, err := a.client.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 1 || clientv3.LeaseID(resp.Kvs[0].Lease) == waiterLease {
		t.Fatalf("lock keys after the handover: %v, %v; want one, on the waiter's new lease", resp, err)
	}
	if err := b.Store(ctx, "certificates/p.crt", []byte("b")); err != nil {
		t.Errorf("new holder cannot write: %v", err)
	}
}
