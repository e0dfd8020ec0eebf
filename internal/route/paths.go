package route

import (
	"cmp"
	"net/http"
	"slices"
	"strings"

	"github.com/tlsgate/tlsgate/internal/answer"
	"github.com/tlsgate/tlsgate/internal/urlpath"
)

// Route is one entry of a path table: requests whose path starts with
// Prefix go to Handler.
type Route struct {
	Prefix  string
	Handler http.Handler
}

// paths is the compiled table NewPaths returns.
type paths struct {
	routes []Route // longest prefix first
}

// NewPaths returns a handler that sends each request to the route with the
// longest matching path prefix. A prefix ending in "/" also matches the same
// path without the slash ("/api/" matches "/api"); "/" (or "") matches
// everything. Requests no route matches get a plain 404.
//
// Matching uses the cleaned path ("/a/../b" matches as "/b", the way the
// backend will read it), but handlers get the request unchanged.
func NewPaths(routes []Route) http.Handler {
	rs := make([]Route, 0, len(routes))
	for _, r := range routes {
		if r.Prefix == "" {
			r.Prefix = "/"
		}
		rs = append(rs, r)
	}
	// Stable: of two equal prefixes, the first one listed wins.
	slices.SortStableFunc(rs, func(a, b Route) int { return cmp.Compare(len(b.Prefix), len(a.Prefix)) })
	return &paths{routes: rs}
}

func (p *paths) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := p.match(r.URL.Path); h != nil {
		h.ServeHTTP(w, r)
		return
	}
	notFound(w)
}

func (p *paths) match(reqPath string) http.Handler {
	reqPath = urlpath.Clean(reqPath)
	for i := range p.routes {
		pre := p.routes[i].Prefix
		if strings.HasPrefix(reqPath, pre) ||
			(len(pre) > 1 && pre[len(pre)-1] == '/' && reqPath == pre[:len(pre)-1]) {
			return p.routes[i].Handler
		}
	}
	return nil
}

var notFoundBody = []byte("404 page not found\n")

func notFound(w http.ResponseWriter) {
	answer.Text(w, http.StatusNotFound, notFoundBody)
}

// Shared read-only header values: assigning them avoids a slice per answer.
// They must never be modified.
var (
	textPlain = []string{"text/plain; charset=utf-8"}
	nosniff   = []string{"nosniff"}
)
