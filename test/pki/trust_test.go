package pki

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCAEnvPython: after eval "$(tlsgate ca env)", Debian's python3 trusts
// a local-CA site through urllib/ssl and requests with no other change,
// and still trusts the system roots (the bundle keeps them).
func TestCAEnvPython(t *testing.T) {
	t.Parallel()
	py := need(t, "/usr/bin/python3", "python3 python3-requests")
	s := newSandbox(t)
	port := s.serve(localSite, "localhost", nil)
	url := fmt.Sprintf("https://localhost:%d/", port)
	script := s.file("client.py", `import sys, urllib.request
print("urllib:", urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())
try:
    import requests
except ImportError:
    print("requests: not installed")
    sys.exit(0)
print("requests:", requests.get(sys.argv[1], timeout=10).text)
`)
	// Without the exports Python does not trust the local CA: the test can fail.
	if r := s.run(nil, py, script, url); r.Code == 0 || !strings.Contains(r.Stderr, "CERTIFICATE_VERIFY_FAILED") {
		t.Fatalf("python3 without tlsgate ca env: %s; want a verification failure", r)
	}
	sh := fmt.Sprintf(`set -e; eval "$(%s ca env --data-dir %s)"; exec %s %s %s`, tlsgateBin, s.DataDir, py, script, url)
	r := s.run(nil, "sh", "-c", sh)
	if r.Code != 0 || !strings.Contains(r.Stdout, "urllib: hello from tlsgate") {
		t.Fatalf("python3 after eval \"$(tlsgate ca env)\": %s", r)
	}
	switch {
	case strings.Contains(r.Stdout, "requests: not installed"):
		t.Log("python3-requests is not installed; only urllib was checked (apt-get install -y python3-requests)")
	case !strings.Contains(r.Stdout, "requests: hello from tlsgate"):
		t.Errorf("requests after eval \"$(tlsgate ca env)\": %s", r)
	}
	out := s.ok("ca", "env", "--data-dir", s.DataDir).Stdout
	for _, v := range []string{"SSL_CERT_FILE=", "REQUESTS_CA_BUNDLE=", "CURL_CA_BUNDLE=", "NODE_EXTRA_CA_CERTS=" + filepath.Join(s.DataDir, "ca", "root.crt")} {
		if !strings.Contains(out, "export "+v) {
			t.Errorf("ca env lacks export %s:\n%s", v, out)
		}
	}
	bundle := readFile(t, filepath.Join(s.DataDir, "ca", "bundle.pem"))
	if sys, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt"); err == nil && !strings.HasPrefix(bundle, string(sys)) {
		t.Errorf("bundle.pem does not start with the system roots")
	}
}

// TestTrustNSS: ca trust adds the root to a temporary HOME's NSS database
// (as Chromium keeps it), certutil -L lists it, and untrust removes it.
func TestTrustNSS(t *testing.T) {
	t.Parallel()
	certutil := need(t, "certutil", "libnss3-tools")
	s := newSandbox(t)
	db := filepath.Join(s.Home, ".pki", "nssdb")
	if err := os.MkdirAll(db, 0o700); err != nil {
		t.Fatal(err)
	}
	if r := s.run(nil, certutil, "-N", "--empty-password", "-d", "sql:"+db); r.Code != 0 {
		t.Fatalf("certutil -N: %s", r)
	}
	listed := func() string {
		r := s.run(nil, certutil, "-L", "-d", "sql:"+db)
		if r.Code != 0 {
			t.Fatalf("certutil -L: %s", r)
		}
		return r.Stdout
	}
	out := s.ok("ca", "trust", "--stores", "nss", "--data-dir", s.DataDir).Stdout
	if !strings.Contains(out, db) || !strings.Contains(out, "added as") || !strings.Contains(out, `eval "$(tlsgate ca env`) {
		t.Errorf("ca trust output:\n%s", out)
	}
	if l := listed(); !strings.Contains(l, "Root CA") || !strings.Contains(l, "C,,") {
		t.Fatalf("certutil -L after ca trust lacks our root with trust C,,:\n%s", l)
	}
	out = s.ok("ca", "untrust", "--stores", "nss", "--data-dir", s.DataDir).Stdout
	if !strings.Contains(out, "removed") {
		t.Errorf("ca untrust output:\n%s", out)
	}
	if l := listed(); strings.Contains(l, "Root CA") {
		t.Errorf("certutil -L after ca untrust still lists our root:\n%s", l)
	}
}

// TestTrustSystem: as root, ca trust puts the root into this machine's
// system store, so curl without --cacert trusts a local-CA site; untrust
// takes it out again and curl fails. t.Cleanup removes it whatever happens.
func TestTrustSystem(t *testing.T) {
	need(t, "curl", "curl")
	if os.Geteuid() != 0 {
		t.Skip("the system trust store needs root; run the tests as root (./scripts/test.sh in CI does)")
	}
	s := newSandbox(t)
	port := s.serve(localSite, "localhost", nil)
	url := fmt.Sprintf("https://localhost:%d/", port)
	if r := s.curl(url); r.Code == 0 {
		t.Fatalf("curl trusts a new local CA before ca trust: %s", r)
	}
	t.Cleanup(func() {
		// Whatever failed above, leave the machine's store as we found it.
		if r := s.tlsgate("ca", "untrust", "--stores", "system", "--data-dir", s.DataDir); r.Code != 0 {
			t.Errorf("cleanup: ca untrust: %s", r)
		}
	})
	out := s.ok("ca", "trust", "--stores", "system", "--data-dir", s.DataDir).Stdout
	if !strings.Contains(out, "system (") || !strings.Contains(out, "added") {
		t.Errorf("ca trust output:\n%s", out)
	}
	if r := s.curl(url); r.Code != 0 || r.Stdout != "hello from tlsgate" {
		t.Fatalf("curl without --cacert after ca trust: %s\nca trust said:\n%s", r, out)
	}
	out = s.ok("ca", "untrust", "--stores", "system", "--data-dir", s.DataDir).Stdout
	if !strings.Contains(out, "removed") {
		t.Errorf("ca untrust output:\n%s", out)
	}
	if r := s.curl(url); r.Code == 0 {
		t.Errorf("curl still trusts the local CA after ca untrust: %s", r)
	}
	// Nothing is left behind: no link in /etc/ssl/certs (Debian), no copy
	// in the JDK keystore made by Debian's ca-certificates-java hook.
	block, _ := pem.Decode([]byte(readFile(t, filepath.Join(s.DataDir, "ca", "root.crt"))))
	sum := sha256.Sum256(block.Bytes)
	name := "tlsgate-" + hex.EncodeToString(sum[:])[:16]
	if left, _ := filepath.Glob("/etc/ssl/certs/" + name + "*"); len(left) > 0 {
		t.Errorf("left behind after untrust: %v", left)
	}
	if keytool, err := exec.LookPath("keytool"); err == nil {
		r := s.run(nil, keytool, "-list", "-cacerts", "-storepass", "changeit")
		if strings.Contains(r.Stdout, name) {
			t.Errorf("the JDK keystore still holds %s after untrust", name)
		}
	}
}
