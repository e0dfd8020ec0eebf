package storage

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tlsgate/tlsgate/internal/zapslog"
)

var _ certmagic.Storage = (*Etcd)(nil)

// EtcdOptions configure an Etcd storage. The zero value of each field has
// the meaning its comment gives. Fields the config has a key for have no
// default here (config/defaults.go owns it; storage.Open passes it on).
type EtcdOptions struct {
	// Endpoints are etcd client URLs or HOST:PORT pairs. Required.
	Endpoints []string

	// Prefix is put before every key; instances that share certificates
	// use the same one; a missing trailing "/" is added. "" means none.
	// Config: storage.etcd.prefix.
	Prefix string

	// Username and Password authenticate to etcd; "" for none.
	Username, Password string

	// TLS is the client TLS config (client certificate, roots). Nil means
	// plain connections, or the system roots for https:// endpoints.
	TLS *tls.Config

	// DialTimeout bounds connecting at start. Required (a positive
	// duration). Config: storage.etcd.dial_timeout.
	DialTimeout time.Duration

	// RequestTimeout bounds each request to etcd, so a lost cluster makes
	// operations fail instead of hang. Zero means 10 seconds.
	RequestTimeout time.Duration

	// LockTTL is how long a lock outlives a holder that stopped renewing
	// it (crashed, or cut off from etcd). Zero means 10 seconds.
	LockTTL time.Duration

	// HealthInterval is how often etcd is probed, so a lost or recovered
	// cluster is noticed while nothing else talks to it. Zero means 5 seconds.
	HealthInterval time.Duration

	// Logger receives health changes and lost locks. Nil discards them.
	Logger *slog.Logger
}

// Etcd is a certmagic.Storage in etcd. Values live under PREFIX/data/KEY
// and their modification times under PREFIX/meta/KEY; directories are
// implied by key prefixes, as CertMagic's Storage doc describes. Locks are
// etcd's concurrency.Mutex under PREFIX/locks/NAME/, each waiter's key
// attached to a lease of its own that the holder keeps alive: when a holder
// dies or loses etcd, its lock vanishes with the lease.
//
// Writes are fenced: while the Etcd holds any lock, Store and Delete only
// apply if every held lock's key still exists with the revision it won
// with, so a holder whose lease expired (and whose work another instance may
// have taken over) stops writing and gets ErrLockLost.
//
// Etcd is safe for concurrent use. Call Close when done.
type Etcd struct {
	client *clientv3.Client
	prefix string
	opts   EtcdOptions
	logger *slog.Logger
	health *health

	// mu guards held.
	mu sync.Mutex
	// held lists, by lock name, the locks this process holds. A name has
	// two entries only when a holder lost its lease and another goroutine
	// then took the lock: the stale entry stays until its own Unlock, so
	// its writes keep failing and it cannot release the new holder's lock.
	held map[string][]*heldLock

	// sessions is the context of every lock's lease keepalive; Close
	// cancels it. watchers counts the goroutines that report lost locks.
	sessions       context.Context
	cancelSessions context.CancelFunc
	watchers       sync.WaitGroup

	stop chan struct{}
	done chan struct{}
}

// ErrLockLost is returned by writes made while a lock this process held has
// expired: another instance may own the work now.
var ErrLockLost = errors.New("lock lost: its etcd lease expired")

