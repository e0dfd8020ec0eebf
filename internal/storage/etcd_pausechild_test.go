package storage

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// envPauseChild makes the test binary the waiting member of
// TestEtcdPausedWaiterNeverSecondHolder; its value is the etcd endpoint
// and prefix, "ENDPOINT PREFIX".
const envPauseChild = "TLSGATE_ETCD_PAUSE_CHILD"

// pauseChildTTL is the lock TTL of both members of that test: etcd's own
// floor for a lease (1.5 election timeouts, 2 s by default) is the
// shortest that works.
const pauseChildTTL = 2 * time.Second

// RunPauseChild makes this process the waiting member when it was started
// as one, and exits; otherwise it returns at once. TestMain calls it.
//
// It reads commands on stdin and answers on stdout, one line each:
//
//	lock NAME TAG     take the lock (in the background); once held, write the
//	                  fenced marker turns/TAG/start holding this holder's
//	                  lock key, then print "held NAME TAG"
//	unlock NAME TAG   write turns/TAG/end, unlock, print "released NAME TAG"
//	stale NAME KEY    write KEY, which must be refused (the lock was lost):
//	                  print "refused NAME KEY"
//	release NAME X    unlock without writing, print "released NAME X"
//
// Any failure prints "error ..." and the parent fails the test.
func RunPauseChild() {
	spec := os.Getenv(envPauseChild)
	if spec == "" {
		return
	}
	endpoint, prefix, _ := strings.Cut(spec, " ")
	e, err := NewEtcd(EtcdOptions{
		Endpoints: []string{endpoint}, Prefix: prefix, LockTTL: pauseChildTTL,
		RequestTimeout: 2 * time.Second, DialTimeout: 5 * time.Second,
	})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	var out sync.Mutex
	say := func(f string, args ...any) {
		out.Lock()
		defer out.Unlock()
		fmt.Printf(f+"\n", args...)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		var cmd, name, tag string
		if _, err := fmt.Sscan(sc.Text(), &cmd, &name, &tag); err != nil {
			say("error bad command %q", sc.Text())
			continue
		}
		switch cmd {
		case "lock":
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := e.Lock(ctx, name); err != nil {
					say("error lock %s: %v", name, err)
					return
				}
				if err := e.Store(ctx, "turns/"+tag+"/start", []byte(heldKey(e, name))); err != nil {
					say("error %s start marker: %v", tag, err)
					return
				}
				say("held %s %s", name, tag)
			}()
		case "stale": // tag is a storage key: write it, expecting a refusal
			if err := e.Store(ctx, tag, []byte("stale holder")); errors.Is(err, ErrLockLost) {
				say("refused %s %s", name, tag)
			} else {
				say("error stale holder's write of %s: %v (want ErrLockLost)", tag, err)
			}
		case "release": // let go of a lost lock without writing
			_ = e.Unlock(ctx, name)
			say("released %s %s", name, tag)
		case "unlock":
			if err := e.Store(ctx, "turns/"+tag+"/end", []byte(heldKey(e, name))); err != nil {
				say("error %s end marker: %v", tag, err)
			}
			if err := e.Unlock(ctx, name); err != nil {
				say("error unlock %s: %v", name, err)
			}
			say("released %s %s", name, tag)
		}
	}
	wg.Wait()
	e.Close()
	os.Exit(0)
}

// heldKey is the etcd key of the lock this Etcd holds on name ("" if none).
func heldKey(e *Etcd, name string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if hs := e.held[name]; len(hs) > 0 {
		return hs[len(hs)-1].mutex.Key()
	}
	return ""
}
