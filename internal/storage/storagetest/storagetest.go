// Package storagetest checks that a certmagic.Storage behaves as CertMagic
// expects, the way testing/fstest checks an fs.FS: every method, directory
// semantics of List, Stat and Exists, fs.ErrNotExist for missing keys, locks
// that exclude each other, and locks that outlive a crashed holder by no
// more than their TTL.
//
// Start at Run. Tests that want the crash check call RunChild from TestMain.
package storagetest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// Harness describes the storage under test.
type Harness struct {
	// New returns an empty storage for one subtest, and a spec that
	// RunChild's open function turns into the same storage in another
	// process ("" skips the crash check). Required.
	New func(t *testing.T) (s certmagic.Storage, spec string)

	// LockTTL is how long a lock may outlive a holder that was killed.
	LockTTL time.Duration
}

// Environment variables that make the test binary a lock-holding child.
const (
	envChild = "TLSGATE_STORAGETEST_CHILD"
	envLock  = "TLSGATE_STORAGETEST_LOCK"
)

// RunChild makes this process the lock holder of the crash check when it
// was started as one: it opens the storage the spec names, takes the lock,
// says so on stdout and waits to be killed. Otherwise it returns at once.
// Call it first thing in TestMain.
func RunChild(open func(spec string) (certmagic.Storage, error)) {
	spec := os.Getenv(envChild)
	if spec == "" {
		return
	}
	s, err := open(spec)
	if err == nil {
		err = s.Lock(context.Background(), os.Getenv(envLock))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "storagetest child:", err)
		os.Exit(3)
	}
	fmt.Println("locked")
	for {
		time.Sleep(time.Hour)
	}
}

// Run runs every check against storages made by h, each check in its own
// subtest on its own storage.
func Run(t *testing.T, h Harness) {
	t.Helper()
	checks := []struct {
		name string
		fn   func(*testing.T, certmagic.Storage)
	}{
		{"StoreLoad", testStoreLoad},
		{"Exists", testExists},
		{"Stat", testStat},
		{"List", testList},
		{"Delete", testDelete},
		{"ConcurrentStore", testConcurrentStore},
		{"LockExcludes", testLockExcludes},
		{"LockNamesIndependent", testLockNamesIndependent},
		{"LockHonorsContext", testLockHonorsContext},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			s, _ := h.New(t)
			c.fn(t, s)
		})
	}
	t.Run("LockExpiresWhenHolderDies", func(t *testing.T) {
		s, spec := h.New(t)
		if spec == "" {
			t.Skip("the harness gives no spec to open this storage in a child process")
		}
		testLockExpiry(t, s, spec, h.LockTTL)
	})
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func mustStore(t *testing.T, s certmagic.Storage, key, value string) {
	t.Helper()
	if err := s.Store(ctx(t), key, []byte(value)); err != nil {
		t.Fatalf("Store(%q): %v", key, err)
	}
}

func testStoreLoad(t *testing.T, s certmagic.Storage) {
	c := ctx(t)
	for _, tc := range []struct{ key, value string }{
		{"a.txt", "top level"},
		{"dir/sub/b.json", `{"x":1}`},
		{"dir/sub/b.json", "overwritten"},
		{"empty/value", ""},
		// Values are bytes, not text.
		{"bin/c.der", "\x00\xff\x00PRIVATE\n"},
	} {
		mustStore(t, s, tc.key, tc.value)
		got, err := s.Load(c, tc.key)
		if err != nil {
			t.Fatalf("Load(%q): %v", tc.key, err)
		}
		if string(got) != tc.value {
			t.Errorf("Load(%q) = %q; want %q", tc.key, got, tc.value)
		}
	}
	for _, key := range []string{"missing", "dir/missing.txt", "dir/sub/b"} {
		if _, err := s.Load(c, key); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Load(%q) error = %v; want fs.ErrNotExist", key, err)
		}
	}
	if _, err := s.Load(c, "dir/sub"); err == nil {
		t.Error("Load of a directory succeeded; want an error")
	}
}

