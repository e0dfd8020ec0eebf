package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/access"
)

func TestForwardedHeaders(t *testing.T) {
	backend := echoBackend(t, "b")
	spoof := map[string]string{
		"X-Forwarded-For":   "6.6.6.6",
		"X-Forwarded-Proto": "https",
		"X-Forwarded-Host":  "evil.example",
		"Forwarded":         "for=6.6.6.6;proto=https",
		"X-Real-Ip":         "6.6.6.6",
	}
	plain := frontend(t, Options{Upstreams: []string{backend.URL}})
	trusting := frontend(t, Options{Upstreams: []string{backend.URL}, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	mappedTrust := frontend(t, Options{Upstreams: []string{backend.URL}, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("::ffff:127.0.0.0/104")}})
	otherTrust := frontend(t, Options{Upstreams: []string{backend.URL}, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})

	type want struct{ xff, proto, xfh, fwd, realIP string }
	tests := []struct {
		name string
		srv  *httptest.Server
		hdr  map[string]string
		want func(host string) want
	}{
		{"plain", plain, nil, func(h string) want {
			return want{"127.0.0.1", "http", h, `for=127.0.0.1;host="` + h + `";proto=http`, "127.0.0.1"}
		}},
		// A client is not a proxy: whatever it claims is replaced.
		{"spoofed", plain, spoof, func(h string) want {
			return want{"127.0.0.1", "http", h, `for=127.0.0.1;host="` + h + `";proto=http`, "127.0.0.1"}
		}},
		{"spoofed, peer not in trusted list", otherTrust, spoof, func(h string) want {
			return want{"127.0.0.1", "http", h, `for=127.0.0.1;host="` + h + `";proto=http`, "127.0.0.1"}
		}},
		// A trusted proxy's chain is kept and this hop appended.
		{"trusted proxy", trusting, spoof, func(h string) want {
			return want{"6.6.6.6, 127.0.0.1", "https", "evil.example", `for=6.6.6.6;proto=https, for=127.0.0.1;host="` + h + `";proto=http`, "6.6.6.6"}
		}},
		// An IPv4-mapped prefix matches the IPv4 peer it spells.
		{"trusted proxy, mapped prefix", mappedTrust, spoof, func(h string) want {
			return want{"6.6.6.6, 127.0.0.1", "https", "evil.example", `for=6.6.6.6;proto=https, for=127.0.0.1;host="` + h + `";proto=http`, "6.6.6.6"}
		}},
		{"trusted proxy sending nothing", trusting, nil, func(h string) want {
			return want{"127.0.0.1", "http", h, `for=127.0.0.1;host="` + h + `";proto=http`, "127.0.0.1"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := strings.TrimPrefix(tt.srv.URL, "http://")
			status, s, raw := do(t, tt.srv.Client(), "GET", tt.srv.URL+"/x", "", tt.hdr)
			if status != 200 {
				t.Fatalf("status %d: %s", status, raw)
			}
			w := tt.want(host)
			got := want{s.Header.Get("X-Forwarded-For"), s.Header.Get("X-Forwarded-Proto"), s.Header.Get("X-Forwarded-Host"), s.Header.Get("Forwarded"), s.Header.Get("X-Real-Ip")}
			if got != w {
				t.Errorf("got  %+v\nwant %+v", got, w)
			}
			if len(s.Header["X-Forwarded-For"]) != 1 || len(s.Header["Forwarded"]) != 1 {
				t.Errorf("want one header line each; got %q %q", s.Header["X-Forwarded-For"], s.Header["Forwarded"])
			}
			if s.Host != host {
				t.Errorf("backend saw Host %q; want the client's %q", s.Host, host)
			}
		})
	}
}

// TestForwardedElement covers what the network tests cannot reach: IPv6
// peers, TLS, hosts that are tokens, and trusted IPv6 proxies.
func TestForwardedElement(t *testing.T) {
	v6 := forwarder{trusted: []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")}}
	tests := []struct {
		name      string
		fwd       forwarder
		remote    string
		tls       bool
		host      string
		in        http.Header
		wantXFF   string
		wantFwd   string
		wantProto string
	}{
		{"ipv4 tls", forwarder{}, "192.0.2.7:5555", true, "example.com", nil,
			"192.0.2.7", "for=192.0.2.7;host=example.com;proto=https", "https"},
		{"ipv6 quoted", forwarder{}, "[2001:db8::1]:5555", true, "example.com", nil,
			"2001:db8::1", `for="[2001:db8::1]";host=example.com;proto=https`, "https"},
		{"ipv6 host with port", forwarder{}, "[::1]:5555", false, "[::1]:8443", nil,
			"::1", `for="[::1]";host="[::1]:8443";proto=http`, "http"},
		{"trusted ipv6 proxy", v6, "[2001:db8::9]:1", true, "example.com",
			http.Header{"X-Forwarded-For": {"198.51.100.1"}, "Forwarded": {"for=198.51.100.1"}},
			"198.51.100.1, 2001:db8::9", `for=198.51.100.1, for="[2001:db8::9]";host=example.com;proto=https`, "https"},
		{"no address", forwarder{}, "@", false, "example.com", nil,
			"", "for=unknown;host=example.com;proto=http", "http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := httptest.NewRequest("GET", "/", nil)
			in.RemoteAddr, in.Host = tt.remote, tt.host
			if tt.in != nil {
				in.Header = tt.in
			}
			if !tt.tls {
				in.TLS = nil
			} else if in.TLS == nil {
				in.TLS = &tls.ConnectionState{}
			}
			out := in.Clone(in.Context())
			out.Header = http.Header{}
			tt.fwd.set(in, out)
			if got := out.Header.Get("X-Forwarded-For"); got != tt.wantXFF {
				t.Errorf("X-Forwarded-For %q; want %q", got, tt.wantXFF)
			}
			if got := out.Header.Get("Forwarded"); got != tt.wantFwd {
				t.Errorf("Forwarded %q; want %q", got, tt.wantFwd)
			}
			if got := out.Header.Get("X-Forwarded-Proto"); got != tt.wantProto {
				t.Errorf("X-Forwarded-Proto %q; want %q", got, tt.wantProto)
			}
		})
	}
}

// testCert makes a certificate signed by parent (self-signed when nil).
func testCert(t *testing.T, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Test Org"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  isCA,
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func TestClientCertHeaders(t *testing.T) {
	backend := echoBackend(t, "b")
	h, err := New(Options{Upstreams: []string{backend.URL}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	srv.EnableHTTP2 = true // the common browser path: h2 in, HTTP/1.1 to the backend
	srv.StartTLS()
	t.Cleanup(srv.Close)

	inter, interKey := testCert(t, "Test Intermediate", nil, nil, true)
	leaf, leafKey := testCert(t, "client one", inter, interKey, false)
	client := srv.Client()
	client.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{{
		Certificate: [][]byte{leaf.Raw, inter.Raw},
		PrivateKey:  leafKey,
	}}

	spoof := map[string]string{
		"Client-Cert":               ":Zm9v:",
		"Client-Cert-Chain":         ":Zm9v:",
		"X-Client-Cert-Subject":     "CN=admin",
		"X-Client-Cert-Fingerprint": "00",
	}
	status, s, raw := do(t, client, "GET", srv.URL+"/", "", spoof)
	if status != 200 {
		t.Fatalf("status %d: %s", status, raw)
	}
	if resp, err := client.Get(srv.URL + "/"); err != nil || resp.ProtoMajor != 2 {
		t.Fatalf("want an HTTP/2 client connection; got %v, %v", resp, err)
	} else {
		resp.Body.Close()
	}
	sum := sha256.Sum256(leaf.Raw)
	want := map[string]string{
		"Client-Cert":               ":" + base64.StdEncoding.EncodeToString(leaf.Raw) + ":",
		"Client-Cert-Chain":         ":" + base64.StdEncoding.EncodeToString(inter.Raw) + ":",
		"X-Client-Cert-Subject":     "CN=client one,O=Test Org",
		"X-Client-Cert-Fingerprint": hex.EncodeToString(sum[:]),
		"X-Forwarded-Proto":         "https",
	}
	for k, v := range want {
		if got := s.Header[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q; want [%q]", k, got, v)
		}
	}

	// Without TLS, client-sent copies are dropped and nothing is set.
	plain := frontend(t, Options{Upstreams: []string{backend.URL}})
	_, s, _ = do(t, plain.Client(), "GET", plain.URL+"/", "", spoof)
	for k := range spoof {
		if got, ok := s.Header[k]; ok {
			t.Errorf("plain: %s reached the backend: %q", k, got)
		}
	}
}

func TestStripPrefix(t *testing.T) {
	backend := echoBackend(t, "b")
	tests := []struct {
		name, strip, upstream, path, want string
	}{
		{"strip", "/api", "", "/api/users?x=1", "/users?x=1"},
		{"strip with slash", "/api/", "", "/api/users", "/users"},
		{"exact prefix becomes root", "/api", "", "/api", "/"},
		{"not a segment prefix", "/api", "", "/apix/y", "/apix/y"},
		{"no strip", "", "", "/api/users", "/api/users"},
		{"escaped slash kept", "/api", "", "/api/a%2Fb", "/a%2Fb"},
		{"base path", "/api", "/base", "/api/users?q", "/base/users?q"},
		// Routes match the cleaned, decoded path; the same is stripped.
		{"dot segments before", "/api", "", "/x/../api/users", "/users"},
		{"dot segments after", "/api", "", "/api/./a/../b/", "/b/"},
		{"escaped prefix", "/api", "", "/%61pi/users?q", "/users?q"},
		{"escaped prefix, escaped slash kept", "/api", "", "/%61pi/a%2Fb", "/a%2Fb"},
		{"escaped slash after prefix", "/api", "", "/api%2Fusers", "/users"},
		{"escaped slash kept, trailing slash", "/api", "", "/api/a%2Fb/", "/a%2Fb/"},
		{"doubled slashes", "/api", "", "//api//users", "/users"},
		{"two-segment prefix", "/api/v1/", "", "/api/x/../v1/users", "/users"},
		{"cleaned path elsewhere: unchanged", "/api", "", "/api/%2e%2e/admin", "/api/%2e%2e/admin"},
		{"base path with slash", "", "/base/", "/x", "/base/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := frontend(t, Options{Upstreams: []string{backend.URL + tt.upstream}, StripPrefix: tt.strip})
			status, s, raw := do(t, srv.Client(), "GET", srv.URL+tt.path, "", nil)
			if status != 200 {
				t.Fatalf("status %d: %s", status, raw)
			}
			if s.URI != tt.want {
				t.Errorf("backend got %q; want %q", s.URI, tt.want)
			}
		})
	}
}

func BenchmarkProxyHeaders(b *testing.B) {
	h := &handler{fwd: forwarder{trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, strip: "/api"}
	in := httptest.NewRequest("GET", "https://app.example.com/api/users?id=1", nil)
	in.RemoteAddr = "192.0.2.10:54321"
	in.Header.Set("User-Agent", "bench")
	in.Header.Set("Accept", "*/*")
	in.Header.Set("X-Forwarded-For", "6.6.6.6") // spoofed, replaced
	out := in.Clone(in.Context())
	pr := &httputil.ProxyRequest{In: in, Out: out}
	b.ReportAllocs()
	for b.Loop() {
		out.URL.Path = "/api/users"
		h.rewrite(pr)
	}
}

// TestLookalikesNeverReachBackend: a client's underscore spelling of any
// header tlsgate vouches for (X_Real_IP, X_Forwarded_For, ...) is dropped,
// whatever the peer, while other underscore headers pass.
func TestLookalikesNeverReachBackend(t *testing.T) {
	backend := echoBackend(t, "b")
	plain := frontend(t, Options{Upstreams: []string{backend.URL}})
	trusting := frontend(t, Options{Upstreams: []string{backend.URL}, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	hdr := map[string]string{"X_app_token": "keep"}
	for name := range vouched {
		hdr[strings.ReplaceAll(name, "-", "_")] = "6.6.6.6"
	}
	hdr["X_Real_IP"] = "6.6.6.6"
	hdr["x-forwarded_for"] = "6.6.6.6"
	for _, srv := range []*httptest.Server{plain, trusting} {
		status, s, raw := do(t, srv.Client(), "GET", srv.URL+"/x", "", hdr)
		if status != 200 {
			t.Fatalf("status %d: %s", status, raw)
		}
		for k, v := range s.Header {
			if strings.IndexByte(k, '_') >= 0 && vouched[strings.ToLower(strings.ReplaceAll(k, "_", "-"))] {
				t.Errorf("%s: %q reached the backend", k, v)
			}
		}
		if s.Header.Get("X_app_token") != "keep" {
			t.Errorf("X_app_token was dropped: %v", s.Header)
		}
	}
}

// X-Forwarded-User reaches the upstream only as an auth middleware set it.
func TestSetUser(t *testing.T) {
	for _, tc := range []struct{ name, sent, vouched, want string }{
		{"spoofed, no auth", "mallory", "", ""},
		{"spoofed, with auth", "mallory", "alice", "alice"},
		{"auth only", "", "alice", "alice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := httptest.NewRequest("GET", "/", nil)
			if tc.vouched != "" {
				in = access.WithUser(in, tc.vouched)
			}
			out := in.Clone(in.Context())
			if tc.sent != "" {
				out.Header.Set("X-Forwarded-User", tc.sent)
			}
			setUser(in, out)
			if got := out.Header.Get("X-Forwarded-User"); got != tc.want {
				t.Errorf("X-Forwarded-User %q; want %q", got, tc.want)
			}
		})
	}
}

// TestVouchedListsEveryHeaderWeSet: every header the rewrite sets (client
// certificate, user, forwarding) is in vouched, so its underscore
// look-alikes are dropped too; the list cannot miss one the code writes.
func TestVouchedListsEveryHeaderWeSet(t *testing.T) {
	ca, caKey := testCert(t, "ca", nil, nil, true)
	leaf, _ := testCert(t, "client", ca, caKey, false)
	in := httptest.NewRequest("GET", "https://app.example.com/x", nil)
	in.RemoteAddr = "192.0.2.10:54321"
	in.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf, ca}, VerifiedChains: [][]*x509.Certificate{{leaf, ca}}}
	in = access.WithUser(in, "alice")
	out := in.Clone(in.Context())
	out.Header = http.Header{}
	(&handler{}).rewrite(&httputil.ProxyRequest{In: in, Out: out})
	if len(out.Header) < 5 {
		t.Fatalf("rewrite set only %v", out.Header)
	}
	for k := range out.Header {
		if !vouched[strings.ToLower(k)] {
			t.Errorf("the rewrite sets %s, which vouched does not list", k)
		}
	}
}
