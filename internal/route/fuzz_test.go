package route

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tlsgate/tlsgate/internal/urlpath"
)

// FuzzPaths: matching never panics, and the route chosen for a path is the
// one chosen for its cleaned form (what the backend reads). urlpath's
// FuzzClean holds Clean itself to path.Clean.
func FuzzPaths(f *testing.F) {
	for _, s := range []string{"/api/users", "/x/../api", "//api", "/api/", "/apix", "", "api", "/./a/./b/..", "/%61pi"} {
		f.Add(s)
	}
	names := []string{"/", "/api", "/api/", "/static/", "/a/b"}
	routes := make([]Route, len(names))
	for i, n := range names {
		routes[i] = Route{Prefix: n, Handler: prefixHandler(n)}
	}
	p := NewPaths(routes).(*paths)
	chosen := func(reqPath string) string {
		h := p.match(reqPath)
		if h == nil {
			return ""
		}
		return string(h.(prefixHandler))
	}
	f.Fuzz(func(t *testing.T, reqPath string) {
		got := chosen(reqPath)
		if got == "" {
			t.Fatalf("%q matched no route, though \"/\" matches everything", reqPath)
		}
		c := urlpath.Clean(reqPath)
		if again := chosen(c); again != got {
			t.Fatalf("%q goes to %q, its cleaned form %q to %q", reqPath, got, c, again)
		}
		if !strings.HasPrefix(c, strings.TrimSuffix(got, "/")) {
			t.Fatalf("%q (cleaned %q) went to %q, which is not its prefix", reqPath, c, got)
		}
	})
}

// prefixHandler is a route handler that names its route.
type prefixHandler string

func (prefixHandler) ServeHTTP(http.ResponseWriter, *http.Request) {}
