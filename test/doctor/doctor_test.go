package doctor

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/pki"
	"github.com/tlsgate/tlsgate/test/testenv"
)

// siteYAML is one tlsgate site answering 200 on every path.
func siteYAML(hosts, extra string) string {
	return fmt.Sprintf("  - hosts: [%s]\n%s    routes: [{path: /, respond: {status: 200, body: ok}}]\n", hosts, extra)
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// check is what one case expects: the exit code, finding codes, and
// strings (facts, fixes) in the human output.
type check struct {
	exit  int
	codes []string
	text  []string
}

func (c check) verify(t *testing.T, r result) {
	t.Helper()
	if r.Code != c.exit {
		t.Errorf("exit %d; want %d\nstdout:\n%s\nstderr:\n%s", r.Code, c.exit, r.Stdout, r.Stderr)
	}
	for _, code := range c.codes {
		r.finding(t, code)
	}
	r.wantText(t, c.text...)
	if want := c.exit == 0; r.report.Healthy != want {
		t.Errorf("report healthy = %v; want %v", r.report.Healthy, want)
	}
	if !strings.Contains(r.Stdout, "Verdict: ") {
		t.Errorf("no verdict line:\n%s", r.Stdout)
	}
}

// TestDefects starts one server per defect and checks that doctor names it.
func TestDefects(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name  string
		setup func(t *testing.T) ([]string, check)
	}{
		{"closed port", func(t *testing.T) ([]string, check) {
			addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
			return []string{"https://" + addr + "/"}, check{1, []string{"connection_refused"}, []string{"Nothing accepts connections on " + addr}}
		}},
		{"plain HTTP on the port", func(t *testing.T) ([]string, check) {
			addr := plainServer(t)
			return []string{"https://" + addr + "/"}, check{1, []string{"plain_http"}, []string{"speaks plain HTTP", "200 OK", "http://" + addr + "/"}}
		}},
		{"HTTPS on an http URL", func(t *testing.T) ([]string, check) {
			ca := newCA(t, "Scheme Test", now)
			addr := serveCert(t, issue(t, ca, time.Time{}, 0, false, "localhost"))
			return []string{"http://localhost:" + port(addr) + "/", "--cacert", rootFile(t, t.TempDir(), ca)},
				check{1, []string{"https_on_http_url", "trusted"}, []string{"https://localhost:" + port(addr) + "/"}}
		}},
		{"expired", func(t *testing.T) ([]string, check) {
			ca := newCA(t, "Expiry Test", now.AddDate(-2, 0, 0))
			kp := issue(t, ca, now.AddDate(-1, 0, 0), 30*24*time.Hour, false, "localhost")
			addr := serveCert(t, kp)
			return []string{"https://localhost:" + port(addr) + "/", "--cacert", rootFile(t, t.TempDir(), ca)},
				check{1, []string{"expired", "trusted"}, []string{"expired", fmtUTC(kp.chain[0].NotAfter), "this machine's clock: " + now.UTC().Format("2006-01-02")}}
		}},
		{"self-signed, tls: adhoc style", func(t *testing.T) ([]string, check) {
			cert, err := pki.SelfSigned([]string{"localhost"}, 0)
			if err != nil {
				t.Fatal(err)
			}
			addr := goServer(t, &tls.Config{Certificates: []tls.Certificate{cert}})
			return []string{"https://localhost:" + port(addr) + "/"}, check{1, []string{"self_signed"}, []string{"self-signed", "CN=localhost", "tls: adhoc", "tls: local"}}
		}},
		{"unknown CA", func(t *testing.T) ([]string, check) {
			ca := newCA(t, "Unknown Test", now)
			addr := serveCert(t, issue(t, ca, time.Time{}, 0, false, "localhost"))
			return []string{"https://localhost:" + port(addr) + "/"},
				check{1, []string{"unknown_authority", "root_not_in_system"}, []string{`"Unknown Test Root CA"`, "Unknown Test Intermediate CA", "--cacert root.pem"}}
		}},
		{"missing intermediate, local CA", func(t *testing.T) ([]string, check) {
			data := filepath.Join(t.TempDir(), "data")
			ca := localCA(t, data)
			kp := issue(t, ca, time.Time{}, 0, false, "localhost")
			kp.chain = kp.chain[:1] // the server forgets the intermediate
			addr := serveCert(t, kp)
			return []string{"https://localhost:" + port(addr) + "/", "--cacert", pki.RootCertPath(filepath.Join(data, "ca")), "--data-dir", data},
				check{1, []string{"incomplete_chain"}, []string{"Doctor Test Intermediate CA", filepath.Join(data, "ca", "intermediate.crt"), "fullchain.pem"}}
		}},
		{"client cert required, TLS 1.2", func(t *testing.T) ([]string, check) {
			ca := newCA(t, "MTLS Test", now)
			pool := x509.NewCertPool()
			pool.AddCert(ca.Root)
			addr := goServer(t, &tls.Config{
				Certificates: []tls.Certificate{issue(t, ca, time.Time{}, 0, false, "localhost").tls()},
				ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: pool, MaxVersion: tls.VersionTLS12,
			})
			return []string{"https://localhost:" + port(addr) + "/", "--cacert", rootFile(t, t.TempDir(), ca)},
				check{1, []string{"client_cert_required"}, []string{"requires a client certificate", "MTLS Test Root CA", "--client-cert"}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args, want := tt.setup(t)
			want.verify(t, runDoctor(t, args...))
		})
	}
}

func fmtUTC(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }
