package route

import (
	"net/http"
	"strconv"
)

// respond is the handler Respond returns; everything is computed once.
type respond struct {
	status int
	body   []byte
	header http.Header
}

// Respond returns a handler that answers every request with status, body and
// headers. Content-Type is "text/plain; charset=utf-8" unless headers set
// it. A status of 0 means 200.
func Respond(status int, body string, headers map[string]string) http.Handler {
	if status == 0 {
		status = http.StatusOK
	}
	h := make(http.Header, len(headers)+2)
	for k, v := range headers {
		h.Set(k, v)
	}
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = textPlain
	}
	if bodyAllowed(status) {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	return &respond{status: status, body: []byte(body), header: h}
}

func (rs *respond) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	for k, v := range rs.header {
		h[k] = v // shared read-only slices; see textPlain
	}
	w.WriteHeader(rs.status)
	if r.Method != http.MethodHead && bodyAllowed(rs.status) {
		w.Write(rs.body)
	}
}

// bodyAllowed reports whether a response with this status may carry a body.
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}
