package h2

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// responseWriter is the http.ResponseWriter of a stream. It is used by
// the handler's goroutine only; what it shares with the connection is
// under c.mu.
type responseWriter struct {
	st      *stream
	req     *http.Request
	status0 int // the engine answers this status itself (431, 400)

	header      http.Header
	status      int
	wroteHeader bool
	sentHeader  bool
	handlerDone bool
	declLen     int64 // the handler's Content-Length, -1 none
	wrote       int64
	trailers    []string // declared trailer keys
	buf         *buffer  // body bytes not yet framed
}

var (
	_ http.ResponseWriter = (*responseWriter)(nil)
	_ http.Flusher        = (*responseWriter)(nil)
)

var errStreamClosed = errors.New("h2: stream closed")

// runHandler is a stream's handler goroutine.
func (c *Conn) runHandler(st *stream) {
	rw := &st.rw
	defer func() {
		if e := recover(); e != nil {
			if e != http.ErrAbortHandler {
				c.log.Error("h2: handler panic", "remote", c.remoteAddr, "panic", fmt.Sprint(e))
			}
			c.mu.Lock()
			if !st.closed {
				c.resetStreamLocked(st.id, http2.ErrCodeInternal, errStreamClosed)
				c.flushLocked()
			}
			rw.releaseLocked()
			c.handlerDoneLocked()
			c.mu.Unlock()
			return
		}
	}()
	switch rw.status0 {
	case 0:
		c.handler.ServeHTTP(rw, rw.req)
	case http.StatusRequestHeaderFieldsTooLarge:
		rw.WriteHeader(http.StatusRequestHeaderFieldsTooLarge)
		io.WriteString(rw, "<h1>HTTP Error 431</h1><p>Request Header Field(s) Too Large</p>")
	default:
		http.Error(rw, "Bad Request: connection-specific header in HTTP/2", http.StatusBadRequest)
	}
	rw.finish()
}

// Header returns the response header map.
func (w *responseWriter) Header() http.Header {
	if w.header == nil {
		w.header = make(http.Header)
	}
	return w.header
}

// WriteHeader records the status; a 1xx status is sent at once, as many
// times as the handler sends one.
func (w *responseWriter) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if w.wroteHeader || w.handlerDone {
		return
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		c := w.st.c
		c.mu.Lock()
		if !w.st.closed && c.werr == nil {
			c.hsink.b = c.hsink.b[:0]
			c.encodeLocked(":status", statusString(code))
			for _, k := range sortedKeys(w.header) {
				c.encodeFieldsLocked(k, w.header[k])
			}
			c.appendHeaderBlockLocked(w.st.id, false)
			c.flushLocked()
		}
		c.mu.Unlock()
		return
	}
	w.wroteHeader = true
	w.status = code
	w.declLen = -1
	if cl := w.header.Get("Content-Length"); cl != "" {
		if v, err := strconv.ParseInt(cl, 10, 64); err == nil && v >= 0 {
			w.declLen = v
		}
	}
}

