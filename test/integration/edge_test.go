package integration

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	echo := echoBackend(t, "echo")
	inst := startTLSGate(t, fmt.Sprintf(header+`
trusted_proxies: [127.0.0.2/32]
sites:
  - hosts: [a.test]
    tls: local
    routes:
      - path: /
        to: ["%s"]
`, echo))
	pool := inst.rootPool(t)
	tests := []struct {
		name, src, wantXFF string
	}{
		// A trusted proxy's X-Forwarded-For is kept and extended with its address.
		{"trusted peer", "127.0.0.2", "203.0.113.7, 127.0.0.2"},
		// Anyone else's is replaced.
		{"untrusted peer", "127.0.0.3", "127.0.0.3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", inst.url("a.test", "/"), nil)
			req.Header.Set("X-Forwarded-For", "203.0.113.7")
			e := doEcho(t, inst.clientFrom(t, pool, true, tc.src), req)
			if got := strings.Join(e.values("X-Forwarded-For"), ", "); got != tc.wantXFF {
				t.Errorf("from %s: backend got X-Forwarded-For %q; want %q", tc.src, got, tc.wantXFF)
			}
		})
	}
}

func TestHeaderLimit(t *testing.T) {
	t.Parallel()
	inst := startTLSGate(t, header+`
limits: {max_header_bytes: 4KiB}
sites:
  - hosts: [a.test]
    tls: local
    routes:
      - path: /
        respond: {status: 200, body: "ok"}
`)
	c := inst.client(t, inst.rootPool(t), false)
	req, _ := http.NewRequest("GET", inst.url("a.test", "/"), nil)
	req.Header.Set("X-Small", "fine")
	resp, err := c.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("small header block: %v %v", resp, err)
	}
	resp.Body.Close()

	req, _ = http.NewRequest("GET", inst.url("a.test", "/"), nil)
	req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	resp, err = c.Do(req)
	if err != nil {
		t.Fatalf("big header block: %v; want a 431 answer", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("64KiB header with max_header_bytes 4KiB: status %d; want 431", resp.StatusCode)
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	echo := echoBackend(t, "echo")
	inst := startTLSGate(t, fmt.Sprintf(header+`
sites:
  - hosts: [a.test]
    tls: local
    cors:
      allow_origins: ["https://app.example.com"]
      allow_methods: [GET, POST]
      allow_headers: [X-Custom, Content-Type]
      allow_credentials: true
      max_age: 10m
    routes:
      - path: /
        to: ["%s"]
`, echo))
	c := inst.client(t, inst.rootPool(t), true)
	const origin = "https://app.example.com"
	do := func(method, origin string, hdr map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, inst.url("a.test", "/api"), nil)
		req.Header.Set("Origin", origin)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s from %s: %v", method, origin, err)
		}
		resp.Body.Close()
		return resp
	}
	hasVaryOrigin := func(h http.Header) bool {
		for _, v := range h.Values("Vary") {
			for _, f := range strings.Split(v, ",") {
				if strings.EqualFold(strings.TrimSpace(f), "Origin") {
					return true
				}
			}
		}
		return false
	}

	t.Run("preflight", func(t *testing.T) {
		resp := do("OPTIONS", origin, map[string]string{
			"Access-Control-Request-Method":  "POST",
			"Access-Control-Request-Headers": "x-custom",
		})
		h := resp.Header
		if resp.StatusCode/100 != 2 {
			t.Errorf("preflight status %d; want 2xx", resp.StatusCode)
		}
		if got := h.Get("Access-Control-Allow-Origin"); got != origin {
			t.Errorf("Access-Control-Allow-Origin %q; want %q", got, origin)
		}
		if got := h.Get("Access-Control-Allow-Methods"); !strings.Contains(got, "POST") {
			t.Errorf("Access-Control-Allow-Methods %q; want POST", got)
		}
		if got := h.Get("Access-Control-Allow-Headers"); !strings.Contains(strings.ToLower(got), "x-custom") {
			t.Errorf("Access-Control-Allow-Headers %q; want x-custom", got)
		}
		if got := h.Get("Access-Control-Allow-Credentials"); got != "true" {
			t.Errorf("Access-Control-Allow-Credentials %q; want true", got)
		}
		if got := h.Get("Access-Control-Max-Age"); got != "600" {
			t.Errorf("Access-Control-Max-Age %q; want 600 (10m)", got)
		}
		if !hasVaryOrigin(h) {
			t.Errorf("preflight answer has Vary %q; want Origin", h.Values("Vary"))
		}
	})
	t.Run("allowed origin", func(t *testing.T) {
		resp := do("GET", origin, nil)
		if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != origin || !hasVaryOrigin(resp.Header) {
			t.Errorf("GET from %s: %d, headers %v; want 200 with Access-Control-Allow-Origin and Vary: Origin", origin, resp.StatusCode, resp.Header)
		}
	})
	t.Run("other origin", func(t *testing.T) {
		resp := do("GET", "https://evil.example", nil)
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("GET from https://evil.example: Access-Control-Allow-Origin %q; want none", got)
		}
	})
}

