package edge

import (
	"net/http"
	"strconv"
	"time"
)

// hsts is the wrapper HSTS returns.
type hsts struct {
	next  http.Handler
	value []string // read-only, shared by every response
}

// HSTS wraps next, adding Strict-Transport-Security to responses of
// requests that came over TLS (browsers ignore it over plain HTTP, and
// RFC 6797 says not to send it there).
func HSTS(next http.Handler, maxAge time.Duration, includeSubdomains, preload bool) http.Handler {
	v := "max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10)
	if includeSubdomains {
		v += "; includeSubDomains"
	}
	if preload {
		v += "; preload"
	}
	return &hsts{next: next, value: []string{v}}
}

func (h *hsts) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS != nil {
		w.Header()["Strict-Transport-Security"] = h.value
	}
	h.next.ServeHTTP(w, r)
}
