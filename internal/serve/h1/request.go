package h1

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// statusError is an answer net/http gives with a reason ("400 Bad Request:
// missing required Host header").
type statusError struct {
	code int
	text string
}

func (e statusError) Error() string { return strconv.Itoa(e.code) + " " + e.text }

var errTooLarge = errors.New("h1: request header too large")

func isUnsupportedTE(err error) bool {
	// http.ReadRequest's unsupportedTEError is unexported; its text is fixed.
	s := err.Error()
	return strings.HasPrefix(s, "too many transfer encodings") || strings.HasPrefix(s, "unsupported transfer encoding")
}

func itoa(n int) string { return strconv.Itoa(n) }

// readRequest reads one request with net/http's parser and applies the
// checks net/http's server adds (version, Host, header names and values,
// Expect).
func (c *Conn) readRequest(ctx context.Context, lastMethod string) (*response, error) {
	c.cr.limited, c.cr.remain, c.cr.hitLim = true, c.maxHeaderBytes(), false
	if lastMethod == "POST" {
		// RFC 7230 section 3 tolerance for old buggy clients.
		peek, _ := c.br.Peek(4)
		c.br.Discard(numLeadingCRorLF(peek))
	}
	// The header block is recorded for checkRequest: http.ReadRequest
	// drops the Host header, whose presence net/http's server checks.
	c.rec = c.rec[:0]
	if n := c.br.Buffered(); n > 0 {
		p, _ := c.br.Peek(n)
		c.rec = append(c.rec, p...)
	}
	c.cr.recording = true
	req, err := http.ReadRequest(c.br)
	c.cr.recording = false
	block := c.rec[:max(0, len(c.rec)-c.br.Buffered())]
	if cap(c.rec) > 8<<10 {
		defer func() { c.rec = nil }()
	}
	if err != nil {
		if c.cr.hitLim {
			return nil, errTooLarge
		}
		return nil, err
	}
	c.cr.limited = false
	c.c.SetReadDeadline(time.Time{})
	if err := checkRequest(req, block); err != nil {
		return nil, err
	}
	req.RemoteAddr = c.remote
	req.TLS = c.tlsState

	rctx, cancel := context.WithCancel(ctx)
	parsed := req
	req = req.WithContext(rctx)
	w := &response{
		c:                c,
		req:              req,
		cancel:           cancel,
		header:           make(http.Header),
		contentLength:    -1,
		wants10KeepAlive: wants10KeepAlive(req),
		wantsClose:       req.Close || hasToken(req.Header.Get("Connection"), "close"),
	}
	if req.Body != http.NoBody {
		w.bodyv = body{w: w, src: req.Body, parsed: parsed}
		w.body = &w.bodyv
		req.Body = w.body
	}
	if hasToken(req.Header.Get("Expect"), "100-continue") {
		if req.ProtoAtLeast(1, 1) && req.ContentLength != 0 && w.body != nil {
			w.canContinue.Store(true)
		}
	} else if req.Header.Get("Expect") != "" {
		w.header.Set("Connection", "close")
		w.WriteHeader(http.StatusExpectationFailed)
		w.finish()
		c.bw.Flush()
		return nil, errAnswered
	}
	if req.Method == "PRI" && req.RequestURI == "*" {
		w.closeAfter = true
	}
	return w, nil
}

// errAnswered: readRequest already answered (417) and the connection ends.
var errAnswered = errors.New("h1: answered")

