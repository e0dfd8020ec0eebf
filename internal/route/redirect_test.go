package route

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tlsgate/tlsgate/internal/config"
)

func TestRedirect(t *testing.T) {
	tests := []struct {
		name, to, prefix, target string
		status                   int
		want                     string
	}{
		{"www to apex", "https://example.com{uri}", "/", "/a/b?x=1", 301, "https://example.com/a/b?x=1"},
		{"path move", "https://{host}/new/{path}", "/old/", "/old/a/b", 308, "https://app.test/new/a/b"},
		{"prefix itself", "https://{host}/new/{path}", "/old/", "/old", 308, "https://app.test/new/"},
		{"query kept", "/new/{path}?{query}", "/old/", "/old/x?a=1&b=2", 302, "/new/x?a=1&b=2"},
		// "?{query}" with no query drops the "?".
		{"no query", "/new/{path}?{query}", "/old/", "/old/x", 307, "/new/x"},
		// Dot segments are cleaned before {path} is cut, as routing saw them.
		{"dot segments", "https://{host}/new/{path}", "/old/", "/old/a/../b", 308, "https://app.test/new/b"},
		{"escaped path", "https://{host}/new/{path}", "/old/", "/old/a%20b%3Fc", 308, "https://app.test/new/a%20b%3Fc"},
		// A double slash in {uri} right after the host must not read as a new authority.
		{"double slash uri", "https://example.com{uri}", "/", "//evil.example/x", 301, "https://example.com/evil.example/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts, err := config.ParseRedirect(tt.to)
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest("GET", "http://app.test"+tt.target, nil)
			w := httptest.NewRecorder()
			Redirect(parts, tt.status, tt.prefix).ServeHTTP(w, req)
			if w.Code != tt.status || w.Header().Get("Location") != tt.want {
				t.Fatalf("got %d %q; want %d %q", w.Code, w.Header().Get("Location"), tt.status, tt.want)
			}
		})
	}
}

// FuzzRedirectTemplate checks the open-redirect guarantee: whatever the
// client sends, a template ParseRedirect accepts yields a Location whose
// host is the template's literal host or the request's Host (which routing
// matched against the site's hosts), never one the path or query chose.
func FuzzRedirectTemplate(f *testing.F) {
	for _, s := range []struct{ to, target string }{
		{"https://{host}/new/{path}", "/old/a"},
		{"https://example.com{uri}", "//evil.example/"},
		{"/new/{path}?{query}", "/old/x?y=1"},
		{"https://{host}{uri}", "/@evil.example"},
		{"http://{host}:8080/{path}", "/old/%2F%2Fevil"},
	} {
		f.Add(s.to, s.target)
	}
	f.Fuzz(func(t *testing.T, to, target string) {
		parts, err := config.ParseRedirect(to)
		if err != nil {
			return
		}
		u, err := url.ParseRequestURI(target)
		if err != nil || !strings.HasPrefix(target, "/") {
			return
		}
		req := &http.Request{Method: "GET", URL: u, Host: "app.test", RequestURI: target}
		loc, ok := expandRedirect(parts, req, "/old/")
		if !ok {
			return
		}
		want := literalHost(t, parts)
		got, err := url.Parse(loc)
		if err != nil {
			return // an unparsable Location sends the client nowhere
		}
		if got.Host != want {
			t.Fatalf("template %q, target %q: Location %q has host %q; want %q", to, target, loc, got.Host, want)
		}
	})
}

// literalHost is the host the template alone decides: expanded with an
// empty request except Host.
func literalHost(t *testing.T, parts []config.RedirectPart) string {
	t.Helper()
	req := &http.Request{URL: &url.URL{Path: "/"}, Host: "app.test"}
	loc, _ := expandRedirect(parts, req, "/old/")
	u, err := url.Parse(loc)
	if err != nil {
		return ""
	}
	return u.Host
}