// opensslClientCert makes an unencrypted client certificate for cn, signed
// by the CA, and returns the cert and key paths.
func opensslClientCert(t *testing.T, dir, cn, caCrt, caKey string) (string, string) {
	t.Helper()
	crt, key, csr := filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key"), filepath.Join(dir, "client.csr")
	ext := writeFile(t, dir, "client.ext", "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n")
	for _, args := range [][]string{
		{"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key},
		{"req", "-new", "-key", key, "-subj", "/O=Integration/CN=" + cn, "-out", csr},
		{"x509", "-req", "-in", csr, "-CA", caCrt, "-CAkey", caKey, "-days", "30", "-extfile", ext, "-out", crt},
	} {
		if r := runCmd(t, dir, "openssl", args...); r.Code != 0 {
			t.Fatalf("openssl %s: %s", args[0], r)
		}
	}
	return crt, key
}

func TestClientAuth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	caCrt, caKey := opensslCA(t, dir)
	crt, key := opensslClientCert(t, dir, "client.test", caCrt, caKey)
	pair, err := tls.LoadX509KeyPair(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	echo := echoBackend(t, "echo")
	inst := startTLSGateVars(t, map[string]string{"CA": caCrt, "Echo": echo}, header+`
sites:
  - hosts: [req.test]
    tls: local
    client_auth: {mode: require, ca_files: ["{{.Vars.CA}}"]}
    routes:
      - path: /
        to: ["{{.Vars.Echo}}"]
  - hosts: [opt.test]
    tls: local
    client_auth: {mode: optional, ca_files: ["{{.Vars.CA}}"]}
    routes:
      - path: /
        to: ["{{.Vars.Echo}}"]
`)
	pool := inst.rootPool(t)
	clientWith := func(certs ...tls.Certificate) *http.Client {
		c := inst.client(t, pool, true)
		c.Transport.(*http.Transport).TLSClientConfig.Certificates = certs
		return c
	}
	spoofed := func(host string) *http.Request {
		req, _ := http.NewRequest("GET", inst.url(host, "/"), nil)
		req.Header.Set("Client-Cert", ":ZXZpbA==:")
		req.Header.Set("Client-Cert-Chain", ":ZXZpbA==:")
		req.Header.Set("X-Client-Cert-Subject", "CN=evil")
		req.Header.Set("X-Client-Cert-Fingerprint", "00")
		return req
	}
	sum := sha256.Sum256(pair.Certificate[0])

	t.Run("require without a certificate fails", func(t *testing.T) {
		resp, err := clientWith().Get(inst.url("req.test", "/"))
		if err == nil {
			resp.Body.Close()
			t.Errorf("request without a client certificate got %d; want the TLS handshake to fail", resp.StatusCode)
		}
	})
	for _, host := range []string{"req.test", "opt.test"} {
		t.Run(host+" with a certificate", func(t *testing.T) {
			e := doEcho(t, clientWith(pair), spoofed(host))
			checks := []struct{ header, want string }{
				{"Client-Cert", ":" + base64.StdEncoding.EncodeToString(pair.Certificate[0]) + ":"},
				{"X-Client-Cert-Fingerprint", hex.EncodeToString(sum[:])},
				{"X-Client-Cert-Subject", "CN=client.test,O=Integration"},
			}
			for _, c := range checks {
				if got := e.values(c.header); len(got) != 1 || got[0] != c.want {
					t.Errorf("backend got %s %.60q; want %.60q", c.header, got, c.want)
				}
			}
			if strings.Contains(fmt.Sprint(e.Header), "evil") || strings.Contains(fmt.Sprint(e.Header), "ZXZpbA") {
				t.Errorf("client-sent certificate headers reached the backend: %v", e.Header)
			}
		})
	}
	t.Run("optional without a certificate", func(t *testing.T) {
		e := doEcho(t, clientWith(), spoofed("opt.test"))
		for _, h := range []string{"Client-Cert", "Client-Cert-Chain", "X-Client-Cert-Subject", "X-Client-Cert-Fingerprint"} {
			if got := e.values(h); len(got) != 0 {
				t.Errorf("no client certificate, yet backend got %s %q", h, got)
			}
		}
	})
}
