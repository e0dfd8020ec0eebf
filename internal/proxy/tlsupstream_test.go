package proxy

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/pki"
	"github.com/tlsgate/tlsgate/internal/testproc"
)

// testCA is a local CA (as tlsgate makes it) with its root in a PEM file.
type testCA struct {
	ca       *pki.CA
	rootFile string
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	ca, pemFiles, err := pki.NewLocalCA("tlsgate test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(f, pemFiles.RootCert, 0o600); err != nil {
		t.Fatal(err)
	}
	return &testCA{ca: ca, rootFile: f}
}

// leaf issues a certificate for names (a client certificate when client).
func (c *testCA) leaf(t *testing.T, client bool, names ...string) tls.Certificate {
	t.Helper()
	key, err := pki.GenerateKey(pki.DefaultKeyType)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := c.ca.Issue(pki.LeafRequest{Names: names, PublicKey: key.Public(), Client: client})
	if err != nil {
		t.Fatal(err)
	}
	chain, err := pki.ParseCertificatesPEM(c.ca.ChainPEM(cert))
	if err != nil {
		t.Fatal(err)
	}
	out := tls.Certificate{PrivateKey: key, Leaf: cert}
	for _, c := range chain {
		out.Certificate = append(out.Certificate, c.Raw)
	}
	return out
}

// files writes a certificate and key as PEM files.
func (c *testCA) files(t *testing.T, cert tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	var chain []*x509.Certificate
	for _, der := range cert.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, c)
	}
	keyPEM, err := pki.MarshalPrivateKeyPEM(cert.PrivateKey.(crypto.Signer), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pki.EncodeCertificatesPEM(chain...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// tlsBackend serves an echo handler that also reports the HTTP version,
// over TLS with cfg (h2 offered).
func tlsBackend(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	return tlsBackendHandler(t, cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Proto", r.Proto)
		echoHandler("tls").ServeHTTP(w, r)
	}))
}

// tlsBackendHandler serves h over TLS with cfg, h2 offered.
func tlsBackendHandler(t *testing.T, cfg *tls.Config, h http.Handler) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.TLS = cfg
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return "https://" + srv.Listener.Addr().String()
}

// logBuffer is a logger whose output the test reads.
func logBuffer() (*slog.Logger, *testproc.SyncBuffer) {
	buf := &testproc.SyncBuffer{}
	return slog.New(slog.NewTextHandler(buf, nil)), buf
}

func TestUpstreamTLS(t *testing.T) {
	ca := newTestCA(t)
	serverCert := ca.leaf(t, false, "backend.internal")
	clientCert := ca.leaf(t, true, "tlsgate.internal")
	certFile, keyFile := ca.files(t, clientCert)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(mustRead(t, ca.rootFile))

	plain := tlsBackend(t, &tls.Config{Certificates: []tls.Certificate{serverCert}})
	mtls := tlsBackend(t, &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: roots})

	cases := []struct {
		name               string
		upstream           string
		serverName         string
		cert, key          string
		wantCode           int
		wantProto, wantLog string
	}{
		{name: "verified with ca_files and server_name, h2", upstream: plain, serverName: "backend.internal", wantCode: 200, wantProto: "HTTP/2.0"},
		{name: "mTLS with a client certificate", upstream: mtls, serverName: "backend.internal", cert: certFile, key: keyFile, wantCode: 200, wantProto: "HTTP/2.0"},
		{name: "mTLS without one", upstream: mtls, serverName: "backend.internal", wantCode: 502, wantLog: "client_cert_file"},
		// Never a silent fallback: the name must be covered.
		{name: "wrong server_name", upstream: plain, serverName: "other.internal", wantCode: 502, wantLog: "does not cover the name verified (other.internal)"},
		{name: "no server_name: the IP is not covered", upstream: plain, wantCode: 502, wantLog: "does not cover"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ut, err := LoadUpstreamTLS([]string{ca.rootFile}, tc.serverName, tc.cert, tc.key)
			if err != nil {
				t.Fatal(err)
			}
			log, buf := logBuffer()
			srv := frontend(t, Options{Upstreams: []string{tc.upstream}, UpstreamTLS: ut, Logger: log})
			// In TLS 1.3 the client's handshake ends before the server has
			// checked its certificate, so the request write can meet a
			// broken pipe before the server's alert is read: then the log
			// has no hint. Each try is a new connection; a few tries see
			// the alert.
			var resp *http.Response
			for try := 0; try < 5; try++ {
				var err error
				resp, err = srv.Client().Get(srv.URL + "/x")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.wantCode {
					t.Fatalf("GET = %d; want %d; log:\n%s", resp.StatusCode, tc.wantCode, buf)
				}
				if tc.wantLog == "" || strings.Contains(buf.String(), tc.wantLog) {
					break
				}
			}
			if tc.wantProto != "" && resp.Header.Get("X-Proto") != tc.wantProto {
				t.Errorf("upstream saw %q; want %s", resp.Header.Get("X-Proto"), tc.wantProto)
			}
			if tc.wantLog != "" && !strings.Contains(buf.String(), tc.wantLog) {
				t.Errorf("log lacks %q:\n%s", tc.wantLog, buf)
			}
		})
	}
}

