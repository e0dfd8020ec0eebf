package route_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/tlsgate/tlsgate/internal/route"
)

func ExampleNewHosts() {
	sites := route.NewHosts(map[string]string{
		"example.com":   "main site",
		"*.example.com": "any one-label subdomain",
	})
	for _, host := range []string{"Example.COM:443", "api.example.com", "a.b.example.com"} {
		site, ok := sites.Match(host)
		fmt.Printf("%s: %q %v\n", host, site, ok)
	}
	// Output:
	// Example.COM:443: "main site" true
	// api.example.com: "any one-label subdomain" true
	// a.b.example.com: "" false
}

func ExampleNewPaths() {
	h := route.NewPaths([]route.Route{
		{Prefix: "/", Handler: route.Respond(200, "home", nil)},
		{Prefix: "/api/", Handler: route.Respond(200, "api", nil)},
		{Prefix: "/healthz", Handler: route.Respond(200, "ok", nil)},
	})
	for _, p := range []string{"/api", "/api/users", "/healthz", "/about"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		fmt.Printf("%s → %s\n", p, rec.Body)
	}
	// Output:
	// /api → api
	// /api/users → api
	// /healthz → ok
	// /about → home
}
