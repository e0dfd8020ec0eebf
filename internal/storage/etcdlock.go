package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// heldLock is one lock this Etcd holds: etcd's own Mutex on a session
// (a lease and its keepalive) of its own.
//
// Each lock gets its own session rather than sharing one per Etcd because
// concurrency.Mutex names a waiter's key after its lease: two goroutines of
// one process waiting on the same name with one shared lease would share a
// key and both believe they hold the lock.
type heldLock struct {
	name    string
	session *concurrency.Session
	mutex   *concurrency.Mutex
	logged  sync.Once
}

// lost reports whether the lock's lease has ended (expired, revoked, or its
// keepalive gave up): another instance may hold the lock now.
func (h *heldLock) lost() bool {
	select {
	case <-h.session.Done():
		return true
	default:
		return false
	}
}

// Lock takes the named lock, waiting while another holder has it. It is
// etcd's concurrency.Mutex: every waiter puts its own key under
// PREFIX/locks/NAME/ from the start of its wait, the lowest CreateRevision
// holds, and each waiter watches only its predecessor, so waiters are served
// in order and never race each other for a freed key. The lock lives as long
// as its lease: Unlock ends it, and so does the holder's death or a lost
// connection to etcd, LockTTL later.
//
// A waiter whose lease ended while it waited starts over on a new lease
// (never one whose keepalive has stopped), and a winner whose lease has less
// than half its TTL left gives the lock back and waits again, so a holder
// always starts its work with a margin before the lock could expire.
func (e *Etcd) Lock(ctx context.Context, name string) error {
	if name == "" {
		return errors.New("lock: empty name")
	}
	for {
		h, err := e.tryLock(ctx, name)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("lock %s: %w", name, ctx.Err())
			}
			return fmt.Errorf("lock %s: %w", name, err)
		}
		if h == nil {
			continue // lease ended or margin too short: wait again on a new lease
		}
		e.mu.Lock()
		e.held[name] = append(e.held[name], h)
		e.mu.Unlock()
		e.watch(h)
		return nil
	}
}

// tryLock waits for the lock on a new session. It returns nil, nil when the
// wait must start over: the session died while waiting, or the lease had too
// little time left once the lock was won.
func (e *Etcd) tryLock(ctx context.Context, name string) (*heldLock, error) {
	session, err := e.newSession(ctx)
	if err != nil {
		return nil, err
	}
	h := &heldLock{name: name, session: session, mutex: concurrency.NewMutex(session, e.lockKey(name)+"/")}
	// etcd's Mutex goes on waiting for its predecessors when its own lease
	// ends meanwhile; stop the wait then, and start over on a new lease.
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	stop := context.AfterFunc(session.Ctx(), cancel)
	err = h.mutex.Lock(wctx)
	stop()
	cancel()
	e.observe(ctx, err)
	if ctx.Err() == nil && (errors.Is(err, concurrency.ErrSessionExpired) || h.lost()) {
		e.endSession(session)
		return nil, nil
	}
	if err != nil {
		e.endSession(session)
		return nil, err
	}
	if !e.hasMargin(ctx, h) {
		e.release(ctx, h)
		return nil, ctx.Err()
	}
	return h, nil
}

// hasMargin reports whether h's lease has at least half of LockTTL left and
// its key is still there (the lock was not lost between winning and now).
func (e *Etcd) hasMargin(ctx context.Context, h *heldLock) bool {
	rctx, cancel := e.request(ctx)
	defer cancel()
	ttl, err := e.client.TimeToLive(rctx, h.session.Lease())
	e.observe(ctx, err)
	if err != nil || ttl.TTL <= 0 || h.lost() {
		return false
	}
	if minLeft := int64(e.opts.LockTTL.Seconds()) / 2; ttl.TTL < max(minLeft, 1) {
		return false
	}
	resp, err := e.client.Get(rctx, h.mutex.Key(), clientv3.WithCountOnly())
	return err == nil && resp.Count == 1
}

