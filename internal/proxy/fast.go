package proxy

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
)

// The fast path. httputil.ReverseProxy is general: per request it clones
// the whole request (header map included), canonicalises every header name
// it deletes, installs a ClientTrace (two contexts), parses the response's
// media type and copies the response headers with Header.Add. Under
// keep-alive load that was a seventh of tlsgate's CPU. For the requests the
// lean HTTP/1.1 client takes anyway (fastEligible: no body, no upgrade, no
// hop-by-hop header, a query ReverseProxy would not rewrite) on a route
// whose upstreams are all plain http:// or unix:, fastPath.serve does what
// ReverseProxy does with one map built once: the outbound header map shares
// the client's value slices, the route's forwarding rules are the same
// function (handler.rewriteOut), the balancer is the same (upstream choice,
// health, retries, cookies, timeouts), 1xx answers reach the client through
// an informer instead of a ClientTrace, the response headers go into
// w.Header() by assignment, and the body is copied with ReverseProxy's
// flush rules. Everything else, and every request with lean_h1 off, goes
// through ReverseProxy as before.

// informer receives the 1xx responses of one request (103 Early Hints).
type informer interface {
	got1xx(code int, header http.Header) error
}

// fastPath is a route's fast path.
type fastPath struct {
	h *handler
	b *balancer
	t *Transport
}

// allLean reports whether every upstream goes through pool (plain HTTP/1.1,
// so the lean client can take its bodyless requests).
func allLean(ups []*upstream, pool *h1Pool) bool {
	for _, up := range ups {
		if p, ok := up.rt.(*h1Pool); !ok || p != pool {
			return false
		}
	}
	return len(ups) > 0
}

// isHopByHop reports whether k is one of the hop-by-hop headers
// ReverseProxy removes from requests and responses (its hopHeaders).
func isHopByHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// fastEligible reports whether the fast path serves r: nothing that
// ReverseProxy would rewrite in a way the fast path does not (Te: trailers,
// an upgrade, a query it re-encodes) and nothing the lean client hands to
// http.Transport (a body, Expect). Connection (close, keep-alive) and the
// other hop-by-hop headers are dropped on the way, as ReverseProxy does.
func fastEligible(r *http.Request) bool {
	if r.ContentLength != 0 || r.Method == http.MethodConnect {
		return false
	}
	for k := range r.Header {
		switch k {
		// Dropped hop-by-hop headers are fine (outbound drops them); these
		// ReverseProxy rewrites or the lean client does not take.
		case "Upgrade", "Te", "Trailer", "Transfer-Encoding", "Expect":
			return false
		}
	}
	return !queryNeedsCleaning(r.URL.RawQuery)
}

// queryNeedsCleaning reports whether ReverseProxy's cleanQueryParams would
// re-encode q: it holds a semicolon or a bad percent escape.
func queryNeedsCleaning(q string) bool {
	for i := 0; i < len(q); {
		switch q[i] {
		case ';':
			return true
		case '%':
			if i+2 >= len(q) || !isHex(q[i+1]) || !isHex(q[i+2]) {
				return true
			}
			i += 3
		default:
			i++
		}
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// noUserAgent makes the lean writer send no User-Agent, as ReverseProxy
// does for a request without one. Read only.
var noUserAgent = []string{""}

// fastReq is one request's 1xx informer: like ReverseProxy's ClientTrace,
// it writes nothing once the round trip has returned (http.Transport, where
// the lean client falls back to it, may still be reading then).
//
// It also holds the outbound request and its URL, so one allocation
// serves all three.
type fastReq struct {
	w    http.ResponseWriter
	mu   sync.Mutex
	done bool
	out  http.Request
	url  url.URL
}

func (f *fastReq) got1xx(code int, header http.Header) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return nil
	}
	h := f.w.Header()
	copyHeader(h, header)
	f.w.WriteHeader(code)
	// As ReverseProxy: WriteHeader does not clear the map after a 1xx.
	clear(h)
	return nil
}