// NewEtcd connects to etcd and checks that it answers within DialTimeout.
func NewEtcd(opts EtcdOptions) (*Etcd, error) {
	if len(opts.Endpoints) == 0 {
		return nil, errors.New("etcd: no endpoints")
	}
	if opts.DialTimeout <= 0 {
		return nil, errors.New("etcd: no dial timeout")
	}
	opts = opts.withDefaults()
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	tlsConf := opts.TLS
	if tlsConf == nil && slices.ContainsFunc(opts.Endpoints, func(ep string) bool { return strings.HasPrefix(ep, "https://") }) {
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	client, err := clientv3.New(clientv3.Config{
		Endpoints:   opts.Endpoints,
		DialTimeout: opts.DialTimeout,
		Username:    opts.Username,
		Password:    opts.Password,
		TLS:         tlsConf,
		// The client's own retry warnings would repeat every few hundred
		// milliseconds while etcd is down; health logs the outage once.
		Logger: zapslog.Debug(logger.With("component", "etcd-client")),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd %s: %w", strings.Join(opts.Endpoints, ","), err)
	}
	e := &Etcd{
		client: client,
		prefix: opts.Prefix,
		opts:   opts,
		logger: logger,
		held:   make(map[string][]*heldLock),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	e.sessions, e.cancelSessions = context.WithCancel(context.Background())
	e.health = &health{logger: logger, endpoints: opts.Endpoints}
	ctx, cancel := context.WithTimeout(context.Background(), opts.DialTimeout)
	defer cancel()
	if _, err := client.Get(ctx, e.prefix+"health", clientv3.WithCountOnly()); err != nil {
		e.cancelSessions()
		client.Close()
		return nil, fmt.Errorf("etcd %s: not reachable within %s: %w", strings.Join(opts.Endpoints, ","), opts.DialTimeout, err)
	}
	go e.probe()
	return e, nil
}

func (o EtcdOptions) withDefaults() EtcdOptions {
	if o.Prefix != "" && !strings.HasSuffix(o.Prefix, "/") {
		o.Prefix += "/"
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = 10 * time.Second
	}
	if o.LockTTL == 0 {
		o.LockTTL = 10 * time.Second
	}
	if o.HealthInterval == 0 {
		o.HealthInterval = 5 * time.Second
	}
	return o
}

// Close releases the locks still held, stops the health probe and closes
// the connection.
func (e *Etcd) Close() error {
	close(e.stop)
	<-e.done
	e.mu.Lock()
	var names []string
	for name, hs := range e.held {
		for range hs {
			names = append(names, name)
		}
	}
	e.mu.Unlock()
	for _, name := range names {
		_ = e.Unlock(context.Background(), name)
	}
	e.cancelSessions()
	e.watchers.Wait()
	return e.client.Close()
}

// String identifies the storage in CertMagic's logs.
func (e *Etcd) String() string {
	return fmt.Sprintf("etcd(%s, prefix %q)", strings.Join(e.opts.Endpoints, ","), e.prefix)
}

func (e *Etcd) dataKey(key string) string { return e.prefix + "data/" + key }
func (e *Etcd) metaKey(key string) string { return e.prefix + "meta/" + key }
func (e *Etcd) lockKey(name string) string {
	return e.prefix + "locks/" + name
}

// request bounds one etcd request by RequestTimeout.
func (e *Etcd) request(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.opts.RequestTimeout)
}

// observe feeds the outcome of a request to the health tracker, unless the
// caller gave up first (that says nothing about etcd).
func (e *Etcd) observe(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	e.health.observe(err)
}

// cleanKey checks a key the way CertMagic writes them: slash-separated,
// no leading or trailing slash.
func cleanKey(key string) (string, error) {
	k := strings.Trim(key, "/")
	if k == "" {
		return "", errors.New("empty storage key")
	}
	return k, nil
}

// Store puts value at key. While the Etcd holds locks, the write applies
// only if they are all still held (see Etcd).
func (e *Etcd) Store(ctx context.Context, key string, value []byte) error {
	k, err := cleanKey(key)
	if err != nil {
		return err
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	return e.fencedTxn(ctx, "store "+k,
		clientv3.OpPut(e.dataKey(k), string(value)),
		clientv3.OpPut(e.metaKey(k), now))
}

// Load returns the value at key, or an error matching fs.ErrNotExist.
func (e *Etcd) Load(ctx context.Context, key string) ([]byte, error) {
	k, err := cleanKey(key)
	if err != nil {
		return nil, err
	}
	rctx, cancel := e.request(ctx)
	defer cancel()
	resp, err := e.client.Get(rctx, e.dataKey(k))
	e.observe(ctx, err)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", k, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("load %s: %w", k, fs.ErrNotExist)
	}
	return resp.Kvs[0].Value, nil
}

// Delete removes key and, when key is a directory, everything under it.
// A missing key is not an error.
func (e *Etcd) Delete(ctx context.Context, key string) error {
	k := strings.Trim(key, "/")
	ops := []clientv3.Op{
		clientv3.OpDelete(e.dataKey(k)),
		clientv3.OpDelete(e.metaKey(k)),
		clientv3.OpDelete(e.dataKey(k)+"/", clientv3.WithPrefix()),
		clientv3.OpDelete(e.metaKey(k)+"/", clientv3.WithPrefix()),
	}
	if k == "" {
		// The root: everything under the prefix but the locks.
		ops = []clientv3.Op{
			clientv3.OpDelete(e.dataKey(""), clientv3.WithPrefix()),
			clientv3.OpDelete(e.metaKey(""), clientv3.WithPrefix()),
		}
	}
	return e.fencedTxn(ctx, "delete "+k, ops...)
}

// Exists reports whether key is a value or a directory.
func (e *Etcd) Exists(ctx context.Context, key string) bool {
	_, err := e.Stat(ctx, key)
	return err == nil
}

// Stat describes key: a value (IsTerminal, with size and modification
// time) or a directory (a prefix of other keys).
func (e *Etcd) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	k := strings.Trim(key, "/")
	rctx, cancel := e.request(ctx)
	defer cancel()
	resp, err := e.client.Txn(rctx).Then(
		clientv3.OpGet(e.dataKey(k)),
		clientv3.OpGet(e.metaKey(k)),
		clientv3.OpGet(e.dirPrefix(k), clientv3.WithPrefix(), clientv3.WithCountOnly()),
	).Commit()
	e.observe(ctx, err)
	if err != nil {
		return certmagic.KeyInfo{}, fmt.Errorf("stat %s: %w", k, err)
	}
	data := resp.Responses[0].GetResponseRange().Kvs
	meta := resp.Responses[1].GetResponseRange().Kvs
	children := resp.Responses[2].GetResponseRange().Count
	switch {
	case k != "" && len(data) > 0:
		info := certmagic.KeyInfo{Key: k, Size: int64(len(data[0].Value)), IsTerminal: true}
		if len(meta) > 0 {
			info.Modified, _ = time.Parse(time.RFC3339Nano, string(meta[0].Value))
		}
		return info, nil
	case children > 0:
		return certmagic.KeyInfo{Key: k, IsTerminal: false}, nil
	}
	return certmagic.KeyInfo{}, fmt.Errorf("stat %s: %w", k, fs.ErrNotExist)
}

// dirPrefix is the etcd prefix of everything under directory k.
func (e *Etcd) dirPrefix(k string) string {
	if k == "" {
		return e.dataKey("")
	}
	return e.dataKey(k) + "/"
}

// List returns the keys under dir as FileStorage does: with recursive, every
// value and directory below dir; without, only dir's direct children. Each
// key is returned whole (dir/child). A dir that does not exist is an error
// matching fs.ErrNotExist; a value has no children.
func (e *Etcd) List(ctx context.Context, dir string, recursive bool) ([]string, error) {
	d := strings.Trim(dir, "/")
	rctx, cancel := e.request(ctx)
	defer cancel()
	resp, err := e.client.Txn(rctx).Then(
		clientv3.OpGet(e.dirPrefix(d), clientv3.WithPrefix(), clientv3.WithKeysOnly()),
		clientv3.OpGet(e.dataKey(d), clientv3.WithCountOnly()),
	).Commit()
	e.observe(ctx, err)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", d, err)
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		if d != "" && resp.Responses[1].GetResponseRange().Count > 0 {
			return nil, nil
		}
		return nil, fmt.Errorf("list %s: %w", d, fs.ErrNotExist)
	}
	seen := make(map[string]bool)
	var keys []string
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	for _, kv := range kvs {
		rel := strings.TrimPrefix(string(kv.Key), e.dirPrefix(d))
		parts := strings.Split(rel, "/")
		if !recursive {
			add(path.Join(d, parts[0]))
			continue
		}
		// Directories are implied: list each one on the way down, as a
		// file system walk would.
		for i := range parts {
			add(path.Join(d, strings.Join(parts[:i+1], "/")))
		}
	}
	slices.Sort(keys)
	return keys, nil
}
