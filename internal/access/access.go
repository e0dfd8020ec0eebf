// Package access is tlsgate's access control at the edge: IP allow and deny
// lists, rate limits, basic auth and forward auth. Each mechanism is an
// http.Handler middleware built from its own Options; the server chains
// them per route in the order IP lists → rate limit → auth (see
// docs/ACCESS.md). The server translates config into Options; only
// config's IP prefix parser is shared, so validation and serving agree.
package access

import (
	"context"
	"net/http"
	"time"

	"github.com/tlsgate/tlsgate/internal/accesslog"

	"github.com/tlsgate/tlsgate/internal/answer"
)

// HeaderUser carries the authenticated user name to the upstream. The
// proxy removes any client-sent copy and sets it from User.
const HeaderUser = "X-Forwarded-User"

type userKey struct{}

// WithUser returns r with name recorded as its authenticated user (also
// in the access log's record).
func WithUser(r *http.Request, name string) *http.Request {
	accesslog.SetUser(r.Context(), name)
	return r.WithContext(context.WithValue(r.Context(), userKey{}, name))
}

// User is the user name an auth middleware vouched for, or "".
func User(ctx context.Context) string {
	s, _ := ctx.Value(userKey{}).(string)
	return s
}

// IsPreflight reports whether r is a CORS preflight: OPTIONS with Origin
// and Access-Control-Request-Method.
func IsPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" &&
		r.Header.Get("Access-Control-Request-Method") != ""
}

// writeError answers with a short plain-text body of our own (or the
// site's error page for code, to a browser); never a Go error string.
func writeError(w http.ResponseWriter, r *http.Request, code int, msg string) {
	answer.Error(w, r, code, []byte(msg+"\n"))
}

// clock is time.Now, replaceable in tests.
type clock func() time.Time
