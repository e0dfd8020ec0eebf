package admin

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
	"regexp"
	"strings"
)

// dashboardHTML is the page GET / serves: one hand-written file with its
// style and script inline, so it works offline and loads nothing from
// anywhere but this admin address.
//
//go:embed dashboard.html
var dashboardHTML []byte

// dashboardCSP allows exactly the page's own inline script (by hash) and
// requests to this origin: no other script can run in it, and no other
// site can frame it. Inline styles are allowed; they cannot run code.
var dashboardCSP = func() string {
	var scripts []string
	for _, m := range regexp.MustCompile(`(?s)<script>(.*?)</script>`).FindAllSubmatch(dashboardHTML, -1) {
		sum := sha256.Sum256(m[1])
		scripts = append(scripts, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	}
	return "default-src 'none'; connect-src 'self'; img-src 'self' data:; style-src 'unsafe-inline'; script-src " +
		strings.Join(scripts, " ") + "; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
}()

// serveDashboard answers GET / with the dashboard page; its data comes
// from /status, /certs, /events and /metrics, fetched by the page itself.
func serveDashboard(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", dashboardCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(dashboardHTML)
}
