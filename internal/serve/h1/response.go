package h1

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// bufferBeforeChunking is how much body is held before the header is
// committed (net/http's figure): a handler that ends sooner gets a
// Content-Length, a longer body goes chunked.
const bufferBeforeChunking = 2048

// response is the http.ResponseWriter of one request; it follows
// net/http's chunkWriter.writeHeader rule for rule.
type response struct {
	c      *Conn
	req    *http.Request
	body   *body // nil: no body, else &bodyv
	bodyv  body
	cancel context.CancelFunc
	header http.Header

	wroteHeader bool
	committed   bool
	handlerDone bool
	chunking    bool
	closeAfter  bool
	fullDuplex  bool
	aborted     bool
	status      int

	contentLength int64 // declared by the handler, -1 none
	written       int64
	buf           []byte // body not yet framed

	// The header as it was at WriteHeader, as net/http's snapshot: the
	// ordinary fields already serialized (hb), the ones commit decides on
	// kept aside (sp). Serializing once there costs no map clone.
	hb []byte
	sp specialHeaders

	wants10KeepAlive bool
	wantsClose       bool

	continueMu  sync.Mutex
	canContinue atomic.Bool
}

func (w *response) Header() http.Header { return w.header }

func (w *response) writeContinue() {
	if !w.canContinue.Load() {
		return
	}
	w.continueMu.Lock()
	if w.canContinue.Load() {
		w.c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		w.c.bw.Flush()
		w.canContinue.Store(false)
	}
	w.continueMu.Unlock()
}

func (w *response) disableContinue() {
	if !w.canContinue.Load() {
		return
	}
	w.continueMu.Lock()
	w.canContinue.Store(false)
	w.continueMu.Unlock()
}

func bodyAllowedForStatus(status int) bool {
	switch {
	case status >= 100 && status <= 199:
		return false
	case status == 204, status == 304:
		return false
	}
	return true
}

func (w *response) WriteHeader(code int) {
	if w.c.hijacked {
		w.c.logger().Debug("http: response.WriteHeader on hijacked connection")
		return
	}
	if w.wroteHeader {
		w.c.logger().Debug("http: superfluous response.WriteHeader call")
		return
	}
	if code < 100 || code > 999 {
		// net/http panics here; tlsgate logs and answers 500 instead.
		w.c.logger().Error("http: invalid WriteHeader code", "code", code)
		code = http.StatusInternalServerError
	}
	if code < 101 || code > 199 {
		w.disableContinue()
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		w.continueMu.Lock()
		if code == 100 {
			w.canContinue.Store(false)
		}
		bw := w.c.bw
		writeStatusLine(bw, w.req.ProtoAtLeast(1, 1), code)
		writeHeaders(bw, w.header, func(k string) bool { return k == "Content-Length" || k == "Transfer-Encoding" })
		bw.WriteString("\r\n")
		bw.Flush()
		w.continueMu.Unlock()
		return
	}
	w.wroteHeader = true
	w.status = code
	w.snapshot()
	if cl := w.sp.get(w.sp.cl); cl != "" {
		v, err := strconv.ParseInt(cl, 10, 64)
		if err == nil && v >= 0 {
			w.contentLength = v
		} else {
			w.c.logger().Debug("http: invalid Content-Length", "value", cl)
			w.header.Del("Content-Length")
			w.sp.cl, w.sp.hasCL = nil, false
		}
	}
}

// specialHeaders are the fields of the WriteHeader snapshot that commit
// may drop or replace, or reads.
type specialHeaders struct {
	cl, te, conn, ct             []string
	hasCL, hasTE, hasConn, hasCT bool
	hasDate                      bool
	trailer                      []string // the Trailer field's values
	prefixed                     bool     // a TrailerPrefix key was set
	ce, upgrade                  string
}

