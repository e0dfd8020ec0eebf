// Package answer writes the short plain-text answers tlsgate makes itself
// (404, 413, 502, 504...), so every one carries the same headers and none
// carries a Go error string: the body is always one of the caller's own
// fixed texts.
package answer

import "net/http"

// Shared read-only header values: assigning them avoids a slice per answer.
// They are never modified.
var (
	textPlain = []string{"text/plain; charset=utf-8"}
	nosniff   = []string{"nosniff"}
)

// Text answers status with body as text/plain, marked nosniff so a browser
// never reads it as anything else. It replaces a Content-Type already set.
func Text(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = textPlain
	h["X-Content-Type-Options"] = nosniff
	w.WriteHeader(status)
	w.Write(body)
}
