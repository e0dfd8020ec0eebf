package server

import (
	"net/http"

	"github.com/tlsgate/tlsgate/internal/answer"
)

// Go's HTTP server answers 431 itself when a header block passes its
// MaxHeaderBytes, before any handler runs, so such a request would never
// reach the access log or the metrics. The HTTPS server is therefore given
// more room than limits.max_header_bytes (headerReadLimit), and tlsgate
// answers 431 for blocks between the limit and that room itself, logged
// and counted like every other answer. Only a block past the room gets
// Go's own, unlogged, 431.

// headerReadLimit is the MaxHeaderBytes the HTTPS server reads with for a
// limits.max_header_bytes of limit: twice the limit, and at least 64 KiB
// more than it.
func headerReadLimit(limit int64) int {
	return int(limit + max(limit, 64<<10))
}

// headerBlockSize is the size of r's request line and header block as
// HTTP/1.1 sends them ("Name: value\r\n" per value), whatever protocol r
// came over.
func headerBlockSize(r *http.Request) int64 {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2
	n += len("Host: ") + len(r.Host) + 2
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + 2 + len(v) + 2
		}
	}
	return int64(n + 2)
}

var headerTooLargeBody = []byte("431 Request Header Fields Too Large\n")

// headerTooLarge answers 431 and closes an HTTP/1.1 connection, as Go's
// server does for the blocks it refuses. The check runs once the site is
// chosen, so the answer is the site's 431 error page for clients that
// accept it (pages is that site's error_pages), the short text otherwise.
func headerTooLarge(w http.ResponseWriter, r *http.Request, pages *answer.Pages) {
	w.Header().Set("Connection", "close")
	pages.Error(w, r, http.StatusRequestHeaderFieldsTooLarge, headerTooLargeBody)
}
