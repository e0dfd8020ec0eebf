package access

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Bounds of the verified-credential cache. bcrypt costs tens of
// milliseconds per check by design; caching a SHA-256 of user+password for
// a verified pair makes repeat requests cheap. The trade-off: for CacheTTL
// after a success, a process memory dump holds fast-to-check digests, and a
// password removed from the config takes effect at once (a reload builds a
// new cache) but one changed in users_file only at reload.
const (
	DefaultCacheSize = 1024
	DefaultCacheTTL  = 5 * time.Minute
)

// BasicAuthOptions configure BasicAuth.
type BasicAuthOptions struct {
	// Realm names the protected area in the browser's prompt.
	Realm string
	// Users maps user names to bcrypt hashes.
	Users map[string][]byte
	// KeepAuthorization forwards the Authorization header upstream; by
	// default it is removed once checked.
	KeepAuthorization bool
	// PassPreflight lets CORS preflights through without credentials; set
	// it when next is a CORS handler, which answers them itself (browsers
	// never send credentials on a preflight).
	PassPreflight bool
	// CacheSize and CacheTTL bound the verified-credential cache; zero
	// means DefaultCacheSize and DefaultCacheTTL, negative CacheSize none.
	CacheSize int
	CacheTTL  time.Duration
	now       clock
}

// BasicAuth returns next behind RFC 7617 basic authentication: a request
// without valid credentials gets 401 and a WWW-Authenticate challenge; one
// with them reaches next carrying the user (see User) and, unless
// KeepAuthorization, without its Authorization header.
func BasicAuth(next http.Handler, o BasicAuthOptions) http.Handler {
	size, ttl := o.CacheSize, o.CacheTTL
	if size == 0 {
		size = DefaultCacheSize
	}
	if ttl <= 0 {
		ttl = DefaultCacheTTL
	}
	now := o.now
	if now == nil {
		now = time.Now
	}
	b := &basicAuth{next: next, o: o, cache: newCredCache(size, ttl, now)}
	// Unknown users are checked against a hash of the highest cost in use,
	// so a wrong name costs the same bcrypt work as a wrong password (no
	// user enumeration by timing). It is made at the first unknown name.
	cost := 0
	for _, h := range o.Users {
		if c, err := bcrypt.Cost(h); err == nil && c > cost {
			cost = c
		}
	}
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	b.dummy = sync.OnceValue(func() []byte {
		h, err := bcrypt.GenerateFromPassword([]byte("tlsgate dummy password"), cost)
		if err != nil { // cost is a valid one from above
			return nil
		}
		return h
	})
	b.challenge = fmt.Sprintf("Basic realm=%q, charset=\"UTF-8\"", o.Realm)
	return b
}

type basicAuth struct {
	next      http.Handler
	o         BasicAuthOptions
	challenge string
	cache     *credCache
	dummy     func() []byte
}

func (b *basicAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if b.o.PassPreflight && IsPreflight(r) {
		b.next.ServeHTTP(w, r)
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok || !b.verify(user, pass) {
		w.Header().Set("WWW-Authenticate", b.challenge)
		writeError(w, r, http.StatusUnauthorized, "401 Unauthorized: this site needs a user name and password")
		return
	}
	if !b.o.KeepAuthorization {
		r.Header.Del("Authorization")
	}
	b.next.ServeHTTP(w, WithUser(r, user))
}

func (b *basicAuth) verify(user, pass string) bool {
	digest := sha256.Sum256([]byte(user + "\x00" + pass))
	if b.cache.has(digest) {
		return true
	}
	hash, known := b.o.Users[user]
	if !known {
		hash = b.dummy()
	}
	// Always run bcrypt, known or not, so both take the same time.
	ok := bcrypt.CompareHashAndPassword(hash, []byte(pass)) == nil && known
	if ok {
		b.cache.add(digest)
	}
	return ok
}

// credCache remembers digests of verified credentials, at most size of
// them for at most ttl each; when full, the oldest entry goes.
type credCache struct {
	mu    sync.Mutex
	size  int
	ttl   time.Duration
	now   clock
	at    map[[32]byte]time.Time
	order [][32]byte // insertion order, for eviction
}

func newCredCache(size int, ttl time.Duration, now clock) *credCache {
	return &credCache{size: size, ttl: ttl, now: now, at: make(map[[32]byte]time.Time)}
}

func (c *credCache) has(d [32]byte) bool {
	if c.size <= 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.at[d]
	if !ok {
		return false
	}
	if c.now().Sub(t) > c.ttl {
		delete(c.at, d)
		return false
	}
	return true
}

func (c *credCache) add(d [32]byte) {
	if c.size <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.at[d]; !ok {
		for len(c.order) > 0 && len(c.at) >= c.size {
			delete(c.at, c.order[0])
			c.order = c.order[1:]
		}
		c.order = append(c.order, d)
	}
	c.at[d] = c.now()
	if len(c.order) > 2*c.size { // drop keys already expired or deleted
		kept := c.order[:0]
		for _, k := range c.order {
			if _, ok := c.at[k]; ok {
				kept = append(kept, k)
			}
		}
		c.order = kept
	}
}

// HtpasswdError is a bad line in an htpasswd file.
type HtpasswdError struct {
	File string
	Line int
	Msg  string
}

func (e *HtpasswdError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// ReadHtpasswd reads an htpasswd file; see ParseHtpasswd.
func ReadHtpasswd(path string) (map[string][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read users_file: %w", err)
	}
	defer f.Close()
	return ParseHtpasswd(path, f)
}

// ParseHtpasswd parses htpasswd lines "user:HASH" where every hash is
// bcrypt ($2a$, $2b$, $2y$, as `htpasswd -B` writes). Blank lines and lines
// starting with # are skipped. Other hash types (MD5 $apr1$, SHA {SHA},
// crypt) are errors naming the line, never silently accepted. name labels
// errors.
func ParseHtpasswd(name string, r io.Reader) (map[string][]byte, error) {
	users := make(map[string][]byte)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	var errs []error
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		switch {
		case !ok || user == "":
			errs = append(errs, &HtpasswdError{name, n, "not a user:hash line"})
		case !isBcrypt(hash):
			errs = append(errs, &HtpasswdError{name, n, fmt.Sprintf("the hash of %q is not bcrypt; only bcrypt is accepted, make it with `htpasswd -B` or `tlsgate hash-password`", user)})
		case users[user] != nil:
			errs = append(errs, &HtpasswdError{name, n, fmt.Sprintf("user %q is listed twice", user)})
		default:
			users[user] = []byte(hash)
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return users, nil
}

// isBcrypt reports whether hash is a well-formed bcrypt hash that the
// bcrypt package accepts.
func isBcrypt(hash string) bool {
	if len(hash) != 60 || !bytes.HasPrefix([]byte(hash), []byte("$2")) {
		return false
	}
	_, err := bcrypt.Cost([]byte(hash))
	return err == nil
}
