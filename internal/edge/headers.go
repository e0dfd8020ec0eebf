package edge

import (
	"net/http"
	"slices"
	"strings"

	"github.com/tlsgate/tlsgate/internal/config"
)

// headerValue is one header to set. value is shared by every request and
// response and must never be modified; its capacity is 1, so an Add by a
// later handler copies it instead of writing into it.
type headerValue struct {
	key   string // canonical
	value []string
}

// headerEdits is one direction's edits: remove these, then set those.
type headerEdits struct {
	remove []string // canonical
	set    []headerValue
}

func (e *headerEdits) empty() bool { return len(e.remove) == 0 && len(e.set) == 0 }

func (e *headerEdits) apply(h http.Header) {
	for _, k := range e.remove {
		delete(h, k)
	}
	for _, s := range e.set {
		h[s.key] = s.value
	}
}

// headers is the wrapper Headers returns. It is read-only after Headers.
type headers struct {
	next http.Handler
	req  headerEdits
	// host is the request Host to set, when request edits set "Host"
	// (net/http keeps it in Request.Host, not in the header map).
	host string
	resp headerEdits
}

// Headers wraps next with a site's header edits and security headers.
//
// Request edits (h.Request: remove, then set) change the request next
// sees; setting "Host" changes the Host the upstream receives. Response
// edits apply to whatever next answered, just before it is sent: first
// h.Response's removes, then the security headers sec turns on
// (X-Content-Type-Options: nosniff, Referrer-Policy, X-Frame-Options,
// replacing any the upstream sent), then h.Response's sets, so an explicit
// set has the last word.
//
// With nothing configured (nil or empty h and sec) Headers returns next
// itself, so an unused policy costs nothing per request.
func Headers(next http.Handler, h *config.Headers, sec *config.SecurityHeaders) http.Handler {
	hd := &headers{next: next}
	if h != nil && h.Request != nil {
		hd.req = compileEdits(h.Request, nil)
		hd.req.set = slices.DeleteFunc(hd.req.set, func(s headerValue) bool {
			if s.key == "Host" {
				hd.host = s.value[0]
				return true
			}
			return false
		})
	}
	var resp *config.HeaderOps
	if h != nil {
		resp = h.Response
	}
	hd.resp = compileEdits(resp, securityHeaders(sec))
	if hd.req.empty() && hd.host == "" && hd.resp.empty() {
		return next
	}
	return hd
}

// compileEdits canonicalizes ops. Security headers go before the set list
// so that set wins where both name a header; sets are sorted by key so two
// spellings of one name resolve the same way on every load.
func compileEdits(ops *config.HeaderOps, security []headerValue) headerEdits {
	e := headerEdits{set: security}
	if ops == nil {
		return e
	}
	for _, k := range ops.Remove {
		e.remove = append(e.remove, http.CanonicalHeaderKey(k))
	}
	keys := make([]string, 0, len(ops.Set))
	for k := range ops.Set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		e.set = append(e.set, headerValue{http.CanonicalHeaderKey(k), []string{ops.Set[k]}})
	}
	return e
}

// securityHeaders lists the headers sec turns on.
func securityHeaders(sec *config.SecurityHeaders) []headerValue {
	if sec == nil {
		return nil
	}
	var out []headerValue
	if sec.ContentTypeNosniff {
		out = append(out, headerValue{"X-Content-Type-Options", []string{"nosniff"}})
	}
	if sec.ReferrerPolicy != "" {
		out = append(out, headerValue{"Referrer-Policy", []string{sec.ReferrerPolicy}})
	}
	if sec.FrameOptions != "" {
		out = append(out, headerValue{"X-Frame-Options", []string{strings.ToUpper(sec.FrameOptions)}})
	}
	return out
}

func (hd *headers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !hd.req.empty() || hd.host != "" {
		// Handlers must not modify the request they are given (net/http
		// still reads its header after the handler returns), so edit a
		// shallow copy with its own header map, as http.StripPrefix does
		// with the URL.
		r2 := new(http.Request)
		*r2 = *r
		r2.Header = r.Header.Clone()
		if r2.Header == nil {
			r2.Header = make(http.Header)
		}
		hd.req.apply(r2.Header)
		if hd.host != "" {
			r2.Host = hd.host
		}
		r = r2
	}
	if hd.resp.empty() {
		hd.next.ServeHTTP(w, r)
		return
	}
	ew := &editWriter{ResponseWriter: w, ed: &hd.resp}
	hd.next.ServeHTTP(ew, r)
	ew.finish()
}

func (e *headerEdits) editResponse(h http.Header) { e.apply(h) }
