package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/test/testenv"
)

// ocspLeaf makes a leaf for name signed by the CA, naming responder as its
// OCSP URL (none when ""), and writes it followed by the CA certificate
// (the issuer an OCSP request names). It returns the chain and key paths
// and the serial as openssl's index.txt writes it.
func ocspLeaf(t *testing.T, dir, name, responder, caCrt, caKey string) (chain, key, serial string) {
	t.Helper()
	crt, csr := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".csr")
	key = filepath.Join(dir, name+".key")
	ext := "subjectAltName=DNS:" + name + "\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n"
	if responder != "" {
		ext += "authorityInfoAccess=OCSP;URI:" + responder + "\n"
	}
	extFile := writeFile(t, dir, name+".ext", ext)
	for _, args := range [][]string{
		{"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-subj", "/CN=" + name, "-out", csr},
		{"x509", "-req", "-in", csr, "-CA", caCrt, "-CAkey", caKey, "-days", "30", "-extfile", extFile, "-out", crt},
	} {
		if r := runCmd(t, dir, "openssl", args...); r.Code != 0 {
			t.Fatalf("openssl %s: %s", args[0], r)
		}
	}
	leafPEM, _ := os.ReadFile(crt)
	caPEM, _ := os.ReadFile(caCrt)
	chain = writeFile(t, dir, name+".chain.pem", string(leafPEM)+string(caPEM))
	serial = strings.ToUpper(pemCerts(t, string(leafPEM))[0].SerialNumber.Text(16))
	if len(serial)%2 == 1 {
		serial = "0" + serial
	}
	return chain, key, serial
}

// ocspIndex is openssl ca's index.txt line for one certificate of name:
// V (valid) or R (revoked, with the revocation time).
func ocspIndex(status, serial, name string) string {
	expiry := time.Now().Add(30 * 24 * time.Hour).UTC().Format("060102150405Z")
	revoked := ""
	if status == "R" {
		revoked = time.Now().Add(-time.Minute).UTC().Format("060102150405Z")
	}
	return fmt.Sprintf("%s\t%s\t%s\t%s\tunknown\t/CN=%s\n", status, expiry, revoked, serial, name)
}

// sClientStatus is what `openssl s_client -status` says about the OCSP
// staple tlsgate sends for name.
func sClientStatus(t *testing.T, inst *instance, name string) string {
	t.Helper()
	r := runCmd(t, "", "openssl", "s_client", "-connect", inst.HTTPS, "-servername", name, "-status")
	return r.Stdout
}

func TestOCSPStaplingFileCertificate(t *testing.T) {
	t.Parallel()
	skipShort(t, "openssl")
	dir := t.TempDir()
	caCrt, caKey := opensslCA(t, dir)
	port := testenv.FreePort(t)
	responder := fmt.Sprintf("http://127.0.0.1:%d", port)
	chain, key, serial := ocspLeaf(t, dir, "ocsp.test", responder, caCrt, caKey)
	plainChain, plainKey, plainSerial := ocspLeaf(t, dir, "noaia.test", "", caCrt, caKey)
	index := filepath.Join(dir, "index.txt")
	writeIndex := func(status string) {
		t.Helper()
		text := ocspIndex(status, serial, "ocsp.test") + ocspIndex("V", plainSerial, "noaia.test")
		if err := os.WriteFile(index+".tmp", []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(index+".tmp", index); err != nil {
			t.Fatal(err)
		}
	}
	writeIndex("V")
	// The CA answers for itself (-rsigner is the CA), as small CAs do.
	// openssl 3.0's responder reads index.txt once, so a revocation is a
	// restart on the same port.
	startResponder := func() *testenv.Proc {
		t.Helper()
		cmd := exec.Command("openssl", "ocsp", "-index", index, "-port", fmt.Sprint(port),
			"-rsigner", caCrt, "-rkey", caKey, "-CA", caCrt, "-nmin", "5", "-ignore_err")
		cmd.Dir = dir
		p := testenv.Start(t, cmd)
		// Not a probe connection: the responder blocks on a connection
		// that closes without a request.
		eventually(t, 10*time.Second, "openssl ocsp listening", func() error {
			if !strings.Contains(p.Stderr.String(), "waiting for OCSP client connections") {
				return fmt.Errorf("not yet")
			}
			return nil
		})
		return p
	}
	ocspd := startResponder()

	inst := startTLSGate(t, header+fmt.Sprintf(`sites:
  - hosts: [ocsp.test]
    tls: {cert_file: %s, key_file: %s}
    routes: [{path: /, respond: {body: "stapled"}}]
  - hosts: [noaia.test]
    tls: {cert_file: %s, key_file: %s}
    routes: [{path: /, respond: {body: "plain"}}]
`, chain, key, plainChain, plainKey))

	eventually(t, 10*time.Second, "a good OCSP staple for ocsp.test", func() error {
		out := sClientStatus(t, inst, "ocsp.test")
		if !strings.Contains(out, "OCSP Response Status: successful") || !strings.Contains(out, "Cert Status: good") {
			return fmt.Errorf("s_client -status says:\n%s", out)
		}
		return nil
	})
	if out := sClientStatus(t, inst, "noaia.test"); !strings.Contains(out, "OCSP response: no response sent") {
		t.Errorf("a certificate without an OCSP URL: s_client -status says:\n%s", out)
	}

	// The CA revokes it; the files are touched (as a deploy hook would
	// replace them), so tlsgate asks again and staples the new answer.
	ocspd.Stop(t)
	writeIndex("R")
	startResponder()
	future := time.Now().Add(time.Minute)
	if err := os.Chtimes(chain, future, future); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "a revoked OCSP staple for ocsp.test", func() error {
		if out := sClientStatus(t, inst, "ocsp.test"); !strings.Contains(out, "Cert Status: revoked") {
			return fmt.Errorf("s_client -status says:\n%s", out)
		}
		return nil
	})
}

// A responder that is down costs the staple, never the site.
func TestOCSPResponderDownStillServes(t *testing.T) {
	t.Parallel()
	skipShort(t, "openssl")
	dir := t.TempDir()
	caCrt, caKey := opensslCA(t, dir)
	chain, key, _ := ocspLeaf(t, dir, "ocsp.test", "http://"+deadAddr(t), caCrt, caKey)
	inst := startTLSGate(t, header+fmt.Sprintf(`sites:
  - hosts: [ocsp.test]
    tls: {cert_file: %s, key_file: %s}
    routes: [{path: /, respond: {body: "served"}}]
`, chain, key))
	eventually(t, 10*time.Second, "the failed OCSP request logged", func() error {
		if !strings.Contains(inst.Stderr.String(), "could not get an OCSP response; serving without a fresh staple") {
			return fmt.Errorf("not logged yet")
		}
		return nil
	})
	r := curl(t, inst, "ocsp.test", "/", "--cacert", caCrt)
	if r.Code != 0 || r.Stdout != "served" {
		t.Errorf("curl with the responder down: %s", r)
	}
	if out := sClientStatus(t, inst, "ocsp.test"); !strings.Contains(out, "OCSP response: no response sent") {
		t.Errorf("s_client -status says:\n%s", out)
	}
}