func TestLoadUpstreamTLSErrors(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "x.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	for name, args := range map[string][4]string{
		"missing CA file":  {"/nonexistent/ca.pem", "", "", ""},
		"CA file not PEM":  {notPEM, "", "", ""},
		"cert without key": {"", "", notPEM, ""},
		"bad client cert":  {"", "", notPEM, notPEM},
	} {
		var cas []string
		if args[0] != "" {
			cas = []string{args[0]}
		}
		if _, err := LoadUpstreamTLS(cas, args[1], args[2], args[3]); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestH2CUpstream(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	backend := &http.Server{Protocols: &protos, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Proto", r.Proto)
		echoHandler("h2c").ServeHTTP(w, r)
	})}
	go backend.Serve(ln)
	t.Cleanup(func() { backend.Close() })
	srv := frontend(t, Options{Upstreams: []string{"h2c://" + ln.Addr().String()}})
	resp, err := srv.Client().Get(srv.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Proto") != "HTTP/2.0" {
		t.Fatalf("GET = %d, upstream saw %q; want 200 over HTTP/2.0", resp.StatusCode, resp.Header.Get("X-Proto"))
	}
}

func TestGRPCOverHTTP1Refused(t *testing.T) {
	backend := echoBackend(t, "b")
	srv := frontend(t, Options{Upstreams: []string{backend.URL}})
	for ct, want := range map[string]int{
		"application/grpc":          400,
		"application/grpc+proto":    400,
		"application/grpc-web":      200, // gRPC-Web works over HTTP/1.1
		"application/grpc-web-text": 200,
	} {
		code, _, body := do(t, srv.Client(), "POST", srv.URL+"/svc/Method", "x", map[string]string{"Content-Type": ct})
		if code != want {
			t.Errorf("%s over HTTP/1.1 = %d %q; want %d", ct, code, body, want)
		}
		if want == 400 && !strings.Contains(body, "gRPC needs HTTP/2") {
			t.Errorf("%s: body %q does not say why", ct, body)
		}
	}
}

func mustRead(t *testing.T, f string) []byte {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// WebSocket upgrades to an https:// upstream that offers h2 still work:
// net/http dials those connections with HTTP/1.1 only.
func TestWebSocketUpgradeTLS(t *testing.T) {
	ca := newTestCA(t)
	up := tlsBackendHandler(t, &tls.Config{Certificates: []tls.Certificate{ca.leaf(t, false, "backend.internal")}}, http.HandlerFunc(upgradeEcho))
	ut, err := LoadUpstreamTLS([]string{ca.rootFile}, "backend.internal", "", "")
	if err != nil {
		t.Fatal(err)
	}
	srv := frontend(t, Options{Upstreams: []string{up}, UpstreamTLS: ut})
	checkUpgradeEcho(t, srv.Listener.Addr().String(), "hello\n")
}

// A health check with config.GRPCHealthPath asks the gRPC health service of an
// h2c:// upstream and follows its SERVING status.
func TestGRPCHealthCheck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	up := "h2c://" + ln.Addr().String()

	hc := *fastCheck
	hc.Path = config.GRPCHealthPath
	states := NewHealth(HealthOptions{Logger: testLogger(t)})
	h, err := New(Options{Upstreams: []string{up}, Name: "g", Health: states, HealthCheck: &hc, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	h.Start()
	t.Cleanup(h.Stop)
	healthy := func(want bool) func() error {
		return func() error {
			if l := states.List(); len(l) != 1 || l[0].Healthy != want {
				return fmt.Errorf("%+v; want healthy %v", l, want)
			}
			return nil
		}
	}
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	testproc.Eventually(t, 5*time.Second, "NOT_SERVING takes it out", healthy(false))
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	testproc.Eventually(t, 5*time.Second, "SERVING brings it back", healthy(true))
}
