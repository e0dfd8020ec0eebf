// Package urlpath owns the one rule for a clean request path: what route
// matching compares, and what proxy's strip_prefix strips from. Both ask it,
// so a path that matched a route is the path that is stripped.
package urlpath

import (
	"path"
	"strings"
)

// IsClean reports whether p is already clean: it starts with "/" and has
// no empty, "." or ".." segment. It does not allocate.
func IsClean(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		rest := p[i+1:]
		switch {
		case strings.HasPrefix(rest, "/"),
			rest == ".", strings.HasPrefix(rest, "./"),
			rest == "..", strings.HasPrefix(rest, "../"):
			return false
		}
	}
	return true
}

// Clean returns p as path.Clean("/"+p) would, but keeps a trailing slash,
// and returns p itself (no allocation) when it is already clean, the
// common case.
func Clean(p string) string {
	if IsClean(p) {
		return p
	}
	c := path.Clean("/" + p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}