// newSession grants a lease (bounded by RequestTimeout, so a lost cluster
// fails the lock instead of hanging) and keeps it alive until the session
// is closed or Etcd is.
func (e *Etcd) newSession(ctx context.Context) (*concurrency.Session, error) {
	ttl := int((e.opts.LockTTL + 999_999_999) / 1_000_000_000)
	rctx, cancel := e.request(ctx)
	grant, err := e.client.Grant(rctx, int64(ttl))
	cancel()
	e.observe(ctx, err)
	if err != nil {
		return nil, fmt.Errorf("lease: %w", err)
	}
	session, err := concurrency.NewSession(e.client,
		concurrency.WithLease(grant.ID), concurrency.WithTTL(ttl), concurrency.WithContext(e.sessions))
	if err != nil {
		e.revoke(grant.ID)
		return nil, fmt.Errorf("keepalive: %w", err)
	}
	return session, nil
}

// watch logs once, in an owned goroutine, when h's lease ends while h is
// still held. The goroutine ends with the session: at Unlock, at Close, or
// at the loss it reports.
func (e *Etcd) watch(h *heldLock) {
	e.watchers.Add(1)
	go func() {
		defer e.watchers.Done()
		<-h.session.Done()
		e.mu.Lock()
		stillHeld := slices.Contains(e.held[h.name], h)
		e.mu.Unlock()
		if stillHeld && e.sessions.Err() == nil {
			h.logged.Do(func() {
				e.logger.Warn("lock lost: its etcd lease expired; writes under it are refused", "lock", h.name)
			})
		}
	}()
}

// Unlock releases the named lock: the caller's own key is deleted and its
// lease revoked; a newer holder's key is never touched. When this process
// has two entries for the name (see Etcd.held), the lost one goes first: its
// holder is the one failing and unlocking now. The release runs on a
// context the caller's cancellation cannot cut short.
func (e *Etcd) Unlock(ctx context.Context, name string) error {
	e.mu.Lock()
	h := e.takeHeldLocked(name)
	e.mu.Unlock()
	if h == nil {
		// Already released, e.g. by Close at shutdown before CertMagic's
		// own deferred Unlock ran: nothing is left to clean up.
		return nil
	}
	if err := e.release(context.WithoutCancel(ctx), h); err != nil {
		return fmt.Errorf("unlock %s: %w (the lock expires with its lease)", name, err)
	}
	return nil
}

// release deletes h's key and ends its session.
func (e *Etcd) release(ctx context.Context, h *heldLock) error {
	rctx, cancel := e.request(context.WithoutCancel(ctx))
	defer cancel()
	err := h.mutex.Unlock(rctx)
	e.observe(rctx, err)
	e.endSession(h.session)
	return err
}

// endSession stops a session's keepalive and revokes its lease, deleting
// any key still attached; a revoke that fails is harmless because an
// unrenewed lease expires on its own.
func (e *Etcd) endSession(s *concurrency.Session) {
	ctx, cancel := e.request(context.Background())
	defer cancel()
	s.Orphan()
	_, _ = e.client.Revoke(ctx, s.Lease())
}

// takeHeldLocked removes and returns the entry Unlock releases: a lost one
// if any, else the oldest. e.mu must be held.
func (e *Etcd) takeHeldLocked(name string) *heldLock {
	hs := e.held[name]
	if len(hs) == 0 {
		return nil
	}
	i := slices.IndexFunc(hs, (*heldLock).lost)
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

// fencedTxn applies ops in one transaction that succeeds only if every lock
// held right now is still its holder's: each holder's own waiter key exists
// with the CreateRevision it won with. CertMagic's Storage interface does
// not say which lock a write belongs to, so every held lock fences every
// write of this process; a lost one makes them fail fast with ErrLockLost
// until its holder unlocks it.
func (e *Etcd) fencedTxn(ctx context.Context, what string, ops ...clientv3.Op) error {
	var cmps []clientv3.Cmp
	e.mu.Lock()
	for name, hs := range e.held {
		for _, h := range hs {
			if h.lost() {
				e.mu.Unlock()
				return fmt.Errorf("%s: lock %s: %w", what, name, ErrLockLost)
			}
			cmps = append(cmps, h.mutex.IsOwner())
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
