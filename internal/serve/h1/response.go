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
	body   *body // nil: no body
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

	// header snapshot at WriteHeader
	snap http.Header

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
	if len(w.header) > 0 {
		w.snap = w.header.Clone()
	}
	if cl := w.header.Get("Content-Length"); cl != "" {
		v, err := strconv.ParseInt(cl, 10, 64)
		if err == nil && v >= 0 {
			w.contentLength = v
		} else {
			w.c.logger().Debug("http: invalid Content-Length", "value", cl)
			w.header.Del("Content-Length")
			if w.snap != nil {
				w.snap.Del("Content-Length")
			}
		}
	}
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
			// does through its 2 KiB buffer.
			w.buf = append(w.buf, p...)
			w.buf = append(w.buf, s...)
			w.commit()
			w.emit(w.buf)
			w.buf = w.buf[:0]
			return n, w.c.cw.err
		}
		w.emit(w.buf)
		w.buf = w.buf[:0]
		if n > bufferBeforeChunking {
			if p != nil {
				w.emit(p)
			} else {
				w.emit([]byte(s))
			}
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
func (w *response) emit(p []byte) {
	if len(p) == 0 || w.req.Method == "HEAD" {
		return
	}
	bw := w.c.bw
	if w.chunking {
		bw.WriteString(strconv.FormatInt(int64(len(p)), 16))
		bw.WriteString("\r\n")
		bw.Write(p)
		bw.WriteString("\r\n")
		return
	}
	bw.Write(p)
}

func (w *response) hdr() http.Header {
	if w.snap != nil {
		return w.snap
	}
	return w.header
}

// commit writes the status line and header block (net/http's
// chunkWriter.writeHeader), the body so far being w.buf.
func (w *response) commit() {
	if w.committed {
		return
	}
	w.committed = true
	p := w.buf
	header := w.hdr()
	isHEAD := w.req.Method == "HEAD"
	exclude := map[string]bool(nil)
	del := func(k string) {
		if _, ok := header[k]; !ok {
			return
		}
		if exclude == nil {
			exclude = make(map[string]bool)
		}
		exclude[k] = true
	}
	var set extraHeader
	trailers := false
	for k := range header {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			del(k)
			trailers = true
		}
	}
	if len(header["Trailer"]) > 0 {
		trailers = true
	}
	te := header.Get("Transfer-Encoding")
	hasTE := te != ""
	if w.handlerDone && !trailers && !hasTE && bodyAllowedForStatus(w.status) && header.Get("Content-Length") == "" && (!isHEAD || len(p) > 0) {
		w.contentLength = int64(len(p))
		set.contentLength = strconv.AppendInt(nil, int64(len(p)), 10)
	}
	if w.wants10KeepAlive && !w.c.shutdown.Load() {
		if header.Get("Content-Length") != "" && header.Get("Connection") == "keep-alive" {
			w.closeAfter = false
		}
	}
	hasCL := w.contentLength != -1
	if w.wants10KeepAlive && (isHEAD || hasCL || !bodyAllowedForStatus(w.status)) {
		if _, ok := header["Connection"]; !ok {
			set.connection = "keep-alive"
		}
	} else if !w.req.ProtoAtLeast(1, 1) || w.wantsClose {
		w.closeAfter = true
	}
	if header.Get("Connection") == "close" || w.c.shutdown.Load() {
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
			del("Connection")
			set.connection = "close"
		}
	}
	if bodyAllowedForStatus(w.status) {
		_, haveType := header["Content-Type"]
		if header.Get("Content-Encoding") == "" && !haveType && !hasTE && len(p) > 0 {
			set.contentType = http.DetectContentType(p)
		}
	} else {
		del("Content-Length")
		del("Transfer-Encoding")
		if w.status == 304 {
			del("Content-Type")
		}
	}
	if _, ok := header["Date"]; !ok {
		set.date = time.Now().UTC().AppendFormat(w.c.dateBuf[:0], http.TimeFormat)
	}
	if hasCL && hasTE && te != "identity" {
		del("Content-Length")
		hasCL = false
	}
	switch {
	case isHEAD || !bodyAllowedForStatus(w.status):
		del("Transfer-Encoding")
	case hasCL:
		del("Transfer-Encoding")
	case w.req.ProtoAtLeast(1, 1):
		if hasTE && te == "identity" {
			w.chunking = false
			w.closeAfter = true
			del("Transfer-Encoding")
		} else {
			w.chunking = true
			set.transferEncoding = "chunked"
			if hasTE && te == "chunked" {
				del("Transfer-Encoding")
			}
		}
	default:
		w.closeAfter = true
		del("Transfer-Encoding")
	}
	if w.chunking {
		del("Content-Length")
	}
	if w.closeAfter && !hasToken(header.Get("Connection"), "close") && !isProtocolSwitch(w.status, header) {
		del("Connection")
		if w.req.ProtoAtLeast(1, 1) {
			set.connection = "close"
		}
	}
	bw := w.c.bw
	writeStatusLine(bw, w.req.ProtoAtLeast(1, 1), w.status)
	writeHeaders(bw, header, func(k string) bool { return exclude[k] })
	set.write(bw)
	bw.WriteString("\r\n")
}

func isProtocolSwitch(status int, h http.Header) bool {
	return status == http.StatusSwitchingProtocols && h.Get("Upgrade") != ""
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
	w.emit(w.buf)
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
	w.emit(w.buf)
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
	for _, v := range w.hdr()["Trailer"] {
		for f := range strings.SplitSeq(v, ",") {
			f = textproto.TrimString(f)
			if f == "" {
				continue
			}
			f = http.CanonicalHeaderKey(f)
			switch f {
			case "Transfer-Encoding", "Trailer", "Content-Length":
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
		w.emit(w.buf)
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
