package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlsgate/tlsgate/internal/pki"
)

func TestInspectFiles(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	crt, key := filepath.Join(dir, "s.crt"), filepath.Join(dir, "s.key")
	if code, _, stderr := pkiRun(t, nil, "ca", "issue", "localhost", "--cert-out", crt, "--key-out", key, "--data-dir", data); code != 0 {
		t.Fatal(stderr)
	}
	chain := readChain(t, crt)
	reversed := writeTemp(t, dir, "rev.pem", string(pki.EncodeCertificatesPEM(chain[1], chain[0])))
	der := writeTemp(t, dir, "leaf.der", string(chain[0].Raw))
	csr := filepath.Join(dir, "r.csr")
	if code, _, stderr := pkiRun(t, nil, "csr", "csr.test", "--key", key, "--out", csr); code != 0 {
		t.Fatal(stderr)
	}
	encKey := filepath.Join(dir, "enc.key")
	if code, _, stderr := pkiRun(t, map[string]string{envKeyPassphrase: "pw"}, "key", "--out", encKey); code != 0 {
		t.Fatal(stderr)
	}
	garbage := writeTemp(t, dir, "g.txt", "hello")
	tests := []struct {
		file string
		want []string
	}{
		{crt, []string{"Certificate 1 of 2 (leaf)", "Names:     localhost", "days left", "Chain order: ok", "serverAuth", "SHA-256:   "}},
		{reversed, []string{"Chain problems:"}},
		{der, []string{"Certificate 1 of 1 (leaf)"}},
		{csr, []string{"Certificate request", "Names:     csr.test", "Signature: valid"}},
		{key, []string{"Private key", "ecdsa-p256 (256 bits)", "not encrypted"}},
		{encKey, []string{"Private key", "encrypted with a passphrase"}},
		{pki.RootCertPath(pki.LocalCADir(data)), []string{"(root CA)"}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			code, stdout, stderr := pkiRun(t, nil, "inspect", tt.file)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("output lacks %q:\n%s", w, stdout)
				}
			}
		})
	}
	if code, _, stderr := pkiRun(t, nil, "inspect", garbage); code != exitFailure || !strings.Contains(stderr, "holds no certificate") {
		t.Errorf("garbage: exit %d, %s", code, stderr)
	}
	if code, _, _ := pkiRun(t, nil, "inspect"); code != exitUsage {
		t.Errorf("no argument: exit %d; want 2", code)
	}
}

func TestInspectURL(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	code, stdout, stderr := pkiRun(t, nil, "inspect", srv.URL, "--json", "--servername", "example.com")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep inspectReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if rep.TLS == nil || rep.TLS.ServerName != "example.com" || rep.TLS.Verified || rep.TLS.VerifyError == "" || len(rep.Certificates) != 1 {
		t.Errorf("report: %+v %+v", rep, rep.TLS)
	}
	// The served certificate is the one httptest made.
	want := pki.DescribeCertificate(srv.Certificate(), rep.Certificates[0].NotBefore).SHA256
	if rep.Certificates[0].SHA256 != want {
		t.Errorf("fingerprint %s; want %s", rep.Certificates[0].SHA256, want)
	}
}
