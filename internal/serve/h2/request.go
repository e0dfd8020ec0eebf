package h2

import (
	"context"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
)

// processHeadersLocked opens a stream or takes its trailers, following
// net/http's processHeaders. c.mu must be held.
func (c *Conn) processHeadersLocked(f *http2.MetaHeadersFrame) error {
	id := f.StreamID
	if id%2 != 1 {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	if st := c.streams[id]; st != nil {
		if st.state == stateHalfClosedRemote {
			return http2.StreamError{StreamID: id, Code: http2.ErrCodeStreamClosed}
		}
		return c.processTrailersLocked(st, f)
	}
	if slices.Contains(c.quiet, id) {
		return nil // trailers after our answer and before our RST_STREAM
	}
	if id <= c.maxClientID {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	c.maxClientID = id
	if c.idleTimer != nil {
		c.idleTimer.Stop()
	}
	if uint32(len(c.streams))+1 > c.maxStreams {
		// REFUSED_STREAM, never PROTOCOL_ERROR (RFC 9113 5.1.2 allows
		// either): it tells the client the request was not processed, so
		// it retries. net/http answers PROTOCOL_ERROR once its SETTINGS
		// are acknowledged, but a client can ack them while streams it
		// opened under the old limit are still on their way (x/net's does;
		// those requests then failed).
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeRefusedStream}
	}
	if f.HasPriority() && f.Priority.StreamDep == id {
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
	}

	st := &stream{
		c:          c,
		id:         id,
		state:      stateOpen,
		recvWindow: streamRecvWindow,
		sendWindow: c.peerInitWindow,
		declBody:   -1,
	}
	st.cond.L = &c.mu
	if f.StreamEnded() {
		st.state = stateHalfClosedRemote
		st.bodyErr = errNoBody
	}
	req, status, ok := c.newRequest(st, f)
	if !ok {
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
	}
	c.streams[id] = st
	if len(c.streams) == 1 {
		c.setState(http.StateActive)
	}
	st.rw.st = st
	st.rw.req = req
	st.rw.status0 = status
	return c.scheduleLocked(st)
}

// errNoBody is a bodyless request's body error; its Body is http.NoBody.
var errNoBody = http.ErrBodyNotAllowed

// newRequest builds the request of a HEADERS frame, as net/http's
// newWriterAndRequest does. status is non-zero when the engine answers
// the request itself (431, 400). ok is false for a malformed request
// (a stream error).
func (c *Conn) newRequest(st *stream, f *http2.MetaHeadersFrame) (req *http.Request, status int, ok bool) {
	var method, scheme, authority, path string
	for _, hf := range f.PseudoFields() {
		switch hf.Name {
		case ":method":
			method = hf.Value
		case ":scheme":
			scheme = hf.Value
		case ":authority":
			authority = hf.Value
		case ":path":
			path = hf.Value
		default:
			// :protocol (extended CONNECT is not offered), :status and
			// unknown pseudo-headers make the request malformed.
			return nil, 0, false
		}
	}
	if method == "CONNECT" {
		if path != "" || scheme != "" || authority == "" {
			return nil, 0, false
		}
	} else if method == "" || path == "" || (scheme != "https" && scheme != "http") {
		return nil, 0, false
	}

	regular := f.RegularFields()
	header := make(http.Header, len(regular))
	for _, hf := range regular {
		k := canonicalHeader(hf.Name)
		header[k] = append(header[k], hf.Value)
	}
	if authority == "" {
		authority = header.Get("Host")
	}
	if httpguts.HeaderValuesContainsToken(header["Expect"], "100-continue") {
		st.needsContinue = true
		delete(header, "Expect")
	}
	if cookies := header["Cookie"]; len(cookies) > 1 {
		header["Cookie"] = []string{strings.Join(cookies, "; ")}
	}
	var trailer http.Header
	for _, v := range header["Trailer"] {
		for _, key := range strings.Split(v, ",") {
			key = textproto.CanonicalMIMEHeaderKey(textproto.TrimString(key))
			switch key {
			case "Transfer-Encoding", "Trailer", "Content-Length":
			default:
				if trailer == nil {
					trailer = make(http.Header)
				}
				trailer[key] = nil
			}
		}
	}
	delete(header, "Trailer")
	if strings.IndexByte(authority, '@') != -1 && (scheme == "http" || scheme == "https") {
		return nil, 0, false
	}
	var u *url.URL
	var requestURI string
	if method == "CONNECT" {
		u = &url.URL{Host: authority}
		requestURI = authority
	} else {
		var err error
		if u, err = url.ParseRequestURI(path); err != nil {
			return nil, 0, false
		}
		requestURI = path
	}

	st.ctx, st.cancel = context.WithCancel(c.ctx)
	req = &http.Request{
		Method:     method,
		URL:        u,
		RemoteAddr: c.remoteAddr,
		Header:     header,
		RequestURI: requestURI,
		Proto:      "HTTP/2.0",
		ProtoMajor: 2,
		ProtoMinor: 0,
		Host:       authority,
		Body:       http.NoBody,
		Trailer:    trailer,
	}
	if scheme == "https" {
		req.TLS = c.tlsState
	}
	if !f.StreamEnded() {
		req.ContentLength = -1
		if vv, ok := header["Content-Length"]; ok {
			if cl, err := strconv.ParseUint(vv[0], 10, 63); err == nil {
				req.ContentLength = int64(cl)
			} else {
				req.ContentLength = 0
			}
		}
		st.declBody = req.ContentLength
		st.reqBody.st = st
		req.Body = &st.reqBody
	} else {
		st.needsContinue = false
	}
	st.reqTrailer = trailer
	if trailer != nil {
		st.trailer = make(map[string][]string)
	}
	req = req.WithContext(st.ctx)

	switch {
	case f.Truncated:
		status = http.StatusRequestHeaderFieldsTooLarge
	case !validH2RequestHeaders(header):
		status = http.StatusBadRequest
	}
	return req, status, true
}

// validH2RequestHeaders: connection-specific fields are not valid in
// HTTP/2 (RFC 9113 8.2.2); net/http answers them 400, and so do we.
func validH2RequestHeaders(h http.Header) bool {
	for _, k := range [...]string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade"} {
		if _, ok := h[k]; ok {
			return false
		}
	}
	te := h["Te"]
	return len(te) == 0 || (len(te) == 1 && (te[0] == "trailers" || te[0] == ""))
}

