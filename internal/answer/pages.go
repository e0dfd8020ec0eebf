package answer

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// maxPageBytes bounds one error page: it is held in memory for the life of
// the config and written on every such answer.
const maxPageBytes = 1 << 20

// Pages are a site's error pages (error_pages): files read once, when the
// config is loaded, by status. A Pages is immutable; the nil *Pages has none.
type Pages struct {
	byStatus map[int]page
}

type page struct {
	body  []byte
	ctype []string // Content-Type header value, shared read-only
	media string   // "text/html": what the client's Accept must name
}

// ReadPages reads the page files, by status. The Content-Type of each comes
// from its extension (.html → text/html; unknown ones are taken as HTML).
func ReadPages(files map[int]string) (*Pages, error) {
	if len(files) == 0 {
		return nil, nil
	}
	p := &Pages{byStatus: make(map[int]page, len(files))}
	for status, path := range files {
		body, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("error page for %d: %w", status, err)
		}
		if len(body) > maxPageBytes {
			return nil, fmt.Errorf("error page for %d: %s is %d bytes; keep it under 1 MiB", status, path, len(body))
		}
		ctype := mime.TypeByExtension(filepath.Ext(path))
		if ctype == "" {
			ctype = "text/html; charset=utf-8"
		}
		media, _, _ := strings.Cut(ctype, ";")
		p.byStatus[status] = page{body: body, ctype: []string{ctype}, media: strings.TrimSpace(strings.ToLower(media))}
	}
	return p, nil
}

type pagesKey struct{}

// WithPages gives every request h serves the site's pages, for Error.
func WithPages(h http.Handler, p *Pages) http.Handler {
	if p == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), pagesKey{}, p)))
	})
}

// Error answers status for tlsgate itself with the pages WithPages gave r
// (see Pages.Error).
func Error(w http.ResponseWriter, r *http.Request, status int, text []byte) {
	p, _ := r.Context().Value(pagesKey{}).(*Pages)
	p.Error(w, r, status, text)
}

// Error answers status for tlsgate itself: with p's page for status when
// the client's Accept names that page's type (text/html, or text/*; */*
// does not count, so curl and API clients keep the short text), else with
// Text and the caller's text. Headers set before (WWW-Authenticate,
// Retry-After) stay. It is for callers that hold the site's pages before
// WithPages has run (the 431 check in front of a site's handler); a nil p
// always writes the text.
func (p *Pages) Error(w http.ResponseWriter, r *http.Request, status int, text []byte) {
	if p != nil {
		if pg, ok := p.byStatus[status]; ok && accepts(r.Header.Values("Accept"), pg.media) {
			h := w.Header()
			h["Content-Type"] = pg.ctype
			h["X-Content-Type-Options"] = nosniff
			h["Content-Length"] = []string{strconv.Itoa(len(pg.body))}
			w.WriteHeader(status)
			w.Write(pg.body)
			return
		}
	}
	Text(w, status, text)
}

// accepts reports whether an Accept header lists media ("type/sub") by name
// or as "type/*" with a q-value above zero.
func accepts(accept []string, media string) bool {
	typ, _, _ := strings.Cut(media, "/")
	for _, line := range accept {
		for item := range strings.SplitSeq(line, ",") {
			rng, params, _ := strings.Cut(item, ";")
			rng = strings.ToLower(strings.TrimSpace(rng))
			if rng != media && rng != typ+"/*" {
				continue
			}
			if !zeroQ(params) {
				return true
			}
		}
	}
	return false
}

// zeroQ reports whether media-range parameters carry q=0.
func zeroQ(params string) bool {
	for p := range strings.SplitSeq(params, ";") {
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), "q") {
			q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return err != nil || q <= 0
		}
	}
	return false
}
