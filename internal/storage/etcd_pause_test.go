//go:build unix

package storage

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tlsgate/tlsgate/internal/storage/storagetest"
	"github.com/tlsgate/tlsgate/internal/testproc"
)

// TestEtcdPausedWaiterNeverSecondHolder is the failure the fleet once
// showed (two members "lock acquired" 17 ms apart): a member waiting for a
// lock is paused (SIGSTOP) past its lease's TTL, so its waiter key expires,
// and the holder releases just as it resumes (SIGCONT) — before or after
// the resume. The resumed member must wait again on a new lease and hold
// only after the holder let go. Four names at once, five pauses: 20
// handovers.
//
// Each holder, once Lock returns, writes a fenced marker turns/TAG/start
// holding its lock key, and turns/TAG/end before Unlock. Etcd's history
// then says whether two ever held at once: for every name the [start, end]
// revision ranges of successive holders must not overlap, and at each
// start revision the holder's key must be the one with the lowest
// CreateRevision under the lock's prefix (etcd's definition of the holder),
// with the fencing tokens (those CreateRevisions) rising turn by turn.
func TestEtcdPausedWaiterNeverSecondHolder(t *testing.T) {
	server := storagetest.StartEtcd(t)
	ctx := context.Background()
	const prefix = "pause/"
	holder := newTestEtcd(t, server, prefix, nil) // LockTTL 2s, as pauseChildTTL

	c := startPauseChild(t, server, prefix)
	cmd, send, waitLine := c.cmd, c.send, c.waitLine
	lockKeys := func(name string) []string {
		resp, err := holder.client.Get(ctx, holder.lockKey(name)+"/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, kv := range resp.Kvs {
			keys = append(keys, string(kv.Key))
		}
		return keys
	}

	names := []string{"issue_cert_a.test", "issue_cert_b.test", "issue_cert_c.test", "issue_cert_d.test"}
	const pauses = 5
	for round := range pauses {
		for _, name := range names {
			if err := holder.Lock(ctx, name); err != nil {
				t.Fatal(err)
			}
			tag := fmt.Sprintf("%s/%02d-0-parent", name, round)
			if err := holder.Store(ctx, "turns/"+tag+"/start", []byte(heldKey(holder, name))); err != nil {
				t.Fatalf("holder's start marker: %v", err)
			}
		}
		for _, name := range names {
			send("lock %s %s/%02d-1-child", name, name, round)
		}
		// The child waits on every name: its waiter keys are in line.
		waiting := map[string]string{}
		testproc.Eventually(t, 20*time.Second, "the child waits on every name", func() error {
			for _, name := range names {
				keys := lockKeys(name)
				if len(keys) != 2 {
					return fmt.Errorf("%s: keys %q", name, keys)
				}
				for _, k := range keys {
					if k != heldKey(holder, name) {
						waiting[name] = k
					}
				}
			}
			return nil
		})
		if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		// Past the TTL: the paused child's waiter keys expire with its lease.
		testproc.Eventually(t, 20*time.Second, "the paused child's waiter keys expire", func() error {
			for name, k := range waiting {
				if keys := lockKeys(name); len(keys) != 1 || keys[0] == k {
					return fmt.Errorf("%s: keys %q", name, keys)
				}
			}
			return nil
		})
		release := func(name string) {
			t.Helper()
			tag := fmt.Sprintf("%s/%02d-0-parent", name, round)
			if err := holder.Store(ctx, "turns/"+tag+"/end", []byte(heldKey(holder, name))); err != nil {
				t.Fatalf("holder's end marker: %v", err)
			}
			if err := holder.Unlock(ctx, name); err != nil {
				t.Fatal(err)
			}
		}
		// Half the names are released just before the resume, half just
		// after it, while the child's stale waits wake up.
		for i, name := range names {
			if (i+round)%2 == 0 {
				release(name)
			}
		}
		if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		for i, name := range names {
			if (i+round)%2 == 1 {
				release(name)
			}
		}
		for _, name := range names {
			waitLine(fmt.Sprintf("held %s %s/%02d-1-child", name, name, round))
		}
		for _, name := range names {
			send("unlock %s %s/%02d-1-child", name, name, round)
		}
		for _, name := range names {
			waitLine(fmt.Sprintf("released %s %s/%02d-1-child", name, name, round))
		}
	}

	// The history check.
	resp, err := holder.client.Get(ctx, holder.dataKey("turns/"), clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	type turn struct {
		tag, key   string
		start, end int64
	}
	turns := map[string]map[string]*turn{} // name → tag → turn
	for _, kv := range resp.Kvs {
		rest := strings.TrimPrefix(string(kv.Key), holder.dataKey("turns/"))
		name, tagEnd, _ := strings.Cut(rest, "/")
		i := strings.LastIndexByte(tagEnd, '/')
		tag, which := tagEnd[:i], tagEnd[i+1:]
		if turns[name] == nil {
			turns[name] = map[string]*turn{}
		}
		tu := turns[name][tag]
		if tu == nil {
			tu = &turn{tag: tag}
			turns[name][tag] = tu
		}
		if which == "start" {
			tu.start, tu.key = kv.ModRevision, string(kv.Value)
		} else {
			tu.end = kv.ModRevision
			if string(kv.Value) != tu.key && tu.key != "" {
				t.Errorf("%s %s: ended under lock key %s, started under %s", name, tag, kv.Value, tu.key)
			}
		}
	}
	for _, name := range names {
		var list []*turn
		for _, tu := range turns[name] {
			list = append(list, tu)
		}
		if len(list) != 2*pauses {
			t.Fatalf("%s: %d turns recorded; want %d", name, len(list), 2*pauses)
		}
		sort.Slice(list, func(i, j int) bool { return list[i].start < list[j].start })
		var lastEnd, lastToken int64
		for _, tu := range list {
			if tu.start == 0 || tu.end == 0 || tu.end < tu.start {
				t.Fatalf("%s %s: start %d, end %d", name, tu.tag, tu.start, tu.end)
			}
			if tu.start < lastEnd {
				t.Errorf("%s %s: held from revision %d, while the previous holder held until %d", name, tu.tag, tu.start, lastEnd)
			}
			first, err := holder.client.Get(ctx, holder.lockKey(name)+"/", clientv3.WithPrefix(), clientv3.WithRev(tu.start),
				clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend), clientv3.WithLimit(1))
			if err != nil {
				t.Fatal(err)
			}
			if len(first.Kvs) != 1 || string(first.Kvs[0].Key) != tu.key {
				t.Errorf("%s %s: at revision %d etcd's holder was %v, not this turn's key %s", name, tu.tag, tu.start, first.Kvs, tu.key)
				continue
			}
			if token := first.Kvs[0].CreateRevision; token <= lastToken {
				t.Errorf("%s %s: fencing token %d after %d", name, tu.tag, token, lastToken)
			} else {
				lastToken = token
			}
			lastEnd = tu.end
		}
	}
}

