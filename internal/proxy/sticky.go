package proxy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"

	"github.com/tlsgate/tlsgate/internal/access"
)

// StickyCookie is the cookie lb: cookie keeps a client's upstream in.
const StickyCookie = "tlsgate_upstream"

// cookieTag is the opaque value naming up on route: an HMAC of both under
// the process's key, so the cookie never reveals an address and a client
// cannot pick an upstream the proxy did not hand it.
func cookieTag(key []byte, route, raw string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(route))
	m.Write([]byte{0})
	m.Write([]byte(raw))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// setCookie is the Set-Cookie line that sticks a client to the upstream
// tagged tag, for path.
func setCookie(tag, path string) string {
	c := http.Cookie{Name: StickyCookie, Value: tag, Path: path, HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode}
	return c.String()
}

// fromCookie returns the upstream the request's cookie names, or nil.
// A site with several cookie routes sends several cookies of that name;
// each route finds its own.
func (b *balancer) fromCookie(req *http.Request) *upstream {
	for _, c := range req.CookiesNamed(StickyCookie) {
		for _, up := range b.ups {
			if hmac.Equal([]byte(c.Value), []byte(up.tag)) {
				return up
			}
		}
	}
	return nil
}

// rendezvous orders the upstreams for ip_hash: by a hash of the client
// address and each upstream (highest random weight), those in rotation
// first. Every client keeps its upstream while that upstream stays in
// rotation; when one leaves, only its clients move, each to its own
// second choice.
func (b *balancer) rendezvous(req *http.Request, buf []*upstream) []*upstream {
	ip := access.ClientIP(req, b.trusted)
	key := ip.AsSlice()
	var scores [8]uint64
	sc := scores[:0]
	for _, up := range b.ups {
		buf = append(buf, up)
		sc = append(sc, mix(fnv64(fnv64(fnvOffset, key), []byte(up.raw))))
	}
	// Insertion sort by score, highest first: n is small.
	for i := 1; i < len(buf); i++ {
		for j := i; j > 0 && sc[j] > sc[j-1]; j-- {
			sc[j], sc[j-1] = sc[j-1], sc[j]
			buf[j], buf[j-1] = buf[j-1], buf[j]
		}
	}
	// Stable partition: in rotation first, keeping the score order.
	var now int64
	var rest [8]*upstream
	down := rest[:0]
	k := 0
	for _, up := range buf {
		if up.available(&now) {
			buf[k] = up
			k++
		} else {
			down = append(down, up)
		}
	}
	copy(buf[k:], down)
	return buf
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnv64(h uint64, b []byte) uint64 {
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return h
}

// mix is splitmix64's finaliser: FNV alone spreads similar inputs poorly.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
