package edge

import (
	"io"
	"net/http"
)

// responseEditor changes a response's header once, just before it is sent.
type responseEditor interface {
	editResponse(h http.Header)
}

// editWriter is a ResponseWriter that lets ed edit the header after the
// wrapped handler has filled it and before it goes out: on the first final
// WriteHeader, Write, ReadFrom or Flush, or, for a handler that wrote
// nothing, when the handler returns (the owner calls finish).
//
// Hijack, deadlines and the rest are reached through Unwrap, which
// http.ResponseController follows. Flush is implemented here rather than
// left to Unwrap because flushing commits the header, so it must be edited
// first.
type editWriter struct {
	http.ResponseWriter
	ed     responseEditor
	edited bool
}

// finish edits the header if nothing was written; call it after the
// wrapped handler returns, when net/http is about to send an empty 200.
func (w *editWriter) finish() {
	if !w.edited {
		w.edited = true
		w.ed.editResponse(w.ResponseWriter.Header())
	}
}

func (w *editWriter) WriteHeader(code int) {
	// 1xx answers other than 101 are informational and may repeat; the
	// header is edited for the final answer only.
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.finish()
	w.ResponseWriter.WriteHeader(code)
}

func (w *editWriter) Write(b []byte) (int, error) {
	w.finish()
	return w.ResponseWriter.Write(b)
}

// ReadFrom keeps net/http's sendfile path for file responses: io.Copy uses
// the wrapped writer's ReadFrom when it has one.
func (w *editWriter) ReadFrom(r io.Reader) (int64, error) {
	w.finish()
	return io.Copy(w.ResponseWriter, r)
}

// FlushError is what http.ResponseController.Flush calls.
func (w *editWriter) FlushError() error {
	w.finish()
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Flush implements http.Flusher for handlers that assert it directly.
func (w *editWriter) Flush() { _ = w.FlushError() }

// Unwrap gives http.ResponseController the wrapped writer.
func (w *editWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