// pauseChild is the member process RunPauseChild runs.
type pauseChild struct {
	cmd      *exec.Cmd
	send     func(format string, args ...any)
	waitLine func(line string)
}

func startPauseChild(t *testing.T, server *storagetest.EtcdServer, prefix string) *pauseChild {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), envPauseChild+"="+server.Endpoint+" "+prefix)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	child := testproc.Start(t, cmd)
	// Cleanups run last first: resume the child before testproc stops it.
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGCONT); stdin.Close() })
	return &pauseChild{
		cmd: cmd,
		send: func(format string, args ...any) {
			t.Helper()
			if _, err := fmt.Fprintf(stdin, format+"\n", args...); err != nil {
				t.Fatalf("to the child: %v", err)
			}
		},
		waitLine: func(line string) {
			t.Helper()
			testproc.Eventually(t, 20*time.Second, "child says "+line, func() error {
				out := child.Stdout.String()
				if i := strings.Index(out, "error"); i >= 0 {
					t.Fatalf("child: %s", out[i:])
				}
				if !strings.Contains(out, line+"\n") {
					return fmt.Errorf("child stdout: %q", out)
				}
				return nil
			})
		},
	}
}

// TestEtcdPausedHolderIsFenced is what leases cannot prevent, and what
// limits it: the holder is paused (SIGSTOP) past its TTL, so a waiter takes
// the lock while the paused process still believes it holds it. Once
// resumed, every write the stale holder tries is refused (ErrLockLost),
// and the new holder's value stands. Repeated with both orders of the new
// holder's write and the stale holder's resume.
func TestEtcdPausedHolderIsFenced(t *testing.T) {
	server := storagetest.StartEtcd(t)
	ctx := context.Background()
	const prefix = "pausedholder/"
	waiter := newTestEtcd(t, server, prefix, nil)
	c := startPauseChild(t, server, prefix)
	for round := range 2 {
		name := fmt.Sprintf("issue_cert_%d.test", round)
		tag := fmt.Sprintf("%s/child", name)
		c.send("lock %s %s", name, tag)
		c.waitLine("held " + name + " " + tag)
		got := make(chan error, 1)
		go func() { got <- waiter.Lock(ctx, name) }()
		if err := c.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		// The paused holder's lease runs out and the waiter takes over.
		select {
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the waiter did not get the lock of a holder paused past its TTL")
		}
		write := func() {
			t.Helper()
			if err := waiter.Store(ctx, "certificates/"+name, []byte("new holder")); err != nil {
				t.Fatalf("the new holder cannot write: %v", err)
			}
		}
		if round == 0 {
			write()
		}
		if err := c.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		c.send("stale %s certificates/%s", name, name)
		if round == 1 {
			write()
		}
		c.waitLine("refused " + name + " certificates/" + name)
		if v, err := waiter.Load(ctx, "certificates/"+name); err != nil || string(v) != "new holder" {
			t.Fatalf("value after the stale holder's try: %q, %v; want the new holder's", v, err)
		}
		c.send("release %s x", name)
		c.waitLine("released " + name + " x")
		if err := waiter.Unlock(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
}