// checkRequest holds net/http's server-side checks beyond the parser.
// block is the request's header block as received.
func checkRequest(req *http.Request, block []byte) error {
	// "PRI * HTTP/2.0" reaches the handler, as in net/http (which lets
	// handlers wire up their own HTTP/2 upgrade); the connection closes after.
	h2Upgrade := req.ProtoMajor == 2 && req.ProtoMinor == 0 && req.Method == "PRI" && req.RequestURI == "*"
	if req.ProtoMajor != 1 && !h2Upgrade {
		return statusError{http.StatusHTTPVersionNotSupported, "unsupported protocol version"}
	}
	// http.ReadRequest has moved the Host header to r.Host; which one
	// was sent is only unclear when r.Host is empty (no Host, or an empty
	// one) or came from an absolute-form target.
	host, haveHost := req.Host, true
	if req.Host == "" || req.URL.Host != "" {
		host, haveHost = hostHeader(block)
	}
	if req.ProtoAtLeast(1, 1) && !haveHost && req.Method != "CONNECT" && !h2Upgrade {
		return statusError{http.StatusBadRequest, "missing required Host header"}
	}
	if haveHost && !httpguts.ValidHostHeader(host) {
		return statusError{http.StatusBadRequest, "malformed Host header"}
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return statusError{http.StatusBadRequest, "invalid header name"}
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return statusError{http.StatusBadRequest, "invalid header value"}
			}
		}
	}
	return nil
}

// hostHeader finds the Host field in a header block (after the request
// line) as textproto reads it: name up to the colon, value trimmed.
func hostHeader(block []byte) (string, bool) {
	lines := bytes.Split(block, []byte("\n"))
	for _, l := range lines[min(1, len(lines)):] {
		l = bytes.TrimSuffix(l, []byte("\r"))
		name, value, ok := bytes.Cut(l, []byte(":"))
		if ok && bytes.EqualFold(name, []byte("Host")) {
			return textproto.TrimString(string(value)), true
		}
		if len(l) == 0 {
			break
		}
	}
	return "", false
}

func numLeadingCRorLF(v []byte) (n int) {
	for _, b := range v {
		if b == '\r' || b == '\n' {
			n++
			continue
		}
		break
	}
	return
}

// hasToken is net/http's (header.go): token anywhere in v between
// space, comma or tab boundaries, case-insensitively.
func hasToken(v, token string) bool {
	if len(token) > len(v) || token == "" {
		return false
	}
	if v == token {
		return true
	}
	for sp := 0; sp <= len(v)-len(token); sp++ {
		if b := v[sp]; b != token[0] && b|0x20 != token[0] {
			continue
		}
		if sp > 0 && !isTokenBoundary(v[sp-1]) {
			continue
		}
		if endPos := sp + len(token); endPos != len(v) && !isTokenBoundary(v[endPos]) {
			continue
		}
		if strings.EqualFold(v[sp:sp+len(token)], token) {
			return true
		}
	}
	return false
}

func isTokenBoundary(b byte) bool { return b == ' ' || b == ',' || b == '\t' }

func wants10KeepAlive(r *http.Request) bool {
	if r.ProtoMajor != 1 || r.ProtoMinor != 0 {
		return false
	}
	return hasToken(r.Header.Get("Connection"), "keep-alive")
}

// body wraps the parser's body: 100 Continue on the first read, the watch
// started at EOF, and no reads once the handler is done (a transport still
// holding it must not eat the next request).
type body struct {
	w   *response
	src io.ReadCloser
	// parsed is the request http.ReadRequest made, whose Trailer its body
	// fills at EOF (the handler's is a WithContext copy).
	parsed *http.Request

	mu         sync.Mutex
	closed     bool // by the handler
	done       bool // handler finished: no more reads
	sawEOF     bool
	earlyClose bool // left unread: the connection must close
}

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.done {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.sawEOF {
		return 0, io.EOF
	}
	b.w.writeContinue()
	n, err := b.src.Read(p)
	if err == io.EOF {
		b.sawEOF = true
		if b.w.req.Trailer == nil {
			b.w.req.Trailer = b.parsed.Trailer
		}
		b.w.c.bodyAtEOF()
	}
	return n, err
}

func (b *body) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

// discard reads what is left of the body, up to maxPostHandlerReadBytes;
// it reports whether the body was then at its end.
func (b *body) discard() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sawEOF {
		return true
	}
	if b.done {
		return false
	}
	_, err := io.CopyN(io.Discard, b.src, maxPostHandlerReadBytes+1)
	if err == io.EOF {
		b.sawEOF = true
		return true
	}
	b.earlyClose = true
	return false
}

func (b *body) atEOF() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sawEOF
}

// finish forbids further reads.
func (b *body) finish() {
	b.mu.Lock()
	b.done = true
	b.mu.Unlock()
}
