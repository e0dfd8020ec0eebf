package doctor

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// ecKey are the openssl arguments for a new P-256 key.
var ecKey = []string{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"}

// opensslRoot makes a self-signed CA NAME.crt/NAME.key in dir.
func opensslRoot(t *testing.T, dir, name, cn string) {
	t.Helper()
	openssl(t, dir, append(append([]string{"req", "-x509"}, ecKey...), "-keyout", name+".key", "-out", name+".crt", "-days", "30",
		"-subj", "/CN="+cn, "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")...)
}

// opensslSign makes NAME.key and NAME.crt signed by CA.crt/CA.key with the
// extensions in ext (openssl x509 -extfile syntax).
func opensslSign(t *testing.T, dir, name, cn, ca, ext string) {
	t.Helper()
	openssl(t, dir, append(append([]string{"req", "-new"}, ecKey...), "-keyout", name+".key", "-out", name+".csr", "-subj", "/CN="+cn)...)
	writeFile(t, filepath.Join(dir, name+".ext"), []byte(ext))
	openssl(t, dir, "x509", "-req", "-in", name+".csr", "-CA", ca+".crt", "-CAkey", ca+".key", "-CAcreateserial",
		"-days", "30", "-out", name+".crt", "-extfile", name+".ext")
}

const serverExt = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"

// TestOpenSSLDefects: certificates made by openssl, served by openssl
// s_server.
func TestOpenSSLDefects(t *testing.T) {
	needOpenSSL(t)
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) ([]string, check)
	}{
		{"wrong name", func(t *testing.T, dir string) ([]string, check) {
			opensslRoot(t, dir, "ca", "OpenSSL Name Test CA")
			opensslSign(t, dir, "leaf", "example.test", "ca", serverExt+"subjectAltName=DNS:example.test,DNS:www.example.test\n")
			addr := opensslServer(t, dir, "-cert", "leaf.crt", "-key", "leaf.key")
			return []string{"https://localhost:" + port(addr) + "/", "--cacert", filepath.Join(dir, "ca.crt")},
				check{1, []string{"name_mismatch", "trusted"}, []string{"name asked for: localhost", "example.test, www.example.test", "--servername example.test"}}
		}},
		{"self-signed", func(t *testing.T, dir string) ([]string, check) {
			openssl(t, dir, append(append([]string{"req", "-x509"}, ecKey...), "-keyout", "s.key", "-out", "s.crt", "-days", "30",
				"-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost")...)
			addr := opensslServer(t, dir, "-cert", "s.crt", "-key", "s.key")
			return []string{"https://localhost:" + port(addr) + "/"},
				check{1, []string{"self_signed", "no_http2"}, []string{"self-signed", "CN=localhost (itself)", "--cacert server.pem"}}
		}},
		{"TLS 1.0 only", func(t *testing.T, dir string) ([]string, check) {
			openssl(t, dir, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "r.key", "-out", "r.crt", "-days", "30",
				"-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost")
			addr := opensslServer(t, dir, "-cert", "r.crt", "-key", "r.key", "-tls1", "-cipher", "DEFAULT@SECLEVEL=0")
			return []string{"https://localhost:" + port(addr) + "/", "--cacert", filepath.Join(dir, "r.crt")},
				check{1, []string{"old_tls_only"}, []string{"speaks only TLS 1.0", "accepted: TLS 1.0", "refused: TLS 1.1, TLS 1.2, TLS 1.3"}}
		}},
		{"missing intermediate, found by AIA", func(t *testing.T, dir string) ([]string, check) {
			aia := httptest.NewServer(http.FileServer(http.Dir(dir)))
			t.Cleanup(aia.Close)
			opensslRoot(t, dir, "root", "OpenSSL AIA Root CA")
			opensslSign(t, dir, "int", "OpenSSL AIA Intermediate CA", "root",
				"basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n")
			openssl(t, dir, "x509", "-in", "int.crt", "-outform", "DER", "-out", "int.der")
			opensslSign(t, dir, "leaf", "localhost", "int", serverExt+"subjectAltName=DNS:localhost\n"+
				"authorityInfoAccess=caIssuers;URI:"+aia.URL+"/int.der\n")
			addr := opensslServer(t, dir, "-cert", "leaf.crt", "-key", "leaf.key") // leaf only
			return []string{"https://localhost:" + port(addr) + "/", "--cacert", filepath.Join(dir, "root.crt")},
				check{1, []string{"incomplete_chain"}, []string{`"OpenSSL AIA Intermediate CA"`, "the AIA URL " + aia.URL + "/int.der"}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			args, want := tt.setup(t, dir)
			want.verify(t, runDoctor(t, args...))
		})
	}
}
