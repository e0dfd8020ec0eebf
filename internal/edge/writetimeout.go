package edge

import (
	"net/http"
	"time"
)

// WriteTimeout bounds how long one write (or flush) of h's response may
// wait for a client that does not read: past d the write fails, the
// HTTP/2 stream is reset or the HTTP/1.1 connection closed, and a proxy
// action cancels its upstream request. The deadline is set before each
// write and lifted after it, so a response that is slow to come (a
// stream, server-sent events) is never cut; only a client that stops
// reading is. Without it, a client with a zero flow-control window holds
// each stream's handler and upstream connection for as long as it keeps
// the connection open. d 0 means no timeout.
func WriteTimeout(h http.Handler, d time.Duration) http.Handler {
	if d <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&timeoutWriter{ResponseWriter: w, ctl: http.NewResponseController(w), d: d}, r)
	})
}

// timeoutWriter puts a deadline around each write and flush.
type timeoutWriter struct {
	http.ResponseWriter
	ctl *http.ResponseController
	d   time.Duration
}

func (w *timeoutWriter) Write(p []byte) (int, error) {
	// Best effort: a writer that cannot set deadlines gets no timeout.
	if w.ctl.SetWriteDeadline(time.Now().Add(w.d)) != nil {
		return w.ResponseWriter.Write(p)
	}
	n, err := w.ResponseWriter.Write(p)
	if err == nil {
		_ = w.ctl.SetWriteDeadline(time.Time{})
	}
	return n, err
}

// FlushError flushes under the same deadline (http.ResponseController
// and ReverseProxy call it).
func (w *timeoutWriter) FlushError() error {
	if w.ctl.SetWriteDeadline(time.Now().Add(w.d)) != nil {
		return w.ctl.Flush()
	}
	err := w.ctl.Flush()
	if err == nil {
		_ = w.ctl.SetWriteDeadline(time.Time{})
	}
	return err
}

// Unwrap lets http.ResponseController reach Hijack and deadlines.
func (w *timeoutWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
