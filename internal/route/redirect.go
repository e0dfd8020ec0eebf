package route

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/tlsgate/tlsgate/internal/answer"
	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/urlpath"
)

// Redirect answers every request with status and a Location built from
// parts (see config.ParseRedirect, which has already refused templates
// that would let the client choose the target's host). {path} is the
// cleaned, escaped path after prefix.
func Redirect(parts []config.RedirectPart, status int, prefix string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		loc, ok := expandRedirect(parts, r, prefix)
		if !ok {
			answer.Text(w, http.StatusBadRequest, badRequestBody)
			return
		}
		w.Header().Set("Location", loc)
		w.WriteHeader(status)
	})
}

var badRequestBody = []byte("400 Bad Request\n")

// expandRedirect fills in the template for r; false when r's Host could
// change the target's authority (net/http already refuses most such Hosts;
// this keeps the guarantee local).
func expandRedirect(parts []config.RedirectPart, r *http.Request, prefix string) (string, bool) {
	var b strings.Builder
	for i, p := range parts {
		switch p.Placeholder {
		case "":
			lit := p.Literal
			// "?{query}" with no query drops the "?".
			if strings.HasSuffix(lit, "?") && r.URL.RawQuery == "" && i+1 < len(parts) && parts[i+1].Placeholder == config.PlaceholderQuery {
				lit = lit[:len(lit)-1]
			}
			b.WriteString(lit)
		case config.PlaceholderHost:
			if r.Host == "" || strings.ContainsAny(r.Host, "/\\@?#%{} \t\r\n") {
				return "", false
			}
			b.WriteString(r.Host)
		case config.PlaceholderPath:
			p := strings.TrimPrefix(urlpath.Clean(r.URL.Path), strings.TrimSuffix(prefix, "/"))
			p = strings.TrimPrefix(p, "/")
			b.WriteString((&url.URL{Path: p}).EscapedPath())
		case config.PlaceholderURI:
			uri := r.URL.RequestURI()
			if !strings.HasPrefix(uri, "/") || strings.HasPrefix(uri, "//") {
				// "*" (OPTIONS) or "//host": a template may put {uri}
				// right after its host, so it must start with one "/".
				uri = "/" + strings.TrimLeft(uri, "/*")
			}
			b.WriteString(uri)
		case config.PlaceholderQuery:
			b.WriteString(r.URL.RawQuery)
		}
	}
	return b.String(), true
}