func testExists(t *testing.T, s certmagic.Storage) {
	mustStore(t, s, "e/f/value.crt", "x")
	c := ctx(t)
	for key, want := range map[string]bool{
		"e/f/value.crt": true,
		"e/f":           true, // a directory
		"e":             true,
		"e/f/value":     false, // a string prefix, not a path prefix
		"e/f/val":       false,
		"e/fx":          false,
		"missing":       false,
	} {
		if got := s.Exists(c, key); got != want {
			t.Errorf("Exists(%q) = %v; want %v", key, got, want)
		}
	}
}

func testStat(t *testing.T, s certmagic.Storage) {
	before := time.Now()
	mustStore(t, s, "st/dir/v.json", "12345")
	c := ctx(t)
	info, err := s.Stat(c, "st/dir/v.json")
	if err != nil {
		t.Fatalf("Stat(value): %v", err)
	}
	if info.Key != "st/dir/v.json" || !info.IsTerminal || info.Size != 5 {
		t.Errorf("Stat(value) = %+v; want key st/dir/v.json, terminal, size 5", info)
	}
	// Modified is the time of the Store; the window is wide on purpose:
	// this checks that it is set and sane, not how fast Store is.
	if info.Modified.Before(before.Add(-time.Minute)) || info.Modified.After(time.Now().Add(time.Minute)) {
		t.Errorf("Stat(value).Modified = %v; want about %v", info.Modified, before)
	}
	dir, err := s.Stat(c, "st/dir")
	if err != nil {
		t.Fatalf("Stat(directory): %v", err)
	}
	if dir.IsTerminal {
		t.Errorf("Stat(directory) = %+v; want not terminal", dir)
	}
	for _, key := range []string{"st/missing", "st/dir/v"} {
		if _, err := s.Stat(c, key); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat(%q) error = %v; want fs.ErrNotExist", key, err)
		}
	}
}

func testList(t *testing.T, s certmagic.Storage) {
	for _, k := range []string{"l/a.txt", "l/sub/b.txt", "l/sub/deep/c.txt", "lx/d.txt", "l2/e.txt"} {
		mustStore(t, s, k, k)
	}
	c := ctx(t)
	for _, tc := range []struct {
		dir       string
		recursive bool
		want      []string
	}{
		{"l", false, []string{"l/a.txt", "l/sub"}},
		{"l", true, []string{"l/a.txt", "l/sub", "l/sub/b.txt", "l/sub/deep", "l/sub/deep/c.txt"}},
		{"l/sub", false, []string{"l/sub/b.txt", "l/sub/deep"}},
		{"l/sub/deep", true, []string{"l/sub/deep/c.txt"}},
	} {
		got, err := s.List(c, tc.dir, tc.recursive)
		if err != nil {
			t.Fatalf("List(%q, %v): %v", tc.dir, tc.recursive, err)
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("List(%q, %v) = %q; want %q", tc.dir, tc.recursive, got, tc.want)
		}
	}
	for _, dir := range []string{"missing", "l/su"} {
		if _, err := s.List(c, dir, false); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("List(%q) error = %v; want fs.ErrNotExist", dir, err)
		}
	}
}

func testDelete(t *testing.T, s certmagic.Storage) {
	for _, k := range []string{"d/one.txt", "d/sub/two.txt", "d/sub/deep/three.txt", "dx/keep.txt", "d2/keep.txt"} {
		mustStore(t, s, k, k)
	}
	c := ctx(t)
	if err := s.Delete(c, "d/one.txt"); err != nil {
		t.Fatalf("Delete(value): %v", err)
	}
	if s.Exists(c, "d/one.txt") {
		t.Error("value exists after Delete")
	}
	if err := s.Delete(c, "d/sub"); err != nil {
		t.Fatalf("Delete(directory): %v", err)
	}
	for _, k := range []string{"d/sub", "d/sub/two.txt", "d/sub/deep/three.txt"} {
		if s.Exists(c, k) {
			t.Errorf("%s exists after deleting its directory", k)
		}
	}
	for _, k := range []string{"dx/keep.txt", "d2/keep.txt"} {
		if !s.Exists(c, k) {
			t.Errorf("%s is gone: deleting d must not touch keys that only share its spelling", k)
		}
	}
	if err := s.Delete(c, "d/never-was"); err != nil {
		t.Errorf("Delete(missing) = %v; want nil", err)
	}
}