func (f *fastReq) finish() {
	f.mu.Lock()
	f.done = true
	f.mu.Unlock()
}

// serve proxies r, which fastEligible accepted.
func (f *fastPath) serve(w http.ResponseWriter, r *http.Request) {
	inf := &fastReq{w: w}
	out := f.outbound(r, inf)
	resp, err := f.b.roundTrip(out, inf)
	inf.finish()
	if err != nil {
		f.h.serveError(w, out, err)
		return
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// Nothing asked for an upgrade (ReverseProxy refuses it too).
		resp.Body.Close()
		f.h.serveError(w, out, errUnsolicited101)
		return
	}
	announced := len(resp.Trailer)
	writeHead(w.Header(), resp)
	w.WriteHeader(resp.StatusCode)
	if err := f.copyBody(w, resp, immediateFlush(resp)); err != nil {
		resp.Body.Close()
		if served(r) {
			// As ReverseProxy: the answer is cut short, so the client
			// connection must not look complete. Servers recover this.
			panic(http.ErrAbortHandler)
		}
		return
	}
	resp.Body.Close() // now, so resp.Trailer is complete
	writeTrailers(w, resp, announced)
}

// outbound is ReverseProxy's outbound request for r, made in in: a shallow copy with
// its own URL and header map, without the client's forwarding headers,
// rewritten by the route's rules; hop-by-hop headers and those Connection
// names are left out, as ReverseProxy removes them. The header values are the client's
// slices: nothing on the way appends to them in place.
func (f *fastPath) outbound(r *http.Request, in *fastReq) *http.Request {
	out := &in.out
	*out = *r
	in.url = *r.URL
	out.URL = &in.url
	out.Body = nil
	out.GetBody = nil
	out.Close = false
	h := make(http.Header, len(r.Header)+6)
	for k, v := range r.Header {
		switch k {
		case hdrForwarded, hdrXFF, hdrXFHost, hdrXFProto:
			continue
		}
		if !isHopByHop(k) {
			h[k] = v
		}
	}
	if conn := r.Header["Connection"]; len(conn) > 0 {
		dropConnectionListed(h, conn)
	}
	out.Header = h
	f.h.rewriteOut(r, out)
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = noUserAgent
	}
	return out
}

// writeHead puts resp's end-to-end headers into dst, the ResponseWriter's
// map (which middleware may have filled already), and announces resp's
// trailers as ReverseProxy does. resp.Header is the response's own, so its
// slices move over without a copy.
func writeHead(dst http.Header, resp *http.Response) {
	src := resp.Header
	if conn := src["Connection"]; len(conn) > 0 {
		dropConnectionListed(src, conn)
	}
	for k, vv := range src {
		if len(vv) == 0 || isHopByHop(k) {
			continue
		}
		if prior, ok := dst[k]; ok {
			dst[k] = append(prior, vv...)
		} else {
			dst[k] = vv
		}
	}
	if len(resp.Trailer) > 0 {
		keys := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		dst.Add("Trailer", strings.Join(keys, ", "))
	}
}