// Write buffers p, framing it as DATA past 4 KiB.
func (w *responseWriter) Write(p []byte) (int, error) {
	if w.handlerDone {
		return 0, errors.New("h2: Write after the handler returned")
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.wrote += int64(len(p))
	if w.declLen >= 0 && w.wrote > w.declLen {
		return 0, errors.New("h2: handler wrote more than the declared Content-Length")
	}
	if w.buf == nil {
		w.buf = respPool.Get().(*buffer)
	}
	if len(w.buf.b)+len(p) <= handlerChunkSize {
		w.buf.b = append(w.buf.b, p...)
		return len(p), nil
	}
	if len(w.buf.b) > 0 {
		if err := w.writeChunk(w.buf.b, false); err != nil {
			return 0, err
		}
		w.buf.b = w.buf.b[:0]
	}
	if len(p) >= handlerChunkSize {
		if err := w.writeChunk(p, false); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	w.buf.b = append(w.buf.b, p...)
	return len(p), nil
}

// WriteString is Write without a conversion for the caller.
func (w *responseWriter) WriteString(s string) (int, error) {
	return w.Write([]byte(s))
}

var respPool = sync.Pool{New: func() any { return &buffer{b: make([]byte, 0, handlerChunkSize)} }}

// Flush sends the header and what is buffered.
func (w *responseWriter) Flush() { w.FlushError() }

// FlushError is Flush with its error, for http.ResponseController.
func (w *responseWriter) FlushError() error {
	if w.handlerDone {
		return errStreamClosed
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	var p []byte
	if w.buf != nil {
		p = w.buf.b
	}
	err := w.writeChunk(p, false)
	if w.buf != nil {
		w.buf.b = w.buf.b[:0]
	}
	if err == nil && !w.sentHeader {
		err = errStreamClosed
	}
	return err
}

// SetReadDeadline bounds the request body's reads (http.ResponseController).
func (w *responseWriter) SetReadDeadline(t time.Time) error {
	st := w.st
	st.c.mu.Lock()
	defer st.c.mu.Unlock()
	if st.closed {
		return nil
	}
	setTimer(&st.rdTimer, t, st.onReadTimeout)
	return nil
}

// SetWriteDeadline bounds the response: past it the stream is reset.
func (w *responseWriter) SetWriteDeadline(t time.Time) error {
	st := w.st
	st.c.mu.Lock()
	defer st.c.mu.Unlock()
	if st.closed {
		return nil
	}
	if !t.IsZero() {
		st.wrDur = time.Until(t)
	}
	setTimer(&st.wrTimer, t, st.onWriteTimeout)
	return nil
}

// EnableFullDuplex: HTTP/2 is always full duplex.
func (w *responseWriter) EnableFullDuplex() error { return nil }

// CloseNotify is the deprecated http.CloseNotifier.
func (w *responseWriter) CloseNotify() <-chan bool {
	ch := make(chan bool, 1)
	ctx := w.st.ctx
	go func() { <-ctx.Done(); ch <- true }()
	return ch
}

func setTimer(t **time.Timer, at time.Time, f func()) {
	if at.IsZero() {
		if *t != nil {
			(*t).Stop()
		}
		return
	}
	d := time.Until(at)
	if *t == nil {
		*t = time.AfterFunc(d, f)
		return
	}
	(*t).Reset(d)
}

// finish ends the response once the handler returned.
func (w *responseWriter) finish() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.handlerDone = true
	var p []byte
	if w.buf != nil {
		p = w.buf.b
	}
	w.writeChunk(p, true)
	c := w.st.c
	c.mu.Lock()
	w.releaseLocked()
	c.handlerDoneLocked()
	c.mu.Unlock()
}

func (w *responseWriter) releaseLocked() {
	if w.buf != nil {
		putBuffer(&respPool, w.buf)
		w.buf = nil
	}
	st := w.st
	if !st.closed {
		// The handler is gone; the response ended (END_STREAM or RST).
		c := st.c
		c.resetStreamLocked(st.id, http2.ErrCodeNo, errStreamClosed)
		c.flushLocked()
	}
	st.cancel()
}

// writeChunk sends the header (once) and p; final ends the stream, after
// trailers when there are some. Follows net/http's writeChunk.
func (w *responseWriter) writeChunk(p []byte, final bool) error {
	st := w.st
	c := st.c
	isHead := w.req.Method == "HEAD"
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.closed || st.sentEnd {
		return st.writeErrLocked()
	}
	if c.werr != nil {
		return c.werr
	}
	if !w.sentHeader {
		w.sentHeader = true
		endStream := (final && !w.hasTrailers() && len(p) == 0) || isHead
		c.writeResponseHeaderLocked(w, p, final, isHead, endStream)
		if endStream {
			c.sentEndLocked(st)
			c.flushLocked()
			return nil
		}
	}
	if isHead {
		c.flushLocked()
		return nil
	}
	if len(p) == 0 && !final {
		c.flushLocked()
		return nil
	}
	trailers := final && w.hasNonemptyTrailers()
	endStream := final && !trailers
	if len(p) > 0 || endStream {
		if err := c.writeDataLocked(st, p, endStream); err != nil {
			return err
		}
	}
	if trailers {
		c.hsink.b = c.hsink.b[:0]
		for _, k := range w.trailers {
			if vv := w.header[k]; len(vv) > 0 {
				c.encodeFieldsLocked(k, vv)
			} else if vv := w.header[http.TrailerPrefix+k]; len(vv) > 0 {
				c.encodeFieldsLocked(k, vv)
			}
		}
		c.appendHeaderBlockLocked(st.id, true)
		c.sentEndLocked(st)
	}
	c.flushLocked()
	return nil
}

func (st *stream) writeErrLocked() error {
	if st.closeErr != nil && st.closeErr != errStreamClosed {
		return st.closeErr
	}
	return errStreamClosed
}

// sentEndLocked: our END_STREAM is queued. A stream the client still
// sends on is reset with NO_ERROR, as net/http does, so it stops.
func (c *Conn) sentEndLocked(st *stream) {
	st.sentEnd = true
	if st.state == stateHalfClosedRemote {
		c.closeStreamLocked(st, errStreamClosed)
		return
	}
	// The RST_STREAM goes out in the write after the one carrying the
	// response, as net/http's does: curl (7.88) reading both in one
	// record reports a stream error instead of the answer. Until then the
	// client's DATA and trailers on it are dropped quietly.
	st.resetSent = true
	c.closeStreamLocked(st, errStreamClosed)
	c.pendingRST = append(c.pendingRST, st.id)
	c.quiet = append(c.quiet, st.id)
}

// writeDataLocked frames p as DATA within the client's windows, waiting
// for window (and for buffer room behind a slow flush). c.mu must be held.
func (c *Conn) writeDataLocked(st *stream, p []byte, end bool) error {
	for {
		if st.closed {
			return st.writeErrLocked()
		}
		if c.werr != nil {
			return c.werr
		}
		if len(p) == 0 {
			c.appendDataLocked(st.id, nil, true)
			c.sentEndLocked(st)
			return nil
		}
		n := int64(min(len(p), c.peerMaxFrame))
		n = min(n, st.sendWindow, c.sendWindow)
		if n <= 0 || (c.flushing && c.wbuf != nil && len(c.wbuf.b) >= maxWriteBuffer) {
			c.flushLocked()
			if st.closed || c.werr != nil {
				continue
			}
			n = min(int64(min(len(p), c.peerMaxFrame)), st.sendWindow, c.sendWindow)
			if n <= 0 || (c.flushing && c.wbuf != nil && len(c.wbuf.b) >= maxWriteBuffer) {
				st.waiting = true
				c.nWaiting++
				st.cond.Wait()
				c.nWaiting--
				st.waiting = false
			}
			continue
		}
		last := end && int(n) == len(p)
		c.appendDataLocked(st.id, p[:n], last)
		st.sendWindow -= n
		c.sendWindow -= n
		p = p[n:]
		if len(p) == 0 {
			if last {
				c.sentEndLocked(st)
			}
			return nil
		}
	}
}

func (w *responseWriter) hasTrailers() bool { return len(w.trailers) > 0 }

func (w *responseWriter) hasNonemptyTrailers() bool {
	w.promoteTrailers()
	for _, k := range w.trailers {
		if len(w.header[k]) > 0 || len(w.header[http.TrailerPrefix+k]) > 0 {
			return true
		}
	}
	return false
}

// promoteTrailers adds keys set with http.TrailerPrefix to the declared
// trailers, once the handler is done.
func (w *responseWriter) promoteTrailers() {
	if !w.handlerDone {
		return
	}
	for k := range w.header {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			w.declareTrailer(name)
		}
	}
}

func (w *responseWriter) declareTrailer(k string) {
	k = http.CanonicalHeaderKey(k)
	if !httpguts.ValidTrailerHeader(k) {
		return
	}
	if !slices.Contains(w.trailers, k) {
		w.trailers = append(w.trailers, k)
	}
}

// writeResponseHeaderLocked encodes the response HEADERS. c.mu must be
// held.
func (c *Conn) writeResponseHeaderLocked(w *responseWriter, p []byte, final, isHead, endStream bool) {
	h := w.header
	var clen string
	if v := h.Get("Content-Length"); v != "" {
		if _, err := strconv.ParseUint(v, 10, 63); err == nil {
			clen = v
		}
	}
	if clen == "" && final && bodyAllowed(w.status) && (len(p) > 0 || !isHead) {
		clen = strconv.Itoa(len(p))
	}
	var ctype string
	_, hasCT := h["Content-Type"]
	if !hasCT && h.Get("Content-Encoding") == "" && bodyAllowed(w.status) && len(p) > 0 {
		ctype = http.DetectContentType(p)
	}
	for _, v := range h["Trailer"] {
		for _, k := range strings.Split(v, ",") {
			if k = textprotoTrim(k); k != "" {
				w.declareTrailer(k)
			}
		}
	}
	if v, ok := h["Connection"]; ok && len(v) > 0 && v[0] == "close" {
		c.shutdown = true
		c.goAwayLocked(http2.ErrCodeNo, nil)
	}
	if final {
		w.promoteTrailers()
	}

	c.hsink.b = c.hsink.b[:0]
	c.encodeLocked(":status", statusString(w.status))
	for _, k := range sortedKeys(h) {
		switch k {
		case "Content-Length", "Connection", "Trailer":
			if k == "Trailer" {
				c.encodeFieldsLocked(k, h[k])
			}
			continue
		}
		if strings.HasPrefix(k, http.TrailerPrefix) || slices.Contains(w.trailers, k) {
			continue
		}
		c.encodeFieldsLocked(k, h[k])
	}
	if ctype != "" {
		c.encodeLocked("content-type", ctype)
	}
	if clen != "" {
		c.encodeLocked("content-length", clen)
	}
	if _, ok := h["Date"]; !ok {
		c.encodeLocked("date", c.date.get(time.Now()))
	}
	c.appendHeaderBlockLocked(w.st.id, endStream)
}

// writeContinueLocked sends 100 Continue on the first body read.
func (c *Conn) writeContinueLocked(st *stream) {
	c.hsink.b = c.hsink.b[:0]
	c.encodeLocked(":status", "100")
	c.appendHeaderBlockLocked(st.id, false)
	c.flushLocked()
}

func (c *Conn) encodeLocked(k, v string) {
	c.henc.WriteField(hpack.HeaderField{Name: k, Value: v})
}

// encodeFieldsLocked encodes one header key's values the way net/http's
// encodeHeaders does: lower-case ASCII names, invalid fields dropped.
func (c *Conn) encodeFieldsLocked(k string, vv []string) {
	lk, ok := lowerHeader(k)
	if !ok || !httpguts.ValidHeaderFieldName(lk) {
		return
	}
	isTE := lk == "transfer-encoding"
	for _, v := range vv {
		if !httpguts.ValidHeaderFieldValue(v) || (isTE && v != "trailers") {
			continue
		}
		c.henc.WriteField(hpack.HeaderField{Name: lk, Value: v})
	}
}

func lowerHeader(k string) (string, bool) {
	if l, ok := commonLower[k]; ok {
		return l, true
	}
	for i := 0; i < len(k); i++ {
		if k[i] >= 0x80 {
			return "", false
		}
	}
	return strings.ToLower(k), true
}

func textprotoTrim(s string) string { return strings.TrimSpace(s) }

func sortedKeys(h http.Header) []string {
	if len(h) == 0 {
		return nil
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func statusString(code int) string {
	switch code {
	case 200:
		return "200"
	case 204:
		return "204"
	case 206:
		return "206"
	case 301:
		return "301"
	case 302:
		return "302"
	case 304:
		return "304"
	case 400:
		return "400"
	case 403:
		return "403"
	case 404:
		return "404"
	case 500:
		return "500"
	case 502:
		return "502"
	case 503:
		return "503"
	}
	return strconv.Itoa(code)
}

// bodyAllowed: 1xx, 204 and 304 have no body.
func bodyAllowed(status int) bool {
	switch {
	case status >= 100 && status <= 199:
		return false
	case status == 204, status == 304:
		return false
	}
	return true
}