func (specialHeaders) get(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// snapshot takes the handler's header as WriteHeader sees it.
func (w *response) snapshot() {
	sp := &w.sp
	hb := w.c.hbuf[:0]
	for k, vv := range w.header {
		switch k {
		case "Content-Length":
			sp.cl, sp.hasCL = vv, true
			continue
		case "Transfer-Encoding":
			sp.te, sp.hasTE = vv, true
			continue
		case "Connection":
			sp.conn, sp.hasConn = vv, true
			continue
		case "Content-Type":
			sp.ct, sp.hasCT = vv, true
			continue
		case "Date":
			sp.hasDate = true
		case "Trailer":
			sp.trailer = vv
		case "Content-Encoding":
			sp.ce = sp.get(vv)
		case "Upgrade":
			sp.upgrade = sp.get(vv)
		}
		if strings.HasPrefix(k, http.TrailerPrefix) {
			sp.prefixed = true
			continue
		}
		hb = appendField(hb, k, vv)
	}
	w.hb = hb
}

// appendField appends k's lines as net/http's Header.Write does: a name
// that is not a valid token dropped, CR and LF in values made spaces.
func appendField(b []byte, k string, vv []string) []byte {
	if !httpguts.ValidHeaderFieldName(k) {
		return b
	}
	for _, v := range vv {
		if strings.ContainsAny(v, "\r\n") {
			v = headerNewlineToSpace.Replace(v)
		}
		v = textproto.TrimString(v)
		b = append(b, k...)
		b = append(b, ": "...)
		b = append(b, v...)
		b = append(b, "\r\n"...)
	}
	return b
}

func (w *response) Write(p []byte) (int, error) { return w.write(p, "") }

func (w *response) WriteString(s string) (int, error) { return w.write(nil, s) }

func (w *response) write(p []byte, s string) (int, error) {
	if w.c.hijacked {
		return 0, http.ErrHijacked
	}
	w.disableContinue()
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	n := len(p) + len(s)
	if n == 0 {
		return 0, nil
	}
	if !bodyAllowedForStatus(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.written += int64(n)
	if w.contentLength != -1 && w.written > w.contentLength {
		return 0, http.ErrContentLength
	}
	if len(w.buf)+n > bufferBeforeChunking {
		if !w.committed {
			// The header's sniffing sees the first bytes, as net/http's
			// does through its 2 KiB buffer: lend them to w.buf a moment.
			if w.buf == nil {
				w.buf = w.c.scratchBuf()
			}
			held := len(w.buf)
			if take := min(sniffLen-held, n); take > 0 {
				if p != nil {
					w.buf = append(w.buf, p[:take]...)
				} else {
					w.buf = append(w.buf, s[:take]...)
				}
			}
			w.commit()
			w.buf = w.buf[:held]
		}
		w.emit(w.buf, "")
		w.buf = w.buf[:0]
		if n > bufferBeforeChunking {
			w.emit(p, s)
			return n, w.c.cw.err
		}
	}
	if w.buf == nil {
		w.buf = w.c.scratchBuf()
	}
	w.buf = append(w.buf, p...)
	w.buf = append(w.buf, s...)
	return n, nil
}

// emit writes body bytes, framed, to the connection's buffer.
// (p, or s when p is nil).
func (w *response) emit(p []byte, s string) {
	n := len(p) + len(s)
	if n == 0 || w.req.Method == "HEAD" {
		return
	}
	bw := w.c.bw
	if w.chunking {
		var hex [16]byte
		bw.Write(strconv.AppendInt(hex[:0], int64(n), 16))
		bw.WriteString("\r\n")
	}
	if p != nil {
		bw.Write(p)
	} else {
		bw.WriteString(s)
	}
	if w.chunking {
		bw.WriteString("\r\n")
	}
}

// sniffLen is how much of a body http.DetectContentType reads.
const sniffLen = 512

// commit writes the status line and header block (net/http's
// chunkWriter.writeHeader, rule for rule), the body so far being w.buf.
func (w *response) commit() {
	if w.committed {
		return
	}
	w.committed = true
	p := w.buf
	sp := &w.sp
	isHEAD := w.req.Method == "HEAD"
	keepCL, keepTE, keepConn, keepCT := sp.hasCL, sp.hasTE, sp.hasConn, sp.hasCT
	var set extraHeader
	trailers := sp.prefixed || len(sp.trailer) > 0
	te := sp.get(sp.te)
	hasTE := te != ""
	conn := sp.get(sp.conn)
	if w.handlerDone && !trailers && !hasTE && bodyAllowedForStatus(w.status) && !sp.hasCL && (!isHEAD || len(p) > 0) {
		w.contentLength = int64(len(p))
		set.contentLength = strconv.AppendInt(w.c.clenBuf[:0], int64(len(p)), 10)
	}
	if w.wants10KeepAlive && !w.c.shutdown.Load() {
		if sp.get(sp.cl) != "" && conn == "keep-alive" {
			w.closeAfter = false
		}
	}
	hasCL := w.contentLength != -1
	if w.wants10KeepAlive && (isHEAD || hasCL || !bodyAllowedForStatus(w.status)) {
		if !sp.hasConn {
			set.connection = "keep-alive"
		}
	} else if !w.req.ProtoAtLeast(1, 1) || w.wantsClose {
		w.closeAfter = true
	}
	if conn == "close" || w.c.shutdown.Load() {
		w.closeAfter = true
	}
	if w.canContinue.Load() {
		// 100 Continue never sent: the body was not read; do not read it.
		w.disableContinue()
		w.closeAfter = true
	}
	if w.req.ContentLength != 0 && !w.closeAfter && !w.fullDuplex && w.body != nil {
		if !w.body.discard() {
			w.closeAfter = true
			keepConn = false
			set.connection = "close"
		}
	}
	if bodyAllowedForStatus(w.status) {
		if sp.ce == "" && !sp.hasCT && !hasTE && len(p) > 0 {
			set.contentType = http.DetectContentType(p)
		}
	} else {
		keepCL, keepTE = false, false
		if w.status == 304 {
			keepCT = false
		}
	}
	if !sp.hasDate {
		set.date = w.c.date()
	}
	if hasCL && hasTE && te != "identity" {
		keepCL = false
		hasCL = false
	}
	switch {
	case isHEAD || !bodyAllowedForStatus(w.status):
		keepTE = false
	case hasCL:
		keepTE = false
	case w.req.ProtoAtLeast(1, 1):
		if hasTE && te == "identity" {
			w.chunking = false
			w.closeAfter = true
			keepTE = false
		} else {
			w.chunking = true
			set.transferEncoding = "chunked"
			if hasTE && te == "chunked" {
				keepTE = false
			}
		}
	default:
		w.closeAfter = true
		keepTE = false
	}
	if w.chunking {
		keepCL = false
	}
	if w.closeAfter && !hasToken(conn, "close") && !(w.status == http.StatusSwitchingProtocols && sp.upgrade != "") {
		keepConn = false
		if w.req.ProtoAtLeast(1, 1) {
			set.connection = "close"
		}
	}
	bw := w.c.bw
	writeStatusLine(bw, w.req.ProtoAtLeast(1, 1), w.status)
	hb := w.hb
	if keepCL {
		hb = appendField(hb, "Content-Length", sp.cl)
	}
	if keepTE {
		hb = appendField(hb, "Transfer-Encoding", sp.te)
	}
	if keepConn {
		hb = appendField(hb, "Connection", sp.conn)
	}
	if keepCT {
		hb = appendField(hb, "Content-Type", sp.ct)
	}
	bw.Write(hb)
	if cap(hb) <= 8<<10 {
		w.c.hbuf = hb[:0]
	}
	w.hb = nil
	set.write(bw)
	bw.WriteString("\r\n")
}

type extraHeader struct {
	contentType, connection, transferEncoding string
	date, contentLength                       []byte
}

func (h *extraHeader) write(bw *bufio.Writer) {
	if h.contentType != "" {
		bw.WriteString("Content-Type: " + h.contentType + "\r\n")
	}
	if h.connection != "" {
		bw.WriteString("Connection: " + h.connection + "\r\n")
	}
	if h.transferEncoding != "" {
		bw.WriteString("Transfer-Encoding: " + h.transferEncoding + "\r\n")
	}
	if h.date != nil {
		bw.WriteString("Date: ")
		bw.Write(h.date)
		bw.WriteString("\r\n")
	}
	if h.contentLength != nil {
		bw.WriteString("Content-Length: ")
		bw.Write(h.contentLength)
		bw.WriteString("\r\n")
	}
}

var headerNewlineToSpace = strings.NewReplacer("\n", " ", "\r", " ")

// writeHeaders writes h as net/http's Header.Write does: names that are
// not valid tokens dropped, CR and LF in values turned into spaces.
func writeHeaders(bw *bufio.Writer, h http.Header, skip func(string) bool) {
	for k, vv := range h {
		if skip != nil && skip(k) {
			continue
		}
		if !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		for _, v := range vv {
			if strings.ContainsAny(v, "\r\n") {
				v = headerNewlineToSpace.Replace(v)
			}
			v = textproto.TrimString(v)
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
}

func writeStatusLine(bw *bufio.Writer, is11 bool, code int) {
	if is11 {
		bw.WriteString("HTTP/1.1 ")
	} else {
		bw.WriteString("HTTP/1.0 ")
	}
	if text := http.StatusText(code); text != "" {
		bw.WriteString(strconv.Itoa(code))
		bw.WriteString(" ")
		bw.WriteString(text)
		bw.WriteString("\r\n")
		return
	}
	bw.WriteString(strconv.Itoa(code))
	bw.WriteString(" status code " + strconv.Itoa(code) + "\r\n")
}

// Flush sends what the handler wrote so far (committing the header:
// chunked unless a Content-Length was set).
func (w *response) Flush() { w.FlushError() }

// FlushError is Flush that reports a write error.
func (w *response) FlushError() error {
	if w.c.hijacked {
		return http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.commit()
	w.emit(w.buf, "")
	w.buf = w.buf[:0]
	if err := w.c.bw.Flush(); err != nil {
		return err
	}
	return w.c.cw.err
}

// finish completes the response after the handler returned.
func (w *response) finish() {
	w.handlerDone = true
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.commit()
	w.emit(w.buf, "")
	w.c.putScratch(w.buf)
	w.buf = nil
	if w.chunking {
		bw := w.c.bw
		bw.WriteString("0\r\n")
		w.writeTrailers(bw)
		bw.WriteString("\r\n")
	}
	w.c.bw.Flush()
	w.closeBody()
}

func (w *response) closeBody() {
	if w.body != nil {
		w.body.finish()
	}
}

// writeTrailers writes the trailers the handler declared (Trailer) and set
// with http.TrailerPrefix, as net/http's finalTrailers.
func (w *response) writeTrailers(bw *bufio.Writer) {
	var declared []string
	for _, v := range w.sp.trailer {
		for f := range strings.SplitSeq(v, ",") {
			f = textproto.TrimString(f)
			if f == "" {
				continue
			}
			f = http.CanonicalHeaderKey(f)
			if !httpguts.ValidTrailerHeader(f) {
				continue
			}
			declared = append(declared, f)
		}
	}
	t := http.Header{}
	for _, k := range declared {
		if vv, ok := w.header[k]; ok {
			t[k] = vv
		}
	}
	for k, vv := range w.header {
		if after, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			t[http.CanonicalHeaderKey(after)] = vv
		}
	}
	writeHeaders(bw, t, nil)
}

func (w *response) reuse() bool {
	if w.closeAfter {
		return false
	}
	if w.req.Method != "HEAD" && w.contentLength != -1 && bodyAllowedForStatus(w.status) && w.contentLength != w.written {
		return false
	}
	if w.c.cw.err != nil {
		return false
	}
	if w.body != nil && w.body.earlyClose {
		return false
	}
	return true
}

// Hijack hands the connection to the handler (WebSocket).
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.handlerDone {
		return nil, nil, errors.New("h1: Hijack called after the handler returned")
	}
	if w.c.hijacked {
		return nil, nil, http.ErrHijacked
	}
	w.disableContinue()
	if w.wroteHeader {
		w.commit()
		w.emit(w.buf, "")
		w.buf = w.buf[:0]
	}
	c := w.c
	c.stopWatch()
	if err := c.bw.Flush(); err != nil {
		return nil, nil, err
	}
	if c.cr.hasByte {
		if _, err := c.br.Peek(c.br.Buffered() + 1); err != nil {
			return nil, nil, err
		}
	}
	c.hijacked = true
	c.c.SetDeadline(time.Time{})
	c.setState(http.StateHijacked)
	return c.c, bufio.NewReadWriter(c.br, c.bw), nil
}

// SetReadDeadline, SetWriteDeadline and EnableFullDuplex are found by
// http.ResponseController.
func (w *response) SetReadDeadline(t time.Time) error  { return w.c.c.SetReadDeadline(t) }
func (w *response) SetWriteDeadline(t time.Time) error { return w.c.c.SetWriteDeadline(t) }
func (w *response) EnableFullDuplex() error {
	w.fullDuplex = true
	return nil
}
