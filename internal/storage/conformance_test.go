package storage_test

import (
	"encoding/json"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/tlsgate/tlsgate/internal/storage"
	"github.com/tlsgate/tlsgate/internal/storage/storagetest"
)

func TestMain(m *testing.M) {
	storagetest.RunChild(openSpec)
	storage.RunPauseChild()
	os.Exit(m.Run())
}

// spec says how to open a storage in the crash check's child process.
type spec struct {
	Kind     string        `json:"kind"` // file | etcd
	Path     string        `json:"path,omitempty"`
	Endpoint string        `json:"endpoint,omitempty"`
	Prefix   string        `json:"prefix,omitempty"`
	TTL      time.Duration `json:"ttl,omitempty"`
	Key      []byte        `json:"key,omitempty"` // wrap in Encrypted with this key
}

func (s spec) String() string {
	b, _ := json.Marshal(s)
	return string(b)
}

func openSpec(text string) (certmagic.Storage, error) {
	var s spec
	if err := json.Unmarshal([]byte(text), &s); err != nil {
		return nil, err
	}
	var st certmagic.Storage
	switch s.Kind {
	case "file":
		st = &certmagic.FileStorage{Path: s.Path}
	case "etcd":
		e, err := storage.NewEtcd(storage.EtcdOptions{Endpoints: []string{s.Endpoint}, Prefix: s.Prefix, LockTTL: s.TTL, DialTimeout: 5 * time.Second})
		if err != nil {
			return nil, err
		}
		st = e
	default:
		return nil, fmt.Errorf("unknown kind %q", s.Kind)
	}
	if s.Key != nil {
		return storage.NewEncrypted(st, s.Key)
	}
	return st, nil
}

// open opens s for a test and closes it at cleanup.
func open(t *testing.T, s spec) certmagic.Storage {
	t.Helper()
	st, err := openSpec(s.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if e, ok := unwrap(st).(*storage.Etcd); ok {
			e.Close()
		}
	})
	return st
}

func unwrap(s certmagic.Storage) certmagic.Storage {
	if e, ok := s.(*storage.Encrypted); ok {
		return e.Unwrap()
	}
	return s
}

// fileStorageLockTTL is how long CertMagic's FileStorage takes to call a
// lock stale (two freshness intervals of 5s).
const fileStorageLockTTL = 10 * time.Second

// etcdLockTTL is short so the crash check is quick; etcd's minimum TTL for
// its default election timeout is about 2s.
const etcdLockTTL = 2 * time.Second

func testKey(t *testing.T) []byte {
	t.Helper()
	key, err := storage.NewKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestConformance(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		t.Parallel()
		storagetest.Run(t, storagetest.Harness{LockTTL: fileStorageLockTTL,
			New: func(t *testing.T) (certmagic.Storage, string) {
				s := spec{Kind: "file", Path: t.TempDir()}
				return open(t, s), s.String()
			}})
	})
	t.Run("encrypted-file", func(t *testing.T) {
		t.Parallel()
		key := testKey(t)
		storagetest.Run(t, storagetest.Harness{LockTTL: fileStorageLockTTL,
			New: func(t *testing.T) (certmagic.Storage, string) {
				s := spec{Kind: "file", Path: t.TempDir(), Key: key}
				return open(t, s), s.String()
			}})
	})
	server := storagetest.StartEtcd(t)
	var n atomic.Int64
	etcdHarness := func(key []byte) storagetest.Harness {
		return storagetest.Harness{LockTTL: etcdLockTTL,
			New: func(t *testing.T) (certmagic.Storage, string) {
				s := spec{Kind: "etcd", Endpoint: server.Endpoint, Prefix: fmt.Sprintf("test%d/", n.Add(1)), TTL: etcdLockTTL, Key: key}
				return open(t, s), s.String()
			}}
	}
	t.Run("etcd", func(t *testing.T) {
		t.Parallel()
		storagetest.Run(t, etcdHarness(nil))
	})
	t.Run("encrypted-etcd", func(t *testing.T) {
		t.Parallel()
		storagetest.Run(t, etcdHarness(testKey(t)))
	})
}
