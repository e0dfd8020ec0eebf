package integration

import (
	"net/http"
	"testing"
)

// TestCORSPerRoute: a route's own cors replaces the site's for that route.
func TestCORSPerRoute(t *testing.T) {
	t.Parallel()
	echo := echoBackend(t, "echo")
	inst := startTLSGateVars(t, map[string]string{"Echo": echo}, header+`
sites:
  - hosts: [cors.test]
    tls: local
    cors: {allow_origins: ["https://app.example.com"]}
    routes:
      - path: /
        to: ["{{.Vars.Echo}}"]
      - path: /public/
        to: ["{{.Vars.Echo}}"]
        cors: {allow_origins: ["*"], allow_methods: [GET]}
`)
	c := inst.client(t, inst.rootPool(t), true)
	for _, tc := range []struct {
		path, origin, want string
	}{
		{"/", "https://app.example.com", "https://app.example.com"},
		{"/", "https://other.example", ""},
		{"/public/x", "https://other.example", "*"},
	} {
		req, _ := http.NewRequest(http.MethodOptions, inst.url("cors.test", tc.path), nil)
		req.Header.Set("Origin", tc.origin)
		req.Header.Set("Access-Control-Request-Method", "GET")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tc.want {
			t.Errorf("preflight %s from %s: Access-Control-Allow-Origin %q; want %q", tc.path, tc.origin, got, tc.want)
		}
	}
}
