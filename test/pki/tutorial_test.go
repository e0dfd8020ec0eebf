package pki

import (
	"fmt"
	"strings"
	"testing"
)

// fileSite serves localhost and alice.example.net with the certificate and
// encrypted key from the tutorial.
const fileSite = `data_dir: {{.DataDir}}
listen: {http: "", https: "127.0.0.1:{{.Port}}"}
admin: ""
sites:
  - hosts: [localhost, alice.example.net]
    tls: {cert_file: {{.Vars.Cert}}, key_file: {{.Vars.Key}}, key_passphrase_file: {{.Vars.Pass}}}
    routes:
      - path: /
        respond: {status: 200, body: "hello alice"}
`

// TestTutorial is the walk-through of docs/PKI.md: own CA with an encrypted
// key -> server key with a passphrase -> CSR for localhost and
// alice.example.net -> sign with --ca-cert/--ca-key -> serve it from files ->
// curl --cacert trusts https://localhost but not https://127.0.0.1, which the
// certificate does not name.
func TestTutorial(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	caPass := s.file("ca-pass.txt", "ca passphrase\n")
	pass := s.file("server-pass.txt", "server passphrase\n")

	// 1. Our own CA, made by openssl, its key encrypted.
	s.openssl("req", "-x509", "-newkey", "rsa:2048", "-passout", "file:"+caPass, "-keyout", "ca.key",
		"-subj", "/CN=Tutorial CA", "-days", "30", "-out", "ca.crt")
	// 2. The server's key, with a passphrase.
	s.ok("key", "--out", "server.key", "--passphrase-file", pass)
	// 3. A CSR for both names.
	s.ok("csr", "localhost", "alice.example.net", "--key", "server.key", "--key-passphrase-file", pass, "--out", "server.csr")
	// 4. Signed by our CA.
	out := s.ok("ca", "sign", "server.csr", "--out", "server.crt",
		"--ca-cert", "ca.crt", "--ca-key", "ca.key", "--ca-key-passphrase-file", caPass).Stdout
	if !strings.Contains(out, "localhost, alice.example.net") || !strings.Contains(out, "curl --cacert ca.crt") {
		t.Errorf("ca sign output lacks the names or the next step:\n%s", out)
	}
	// 5. Served by tlsgate from the files.
	port := s.serve(fileSite, "localhost", map[string]string{"Cert": s.path("server.crt"), "Key": s.path("server.key"), "Pass": pass})

	// 6. curl trusts localhost with --cacert ...
	r := s.curl(fmt.Sprintf("https://localhost:%d/", port), "--cacert", "ca.crt")
	if r.Code != 0 || r.Stdout != "hello alice" {
		t.Fatalf("curl --cacert ca.crt https://localhost: %s", r)
	}
	// ... and not without it ...
	if r := s.curl(fmt.Sprintf("https://localhost:%d/", port)); r.Code == 0 {
		t.Errorf("curl without --cacert trusted our private CA: %s", r)
	}
	// ... and not 127.0.0.1, which the certificate does not name.
	r = s.curl(fmt.Sprintf("https://127.0.0.1:%d/", port), "--cacert", "ca.crt")
	if r.Code == 0 || !strings.Contains(r.Stderr, "127.0.0.1") {
		t.Errorf("curl https://127.0.0.1 with a certificate for localhost: %s; want a name mismatch", r)
	}
	// inspect of the URL shows the chain tlsgate serves.
	out = s.ok("inspect", fmt.Sprintf("https://127.0.0.1:%d", port), "--servername", "alice.example.net").Stdout
	if !strings.Contains(out, "Names:     localhost, alice.example.net") || !strings.Contains(out, "Trusted by the system roots: no") {
		t.Errorf("inspect URL:\n%s", out)
	}
}