// processTrailersLocked takes a request's trailers. c.mu must be held.
func (c *Conn) processTrailersLocked(st *stream, f *http2.MetaHeadersFrame) error {
	if st.gotTrailers {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	st.gotTrailers = true
	if !f.StreamEnded() {
		return http2.StreamError{StreamID: st.id, Code: http2.ErrCodeProtocol}
	}
	if len(f.PseudoFields()) > 0 {
		return http2.StreamError{StreamID: st.id, Code: http2.ErrCodeProtocol}
	}
	if st.trailer != nil {
		for _, hf := range f.RegularFields() {
			key := canonicalHeader(hf.Name)
			if !httpguts.ValidTrailerHeader(key) {
				return http2.StreamError{StreamID: st.id, Code: http2.ErrCodeProtocol}
			}
			st.trailer[key] = append(st.trailer[key], hf.Value)
		}
	}
	st.endStreamLocked()
	return nil
}

// scheduleLocked starts st's handler, or queues it while as many handlers
// run as streams may be open: streams the client reset still count until
// their handlers return, which bounds a rapid reset (CVE-2023-44487) as
// net/http bounds it. c.mu must be held.
func (c *Conn) scheduleLocked(st *stream) error {
	if c.curHandlers < int(c.maxStreams) {
		c.curHandlers++
		go c.runHandler(st)
		return nil
	}
	if len(c.unstarted) > 4*int(c.maxStreams) {
		return http2.ConnectionError(http2.ErrCodeEnhanceYourCalm)
	}
	c.unstarted = append(c.unstarted, st)
	return nil
}

// handlerDoneLocked frees a handler slot and starts the next queued
// handler whose stream is still open. c.mu must be held.
func (c *Conn) handlerDoneLocked() {
	c.curHandlers--
	for len(c.unstarted) > 0 {
		st := c.unstarted[0]
		c.unstarted[0] = nil
		c.unstarted = c.unstarted[1:]
		if st.closed {
			st.cancel()
			continue
		}
		c.curHandlers++
		go c.runHandler(st)
		break
	}
	if len(c.unstarted) == 0 {
		c.unstarted = nil
	}
}

// canonicalHeader turns a lower-case h2 field name into its canonical
// http.Header key without allocating for common names.
func canonicalHeader(v string) string {
	if s, ok := commonCanonical[v]; ok {
		return s
	}
	return textproto.CanonicalMIMEHeaderKey(v)
}

// commonCanonical and commonLower: read-only tables of frequent fields.
var commonCanonical, commonLower = func() (map[string]string, map[string]string) {
	names := []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Ranges",
		"Access-Control-Allow-Credentials", "Access-Control-Allow-Headers", "Access-Control-Allow-Methods",
		"Access-Control-Allow-Origin", "Access-Control-Expose-Headers", "Access-Control-Max-Age",
		"Access-Control-Request-Headers", "Access-Control-Request-Method", "Age", "Allow", "Alt-Svc",
		"Authorization", "Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language",
		"Content-Length", "Content-Location", "Content-Range", "Content-Security-Policy", "Content-Type",
		"Cookie", "Date", "Dnt", "Etag", "Expect", "Expires", "Forwarded", "From", "Grpc-Encoding",
		"Grpc-Accept-Encoding", "Grpc-Message", "Grpc-Status", "Grpc-Timeout", "Host", "If-Match",
		"If-Modified-Since", "If-None-Match", "If-Range", "If-Unmodified-Since", "Last-Modified", "Link",
		"Location", "Max-Forwards", "Origin", "Pragma", "Priority", "Proxy-Authenticate", "Proxy-Authorization",
		"Range", "Referer", "Refresh", "Retry-After", "Sec-Ch-Ua", "Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform",
		"Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site", "Sec-Fetch-User", "Server", "Set-Cookie",
		"Strict-Transport-Security", "Te", "Trailer", "Traceparent", "Transfer-Encoding", "Upgrade",
		"Upgrade-Insecure-Requests", "User-Agent", "Vary", "Via", "Www-Authenticate", "X-Content-Type-Options",
		"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Frame-Options", "X-Powered-By",
		"X-Real-Ip", "X-Request-Id", "X-Requested-With", "X-Xss-Protection",
	}
	canon := make(map[string]string, len(names))
	lower := make(map[string]string, len(names))
	for _, n := range names {
		l := strings.ToLower(n)
		canon[l] = n
		lower[n] = l
	}
	return canon, lower
}()
