package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
)

// MaxReplayBody is the largest request body kept in memory so a request
// can be retried on another upstream. A bigger body (or one of unknown
// length that grows past it) streams to the first upstream as it arrives
// and is never retried, except after a refused connect, which reads none
// of it. On a retryable request, a response body of known length up to
// this size is also read whole before it is passed on, so an upstream
// that dies mid-answer is retried too.
const MaxReplayBody = 64 << 10

// idempotent reports whether RFC 9110 lets a request with this method be
// sent again: GET, HEAD, OPTIONS, PUT and DELETE (TRACE is never proxied
// usefully). POST and PATCH are not, whatever happened.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// prepareBody readies req for attempts on up to n upstreams. canRetry
// reports whether it may be sent again after it may have reached an
// upstream; replay, when not nil, is the whole body to send each time.
// A body that is not kept is made to survive a refused connect, which
// http.Transport answers by closing it.
func (b *balancer) prepareBody(req *http.Request, n int) (replay []byte, canRetry bool, err error) {
	hasBody := req.Body != nil && req.Body != http.NoBody
	canRetry = b.retries > 0 && n > 1 && idempotent(req.Method)
	if !hasBody || n == 1 {
		return nil, canRetry, nil
	}
	if canRetry && req.ContentLength <= MaxReplayBody {
		buf, complete, err := readUpTo(req.Body, MaxReplayBody)
		if err != nil {
			return nil, false, err
		}
		if complete {
			// GetBody lets http.Transport itself resend on a kept-alive
			// connection the upstream had closed.
			req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
			return buf, true, nil
		}
		// Too big to keep: send what was read, then the rest, once.
		req.Body = noClose{io.MultiReader(bytes.NewReader(buf), req.Body)}
		return nil, false, nil
	}
	// ReverseProxy closes the body it made (captured before this), and
	// the transport may still read this one after we return, so it is
	// not swapped back.
	req.Body = noClose{req.Body}
	return nil, false, nil
}

// readUpTo reads r until EOF or until more than max bytes arrived.
// complete reports EOF within max.
func readUpTo(r io.Reader, max int) (buf []byte, complete bool, err error) {
	buf = make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(cap(buf), max+1-len(buf)))
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case errors.Is(err, io.EOF):
			return buf, len(buf) <= max, nil
		case err != nil:
			return nil, false, err
		case len(buf) > max:
			return buf, false, nil
		}
	}
}

// retryStatus reports whether an upstream's answer is one the route
// retries (retry_on).
func (b *balancer) retryStatus(code int) bool { return slices.Contains(b.retryOn, code) }

// failStatus reports whether an answer counts against passive health.
func failStatus(code int) bool {
	return code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

// isTimeout reports whether err is a timeout (the route's timeout for the
// response headers): the budget for retries is spent.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// keepable reports whether resp's body is small and of known length, so
// it is read whole before the client sees anything and an upstream that
// dies mid-body costs a retry, not a broken answer.
func keepable(req *http.Request, resp *http.Response) bool {
	return req.Method != http.MethodHead && resp.ContentLength > 0 && resp.ContentLength <= MaxReplayBody
}

// keepBody reads resp's body into memory, or fails when the upstream
// sends less than its Content-Length.
func keepBody(resp *http.Response) error {
	buf := make([]byte, resp.ContentLength)
	_, err := io.ReadFull(resp.Body, buf)
	if err == nil {
		// Read on to the end, so trailers (HTTP/2 allows them after a
		// Content-Length body) are in resp.Trailer when ReverseProxy
		// copies them.
		_, err = io.CopyN(io.Discard, resp.Body, 1)
		if errors.Is(err, io.EOF) {
			err = nil
		}
	}
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("reading the response body: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(buf))
	return nil
}
