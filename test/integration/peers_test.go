package integration

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/tlsgate/tlsgate/test/testenv"
)

// curl runs curl quietly against a tlsgate instance. Names in the URL are
// resolved to 127.0.0.1 with --resolve; -q ignores any .curlrc.
func curl(t *testing.T, inst *instance, host, path string, extra ...string) testenv.Result {
	t.Helper()
	skipShort(t, "curl")
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl not found; install it with: apt-get install -y curl")
	}
	args := []string{"-q", "-sS", "--max-time", "20"}
	if h := strings.Trim(host, "[]"); !isIP(h) {
		args = append(args, "--resolve", fmt.Sprintf("%s:%d:127.0.0.1", host, inst.HTTPSPort))
	}
	args = append(args, extra...)
	args = append(args, inst.url(host, path))
	return runCmd(t, "", "curl", args...)
}

// skipShort skips under -short, which the README promises skips the tests
// that start real peers (curl, openssl, Python apps).
func skipShort(t *testing.T, peer string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: not starting %s", peer)
	}
}

func isIP(s string) bool {
	return strings.Count(s, ".") == 3 && strings.Trim(s, "0123456789.") == "" || strings.Contains(s, ":")
}

// sClient runs `openssl s_client` against addr with extra arguments and
// returns its result; stdin is empty so it ends after the handshake.
func sClient(t *testing.T, addr string, extra ...string) testenv.Result {
	t.Helper()
	skipShort(t, "openssl s_client")
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl not found; install it with: apt-get install -y openssl")
	}
	args := append([]string{"s_client", "-connect", addr}, extra...)
	return runCmd(t, "", "openssl", args...)
}

// pemCerts parses every certificate PEM block in text (e.g. s_client output).
func pemCerts(t *testing.T, text string) []*x509.Certificate {
	t.Helper()
	var certs []*x509.Certificate
	rest := []byte(text)
	for {
		i := strings.Index(string(rest), "-----BEGIN CERTIFICATE-----")
		if i < 0 {
			return certs
		}
		var b *pem.Block
		b, rest = pem.Decode(rest[i:])
		if b == nil {
			return certs
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatalf("parse certificate from peer output: %v", err)
		}
		certs = append(certs, c)
	}
}

// sans lists a certificate's DNS and IP SANs as strings.
func sans(c *x509.Certificate) []string {
	out := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
