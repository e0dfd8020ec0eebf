// Package compress compresses HTTP responses with zstd, br or gzip, as the
// client's Accept-Encoding allows. Start at Handler; Negotiate is the
// Accept-Encoding parser on its own.
package compress

import (
	"strconv"
	"strings"
)

// Negotiate picks the encoding to use from offered (in the server's order
// of preference) for an Accept-Encoding header value; "" means identity.
// The client's q-values decide first; among equal q-values the server's
// order wins. q=0 refuses an encoding, "*" stands for every encoding not
// named, and an encoding not named (with no "*") is not acceptable.
func Negotiate(accept string, offered []string) string {
	best, bestQ := "", 0.0
	for _, enc := range offered {
		q := qFor(accept, enc)
		if q > bestQ {
			best, bestQ = enc, q
		}
	}
	return best
}

// qFor is the q-value accept gives enc: its own entry, else "*", else 0.
func qFor(accept, enc string) float64 {
	star := -1.0
	for part := range strings.SplitSeq(accept, ",") {
		name, params, _ := strings.Cut(part, ";")
		name = strings.TrimSpace(name)
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil || f < 0 || f > 1 {
					f = 0 // a malformed q is not a yes
				}
				q = f
			}
		}
		switch {
		case strings.EqualFold(name, enc):
			return q
		case name == "*":
			star = q
		}
	}
	if star >= 0 {
		return star
	}
	return 0
}
