package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// clientIP is the loopback address test clients connect from when the
// backend must tell the client from the proxy (127.0.0.1).
const clientIP = "127.0.0.2"

// TestPythonApps proves real apps, configured as our README recommends,
// believe they are served over https at the client's host, to the real client.
func TestPythonApps(t *testing.T) {
	t.Parallel()
	requirePython(t)
	flask, fastapi := flaskBackend(t), fastapiBackend(t)
	inst := startTLSGate(t, fmt.Sprintf(header+`
sites:
  - hosts: [app.test]
    tls: local
    routes:
      - path: /flask/
        to: ["%s"]
      - path: /fastapi/
        to: ["%s"]
`, flask, fastapi))
	// The client connects from 127.0.0.2: the apps trust 127.0.0.1 (tlsgate)
	// as their proxy and must report 127.0.0.2 as the client.
	c := inst.clientFrom(t, inst.rootPool(t), true, clientIP)
	host := fmt.Sprintf("app.test:%d", inst.HTTPSPort)

	for _, app := range []string{"flask", "fastapi"} {
		t.Run(app, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest("GET", inst.url("app.test", "/"+app+"/page?x=1"), nil)
			req.Header.Set("X-Forwarded-For", "6.6.6.6")
			req.Header.Set("X-Forwarded-Proto", "http")
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var v appView
			if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != 200 {
				t.Fatalf("%s answered %d, decode: %v", app, resp.StatusCode, err)
			}
			if v.Scheme != "https" {
				t.Errorf("%s believes scheme %q; want https (headers %v)", app, v.Scheme, v.Headers)
			}
			if v.Host != host {
				t.Errorf("%s believes host %q; want %q (headers %v)", app, v.Host, host, v.Headers)
			}
			if want := "https://" + host + "/" + app + "/page?x=1"; v.URL != want {
				t.Errorf("%s believes URL %q; want %q", app, v.URL, want)
			}
			if v.RemoteAddr != clientIP {
				t.Errorf("%s believes client %q; want %s (headers %v)", app, v.RemoteAddr, clientIP, v.Headers)
			}
			for k, val := range v.Headers {
				if strings.Contains(val, "6.6.6.6") {
					t.Errorf("%s got spoofed %s: %q", app, k, val)
				}
			}
		})
	}
}