func testConcurrentStore(t *testing.T, s certmagic.Storage) {
	c := ctx(t)
	values := make([]string, 8)
	for i := range values {
		values[i] = strings.Repeat(fmt.Sprint(i), 4096)
	}
	errs := make(chan error, len(values)*2)
	var wg sync.WaitGroup
	for _, v := range values {
		wg.Go(func() { errs <- s.Store(c, "race/value", []byte(v)) })
		wg.Go(func() {
			if _, err := s.Load(c, "race/value"); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Store/Load: %v", err)
		}
	}
	got, err := s.Load(c, "race/value")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(values, string(got)) {
		t.Errorf("after concurrent stores the value is none of those stored (%d bytes): torn write", len(got))
	}
}

func testLockExcludes(t *testing.T, s certmagic.Storage) {
	c := ctx(t)
	name := "lock-excludes"
	var inside, most atomic.Int32
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := s.Lock(c, name); err != nil {
				errs <- err
				return
			}
			n := inside.Add(1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(20 * time.Millisecond) // widen the window a second holder would show in
			inside.Add(-1)
			errs <- s.Unlock(c, name)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("lock/unlock: %v", err)
		}
	}
	if m := most.Load(); m != 1 {
		t.Errorf("%d lockers held %q at once; want 1", m, name)
	}
}

func testLockNamesIndependent(t *testing.T, s certmagic.Storage) {
	c := ctx(t)
	if err := s.Lock(c, "name-one"); err != nil {
		t.Fatal(err)
	}
	defer s.Unlock(c, "name-one")
	if err := s.Lock(c, "name-two"); err != nil {
		t.Fatalf("lock of another name while name-one is held: %v", err)
	}
	if err := s.Unlock(c, "name-two"); err != nil {
		t.Fatal(err)
	}
}

func testLockHonorsContext(t *testing.T, s certmagic.Storage) {
	c := ctx(t)
	if err := s.Lock(c, "busy"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(c, 500*time.Millisecond)
	defer cancel()
	if err := s.Lock(short, "busy"); err == nil {
		t.Fatal("second Lock of a held name succeeded; want it to wait and give up with its context")
	}
	if err := s.Unlock(c, "busy"); err != nil {
		t.Fatal(err)
	}
	// Released: it can be taken again.
	if err := s.Lock(c, "busy"); err != nil {
		t.Fatalf("Lock after Unlock: %v", err)
	}
	if err := s.Unlock(c, "busy"); err != nil {
		t.Fatal(err)
	}
}

// testLockExpiry has a child process take a lock and kills it with
// SIGKILL, so nothing is released; another locker must get the lock once
// the dead holder's TTL has run out.
func testLockExpiry(t *testing.T, s certmagic.Storage, spec string, ttl time.Duration) {
	name := "crash-" + strings.ReplaceAll(t.Name(), "/", "-")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"="+spec, envLock+"="+name)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start lock holder: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(out).ReadString('\n')
		line <- l
	}()
	select {
	case l := <-line:
		if strings.TrimSpace(l) != "locked" {
			t.Fatalf("lock holder said %q; stderr: %s", l, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("lock holder did not take the lock; stderr: %s", stderr.String())
	}
	// While the holder lives, the lock is taken.
	busy, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	err = s.Lock(busy, name)
	cancel()
	if err == nil {
		t.Fatal("took a lock the child process holds")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	wait, cancel := context.WithTimeout(context.Background(), ttl+15*time.Second)
	defer cancel()
	if err := s.Lock(wait, name); err != nil {
		t.Fatalf("lock of a killed holder not released within its TTL (%v) and 15s slack: %v", ttl, err)
	}
	if err := s.Unlock(context.Background(), name); err != nil {
		t.Fatal(err)
	}
}
