package edge

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/tlsgate/tlsgate/internal/answer"
)

// BodyLimit bounds request bodies before h sees them. A Content-Length over
// max is answered 413 at once, so the upstream is never contacted. A body
// that grows past max while streaming (chunked, HTTP/2 DATA frames), or
// that stalls longer than readTimeout between two reads, fails the read:
// the proxy's upstream request is aborted with it, and the answer it would
// make (502) is replaced by 413 or 408 unless a response has already
// started. A body the client framed badly (a malformed chunk, a chunk line
// over net/http's limit) or cut short fails the same way and gets 400: the
// fault is the client's, not the upstream's. max 0 means no size limit;
// readTimeout 0 means no timeout.
func BodyLimit(h http.Handler, max int64, readTimeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if max > 0 && r.ContentLength > max {
			r.Close = true // do not read the rest of an upload nobody wants
			answer.Error(w, r, http.StatusRequestEntityTooLarge, tooLargeBody)
			return
		}
		if r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		st := &bodyState{}
		lw := &limitWriter{ResponseWriter: w, r: r, st: st}
		r.Body = &limitBody{rc: r.Body, left: max, limited: max > 0, timeout: readTimeout, ctl: http.NewResponseController(w), st: st}
		h.ServeHTTP(lw, r)
	})
}

var (
	tooLargeBody = []byte("413 Request Entity Too Large: the request body is over this route's limit\n")
	timeoutBody  = []byte("408 Request Timeout: the request body stopped arriving\n")
	badBody      = []byte("400 Bad Request: the request body is malformed or ended early\n")
)

var (
	errBodyTooLarge = errors.New("request body over the limit")
	errBodyStalled  = errors.New("request body stalled")
)

// bodyState is shared by a request's body and its response writer: the
// body records why it failed, the writer turns that into the answer.
type bodyState struct {
	mu     sync.Mutex // guards failed; the proxy may read the body on another goroutine
	failed int        // 0, 400, 413 or 408
}

func (s *bodyState) set(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed == 0 {
		s.failed = code
	}
}

func (s *bodyState) get() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

// limitBody counts and times a request body.
type limitBody struct {
	rc      io.ReadCloser
	left    int64
	limited bool
	timeout time.Duration
	ctl     *http.ResponseController
	st      *bodyState
}

func (b *limitBody) Read(p []byte) (int, error) {
	if b.limited && b.left < 0 {
		return 0, errBodyTooLarge
	}
	if b.limited && int64(len(p)) > b.left+1 {
		p = p[:b.left+1] // one byte past the limit is enough to know
	}
	if b.timeout > 0 {
		// Best effort: a writer that cannot set deadlines gets no timeout.
		_ = b.ctl.SetReadDeadline(time.Now().Add(b.timeout))
	}
	n, err := b.rc.Read(p)
	if b.timeout > 0 && err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		b.st.set(http.StatusRequestTimeout)
		return n, errBodyStalled
	}
	if err != nil && err != io.EOF && !errors.Is(err, http.ErrBodyReadAfterClose) {
		// net/http's chunked reader and a connection cut mid-body end
		// here (their errors are not exported). A read after the proxy
		// itself closed the body is not the client's doing.
		b.st.set(http.StatusBadRequest)
	}
	if b.timeout > 0 && err == io.EOF {
		_ = b.ctl.SetReadDeadline(time.Time{})
	}
	if b.limited {
		b.left -= int64(n)
		if b.left < 0 {
			b.st.set(http.StatusRequestEntityTooLarge)
			return 0, errBodyTooLarge
		}
	}
	return n, err
}

func (b *limitBody) Close() error { return b.rc.Close() }

// limitWriter replaces the answer to a request whose body failed with 400,
// 413 or 408, when no response has started yet.
type limitWriter struct {
	http.ResponseWriter
	r        *http.Request // for the site's error pages
	st       *bodyState
	wrote    bool
	replaced bool
}

func (w *limitWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	if failed := w.st.get(); failed != 0 && code >= 500 {
		w.replaced = true
		for k := range w.Header() {
			w.Header().Del(k)
		}
		body := tooLargeBody
		switch failed {
		case http.StatusRequestTimeout:
			body = timeoutBody
		case http.StatusBadRequest:
			body = badBody
		}
		answer.Error(w.ResponseWriter, w.r, failed, body)
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *limitWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.replaced {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (w *limitWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
