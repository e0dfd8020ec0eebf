package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync/atomic"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// heldLock is one lock this Etcd holds: its key, the lease it is attached
// to, and the goroutine keeping that lease alive.
type heldLock struct {
	key    string
	lease  clientv3.LeaseID
	lost   atomic.Bool     // the lease expired or could not be renewed
	ctx    context.Context // the keepalive's; cancelled when the lock is let go
	cancel context.CancelFunc
	done   chan struct{} // closed when the keepalive goroutine has returned
}

// Lock takes the named lock, waiting while another holder has it. The lock
// lives as long as its lease: Unlock ends it, and so does the holder's death
// or a lost connection to etcd, LockTTL later.
func (e *Etcd) Lock(ctx context.Context, name string) error {
	if name == "" {
		return errors.New("lock: empty name")
	}
	rctx, cancel := e.request(ctx)
	grant, err := e.client.Grant(rctx, int64((e.opts.LockTTL+999_999_999)/1_000_000_000))
	cancel()
	e.observe(ctx, err)
	if err != nil {
		return fmt.Errorf("lock %s: lease: %w", name, err)
	}
	h := &heldLock{key: e.lockKey(name), lease: grant.ID, done: make(chan struct{})}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	ka, err := e.client.KeepAlive(h.ctx, grant.ID)
	if err != nil {
		h.cancel()
		e.revoke(grant.ID)
		return fmt.Errorf("lock %s: keepalive: %w", name, err)
	}
	go e.keepAlive(name, h, ka)

	if err := e.acquire(ctx, h); err != nil {
		h.cancel()
		<-h.done
		e.revoke(grant.ID)
		return fmt.Errorf("lock %s: %w", name, err)
	}
	e.mu.Lock()
	e.held[name] = append(e.held[name], h)
	e.mu.Unlock()
	return nil
}

// acquire creates the lock key, attached to h's lease, once no one else
// holds it: it watches the holder's key until it is deleted (by Unlock or by
// the holder's lease running out), then tries again.
func (e *Etcd) acquire(ctx context.Context, h *heldLock) error {
	owner := fmt.Sprintf("pid %d lease %x", os.Getpid(), int64(h.lease))
	if host, err := os.Hostname(); err == nil {
		owner = host + " " + owner
	}
	for {
		rctx, cancel := e.request(ctx)
		resp, err := e.client.Txn(rctx).
			If(clientv3.Compare(clientv3.CreateRevision(h.key), "=", 0)).
			Then(clientv3.OpPut(h.key, owner, clientv3.WithLease(h.lease))).
			Else(clientv3.OpGet(h.key)).
			Commit()
		cancel()
		e.observe(ctx, err)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if resp.Succeeded {
			return nil
		}
		if err := e.waitDeleted(ctx, h.key, resp.Header.Revision); err != nil {
			return err
		}
	}
}

// waitDeleted returns when key is deleted after revision rev, or ctx ends.
func (e *Etcd) waitDeleted(ctx context.Context, key string, rev int64) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for resp := range e.client.Watch(wctx, key, clientv3.WithRev(rev+1), clientv3.WithFilterPut()) {
		if resp.CompactRevision != 0 {
			return nil // history compacted past rev: look at the key again
		}
		if err := resp.Err(); err != nil {
			return err
		}
		for _, ev := range resp.Events {
			if ev.Type == clientv3.EventTypeDelete {
				return nil
			}
		}
	}
	// The watch ended: ctx is done, or the cluster lost its leader; the
	// caller tries again (or gives up with ctx).
	return ctx.Err()
}

// keepAlive drains the lease's keepalive answers. When they stop while the
// lock is still held, the lease is gone: the lock is marked lost, so fenced
// writes fail fast, and that is logged once.
func (e *Etcd) keepAlive(name string, h *heldLock, ka <-chan *clientv3.LeaseKeepAliveResponse) {
	defer close(h.done)
	for range ka {
	}
	if h.ctx.Err() != nil {
		return // Unlock, Close or a failed Lock cancelled it: not a loss
	}
	h.lost.Store(true)
	e.logger.Warn("lock lost: its etcd lease expired; writes under it are refused", "lock", name)
}

// Unlock releases the named lock: the key is deleted if it is still ours,
// and the lease revoked. When this process has two entries for the name
// (see Etcd.held), the lost one goes first: its holder is the one failing
// and unlocking now, and the live holder must keep its lock.
func (e *Etcd) Unlock(ctx context.Context, name string) error {
	e.mu.Lock()
	h := e.takeHeldLocked(name)
	e.mu.Unlock()
	if h == nil {
		// Already released, e.g. by Close at shutdown before CertMagic's
		// own deferred Unlock ran: nothing is left to clean up.
		return nil
	}
	h.cancel()
	<-h.done
	rctx, cancel := e.request(context.WithoutCancel(ctx))
	defer cancel()
	_, err := e.client.Txn(rctx).
		If(clientv3.Compare(clientv3.LeaseValue(h.key), "=", h.lease)).
		Then(clientv3.OpDelete(h.key)).
		Commit()
	e.observe(rctx, err)
	e.revoke(h.lease)
	if err != nil {
		return fmt.Errorf("unlock %s: %w (the lock expires with its lease)", name, err)
	}
	return nil
}

// takeHeldLocked removes and returns the entry Unlock releases: a lost one
// if any, else the oldest. e.mu must be held.
func (e *Etcd) takeHeldLocked(name string) *heldLock {
	hs := e.held[name]
	if len(hs) == 0 {
		return nil
	}
	i := slices.IndexFunc(hs, func(h *heldLock) bool { return h.lost.Load() })
	if i < 0 {
		i = 0
	}
	h := hs[i]
	if hs = slices.Delete(hs, i, i+1); len(hs) == 0 {
		delete(e.held, name)
	} else {
		e.held[name] = hs
	}
	return h
}

// revoke ends a lease, deleting the keys attached to it; errors are
// ignored because an unrevoked lease expires on its own.
func (e *Etcd) revoke(id clientv3.LeaseID) {
	ctx, cancel := e.request(context.Background())
	defer cancel()
	_, _ = e.client.Revoke(ctx, id)
}

// fencedTxn applies ops in one transaction that succeeds only if every
// lock held right now is still attached to its lease.
func (e *Etcd) fencedTxn(ctx context.Context, what string, ops ...clientv3.Op) error {
	var cmps []clientv3.Cmp
	e.mu.Lock()
	for name, hs := range e.held {
		for _, h := range hs {
			if h.lost.Load() {
				e.mu.Unlock()
				return fmt.Errorf("%s: lock %s: %w", what, name, ErrLockLost)
			}
			cmps = append(cmps, clientv3.Compare(clientv3.LeaseValue(h.key), "=", h.lease))
		}
	}
	e.mu.Unlock()
	rctx, cancel := e.request(ctx)
	defer cancel()
	resp, err := e.client.Txn(rctx).If(cmps...).Then(ops...).Commit()
	e.observe(ctx, err)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("%s: %w", what, ErrLockLost)
	}
	return nil
}
