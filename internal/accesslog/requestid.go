package accesslog

import (
	"crypto/rand"
	"encoding/hex"
)

// HeaderRequestID is the canonical form of X-Request-ID.
const HeaderRequestID = "X-Request-Id"

// RequestID returns the ID for a request that sent got: kept when the peer
// is a trusted proxy and got is 1–128 characters of [A-Za-z0-9._-] (so it
// is safe in any log format), else a new random one.
func RequestID(got string, trusted bool) string {
	if trusted && validID(got) {
		return got
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

func validID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