// dropConnectionListed removes from h the headers a Connection header
// (conn) names (RFC 9110, 7.6.1), as ReverseProxy does.
func dropConnectionListed(h http.Header, conn []string) {
	for _, v := range conn {
		for name := range strings.SplitSeq(v, ",") {
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
}

// immediateFlush reports whether every write of resp's body is flushed at
// once: an event stream or a body of unknown length, ReverseProxy's rule
// (route FlushInterval is 0, so the rest is not flushed before the end).
func immediateFlush(resp *http.Response) bool {
	if resp.ContentLength == -1 {
		return true
	}
	// The canonical key, as http.ReadResponse stores it: Header.Get would
	// canonicalise it again on every response.
	ct := resp.Header["Content-Type"]
	return len(ct) > 0 && isEventStream(ct[0])
}

// isEventStream is mime.ParseMediaType(ct) == "text/event-stream" without
// its allocations for the common values; one with parameters is parsed,
// since a malformed parameter makes ReverseProxy not see an event stream.
func isEventStream(ct string) bool {
	typ, params, _ := strings.Cut(ct, ";")
	if !strings.EqualFold(textproto.TrimString(typ), "text/event-stream") {
		return false
	}
	if strings.TrimSpace(params) == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "text/event-stream"
}

// copyBody copies resp's body to w in ReverseProxy's 32 KiB buffers,
// flushing after the headers and every write when flush is set. An error
// means the answer was cut short: the upstream's body broke off or the
// client went away.
func (f *fastPath) copyBody(w http.ResponseWriter, resp *http.Response, flush bool) error {
	var rc *http.ResponseController
	if flush {
		rc = http.NewResponseController(w)
		if !bodyReady(resp.Body) {
			// The headers now, as ReverseProxy's first timer does, since
			// the first bytes of the body may take a while. When they are
			// here already, they go with the headers: that is the race
			// ReverseProxy's timer usually loses, and a Content-Type can
			// still be sniffed.
			_ = rc.Flush()
		}
	}
	bp := bufferPool{&f.t.buffers}
	buf := bp.Get()
	defer bp.Put(buf)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			nw, werr := w.Write(buf[:n])
			if werr != nil {
				return werr
			}
			if nw != n {
				return io.ErrShortWrite
			}
			if flush {
				_ = rc.Flush()
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			if !errors.Is(rerr, context.Canceled) {
				f.h.log.Warn("upstream response body broke off", "route", f.h.name, "error", rerr)
			}
			return rerr
		}
	}
}

// bodyReady reports whether the first bytes of a lean response body have
// arrived already, so reading them does not wait for the upstream.
func bodyReady(body io.Reader) bool {
	if c, ok := body.(*countedBody); ok {
		body = c.ReadCloser
	}
	b, ok := body.(*h1Body)
	return ok && b.state.Load() == stateOpen && b.br != nil && b.br.Buffered() > 0
}

// writeTrailers copies resp's trailers to w after the body, as ReverseProxy
// does: under the names announced before the body, or with
// http.TrailerPrefix for ones the upstream added later.
func writeTrailers(w http.ResponseWriter, resp *http.Response, announced int) {
	if len(resp.Trailer) == 0 {
		return
	}
	// Chunked, so net/http does not compute a Content-Length and send
	// the trailers nowhere.
	_ = http.NewResponseController(w).Flush()
	if len(resp.Trailer) == announced {
		copyHeader(w.Header(), resp.Trailer)
		return
	}
	h := w.Header()
	for k, vv := range resp.Trailer {
		k = http.TrailerPrefix + k
		for _, v := range vv {
			h.Add(k, v)
		}
	}
}

func copyHeader(dst, src http.Header) {
	for k, vv := range src {
		for _, v := range vv {
			dst.Add(k, v)
		}
	}
}

// served reports whether r came through a server that recovers
// http.ErrAbortHandler by closing the connection: net/http sets
// ServerContextKey, tlsgate's own engine and HTTP/3 LocalAddrContextKey.
// A handler called directly (a test) gets an error return instead.
func served(r *http.Request) bool {
	ctx := r.Context()
	return ctx.Value(http.ServerContextKey) != nil || ctx.Value(http.LocalAddrContextKey) != nil
}

// send is one attempt on rt, with 1xx responses going to inf when set.
func send(rt http.RoundTripper, req *http.Request, inf informer) (*http.Response, error) {
	if p, ok := rt.(*h1Pool); ok {
		return p.roundTrip(req, inf)
	}
	return rt.RoundTrip(traced(req, inf))
}

// traced returns req with a ClientTrace that passes 1xx responses to inf,
// for http.Transport; req itself when inf is nil.
func traced(req *http.Request, inf informer) *http.Request {
	if inf == nil {
		return req
	}
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		return inf.got1xx(code, http.Header(h))
	}}
	return req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
}
