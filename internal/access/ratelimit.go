package access

import (
	"container/list"
	"fmt"
	"hash/maphash"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Rate-limit bounds. Memory is bounded by MaxKeys buckets in all (split
// evenly over rateShards LRU shards); each costs about 150 bytes plus its
// key (header keys are cut at maxKeyLen bytes), so the default holds at
// most about 10 MiB whatever the traffic. When a shard is full its least
// recently seen key is forgotten: that key starts again with a full burst,
// the price of the bound (a flood of new keys can only push out idle ones).
const (
	DefaultMaxKeys = 65536
	rateShards     = 16
	maxKeyLen      = 256
)

// RateLimitOptions configure RateLimit.
type RateLimitOptions struct {
	// Requests per Per is the refill rate; Burst is the bucket size (the
	// most requests let through at once).
	Requests int
	Per      time.Duration
	Burst    int
	// Header, when set, keys buckets by this request header's value
	// (requests without it fall back to the client IP); else by client IP,
	// IPv6 clients per /64 (one subscriber or host usually holds a whole
	// /64, so per-address keys would be free to multiply).
	Header string
	// TrustedProxies are the peers whose X-Forwarded-For names the client.
	TrustedProxies []netip.Prefix
	// MaxKeys bounds the buckets kept; zero means DefaultMaxKeys.
	MaxKeys int
	now     clock
}

// policyName names tlsgate's quota policy in the RateLimit fields.
const policyName = `"tlsgate"`

// RateLimit returns next behind a token bucket per key. Over the limit the
// answer is 429 with Retry-After (whole seconds until a token is back).
// Counts are per tlsgate instance. Every answer carries the RateLimit and
// RateLimit-Policy fields of draft-ietf-httpapi-ratelimit-headers (-10):
// the policy is the bucket, q=burst requests per w=the seconds an empty
// bucket takes to fill (so q/w is the long-run rate too).
func RateLimit(next http.Handler, o RateLimitOptions) http.Handler {
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	if o.now == nil {
		o.now = time.Now
	}
	rl := &rateLimiter{next: next, o: o, seed: maphash.MakeSeed()}
	rl.rate = float64(o.Requests) / o.Per.Seconds()
	rl.burst = float64(max(o.Burst, 1))
	rl.policy = fmt.Sprintf("%s;q=%d;w=%d", policyName, int(rl.burst), max(1, ceilSeconds(time.Duration(rl.burst/rl.rate*float64(time.Second)))))
	per := max(1, o.MaxKeys/rateShards)
	for i := range rl.shards {
		rl.shards[i] = &rateShard{max: per, keys: make(map[string]*list.Element), lru: list.New()}
	}
	return rl
}

type rateLimiter struct {
	next   http.Handler
	o      RateLimitOptions
	rate   float64 // tokens per second
	burst  float64
	policy string // the RateLimit-Policy value
	seed   maphash.Seed
	shards [rateShards]*rateShard
}

type rateShard struct {
	mu   sync.Mutex
	max  int
	keys map[string]*list.Element // of *bucket
	lru  *list.List               // front: most recently seen
}

type bucket struct {
	key    string
	tokens float64
	at     time.Time
}

func (rl *rateLimiter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := rl.key(r)
	tokens, wait, ok := rl.take(key)
	h := w.Header()
	h.Set("RateLimit-Policy", rl.policy)
	// r: whole requests left now; t: seconds until the bucket is full
	// again (the draft's "reset" of a quota).
	full := time.Duration((rl.burst - tokens) / rl.rate * float64(time.Second))
	h.Set("RateLimit", fmt.Sprintf("%s;r=%d;t=%d", policyName, int(tokens), ceilSeconds(full)))
	if !ok {
		h.Set("Retry-After", strconv.Itoa(ceilSeconds(wait)))
		writeError(w, r, http.StatusTooManyRequests, "429 Too Many Requests: slow down and retry later")
		return
	}
	rl.next.ServeHTTP(w, r)
}

func ceilSeconds(d time.Duration) int { return int(math.Ceil(d.Seconds())) }

// key is the bucket key of r: "h:VALUE" for the header, else "ip:ADDR"
// with IPv6 addresses cut to their /64.
func (rl *rateLimiter) key(r *http.Request) string {
	if rl.o.Header != "" {
		if v := r.Header.Get(rl.o.Header); v != "" {
			if len(v) > maxKeyLen {
				v = v[:maxKeyLen]
			}
			return "h:" + v
		}
	}
	ip := ClientIP(r, rl.o.TrustedProxies)
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return "ip:" + p.String()
	}
	return "ip:" + ip.String()
}

// take spends one token of key's bucket and returns the tokens left; when
// none is left it returns how long until one is.
func (rl *rateLimiter) take(key string) (float64, time.Duration, bool) {
	sh := rl.shards[maphash.String(rl.seed, key)%rateShards]
	now := rl.o.now()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var b *bucket
	if e, ok := sh.keys[key]; ok {
		sh.lru.MoveToFront(e)
		b = e.Value.(*bucket)
		b.tokens = min(rl.burst, b.tokens+now.Sub(b.at).Seconds()*rl.rate)
		b.at = now
	} else {
		if sh.lru.Len() >= sh.max {
			old := sh.lru.Back()
			sh.lru.Remove(old)
			delete(sh.keys, old.Value.(*bucket).key)
		}
		b = &bucket{key: strings.Clone(key), tokens: rl.burst, at: now}
		sh.keys[b.key] = sh.lru.PushFront(b)
	}
	if b.tokens >= 1 {
		b.tokens--
		return b.tokens, 0, true
	}
	return b.tokens, time.Duration((1 - b.tokens) / rl.rate * float64(time.Second)), false
}

// keys is how many buckets are held, for tests.
func (rl *rateLimiter) keys() int {
	n := 0
	for _, sh := range rl.shards {
		sh.mu.Lock()
		n += sh.lru.Len()
		sh.mu.Unlock()
	}
	return n
}
