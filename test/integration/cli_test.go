package integration

import (
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/test/testenv"
)

func TestVersion(t *testing.T) {
	t.Parallel()
	r := tlsgate(t, t.TempDir(), "version")
	if r.Code != 0 || !strings.Contains(r.Stdout, "go1.") {
		t.Errorf("tlsgate version: want exit 0 and the Go version; got %s", r)
	}
}

// TestHelp checks every command of the contract documents itself with an example.
func TestHelp(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"run", "proxy", "validate", "ca init", "ca cert", "reload", "version"} {
		t.Run(cmd, func(t *testing.T) {
			t.Parallel()
			args := append(strings.Fields(cmd), "--help")
			r := tlsgate(t, t.TempDir(), args...)
			out := r.Stdout + r.Stderr
			if r.Code != 0 {
				t.Errorf("tlsgate %s --help: exit %d; want 0\n%s", cmd, r.Code, out)
			}
			if !strings.Contains(out, "Example") || !strings.Contains(out, "tlsgate "+cmd) {
				t.Errorf("tlsgate %s --help shows no example of `tlsgate %s`:\n%s", cmd, cmd, out)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", `data_dir: ./data
listen: {http: "127.0.0.1:18080", https: "127.0.0.1:18443"}
admin: ""
sites:
  - hosts: [a.test]
    tls: local
    routes:
      - path: /
        respond: {status: 200, body: "ok"}
`)
	unknownKey := writeFile(t, dir, "unknown.yaml", `data_dir: ./data
listen: {http: "127.0.0.1:18080", https: "127.0.0.1:18443"}
sites:
  - hosts: [a.test]
    tls: local
    bogus: 1
    routes:
      - path: /
        respond: {status: 200, body: "ok"}
`)
	badValue := writeFile(t, dir, "badvalue.yaml", `data_dir: ./data
listen: {http: "127.0.0.1:18080", https: "127.0.0.1:18443"}
sites:
  - hosts: [a.test]
    tls: local
    routes:
      - path: /
        lb: nonsense
        to: ["http://127.0.0.1:9"]
`)
	// Both problems at once: validation reports every one, not the first.
	both := writeFile(t, dir, "both.yaml", `data_dir: ./data
listen: {http: "127.0.0.1:18080", https: "127.0.0.1:18443"}
sites:
  - hosts: [a.test]
    tls: local
    routes:
      - path: /
        lb: nonsense
        to: ["http://127.0.0.1:9"]
  - hosts: [b.test]
    bogus: 1
    routes:
      - path: /
        respond: {status: 200, body: "ok"}
`)

	// upstream_tls files are read, not only found.
	writeFile(t, dir, "notpem.crt", "not a certificate\n")
	badCA := writeFile(t, dir, "badca.yaml", `data_dir: ./data
listen: {http: "127.0.0.1:18080", https: "127.0.0.1:18443"}
sites:
  - hosts: [a.test]
    tls: local
    routes:
      - path: /
        to: ["https://127.0.0.1:9"]
        upstream_tls: {ca_files: [./notpem.crt]}
`)

	t.Run("good", func(t *testing.T) {
		if r := tlsgate(t, dir, "validate", "-c", good); r.Code != 0 {
			t.Errorf("validate good config: %s", r)
		}
	})
	tests := []struct {
		name, file string
		want       []string // prefix + substring pairs
	}{
		{"unknown key", unknownKey, []string{unknownKey + ":6:5: ", "bogus"}},
		{"bad value", badValue, []string{badValue + ":8:", "lb"}},
		{"every problem at once", both, []string{both + ":8:", "lb", both + ":11:5: ", "bogus"}},
		{"upstream_tls CA not PEM", badCA, []string{badCA + ":9:9: ", "notpem.crt has no PEM certificate"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tlsgate(t, dir, "validate", "-c", tc.file)
			if r.Code != 2 {
				t.Errorf("validate: exit %d; want 2", r.Code)
			}
			for i := 0; i < len(tc.want); i += 2 {
				if !hasLine(r.Stderr, tc.want[i], tc.want[i+1]) {
					t.Errorf("validate: want a line `%s...%s...`; got:\n%s", tc.want[i], tc.want[i+1], r.Stderr)
				}
			}
			if strings.Contains(r.Stderr, "goroutine ") || strings.Contains(r.Stderr, "panic") {
				t.Errorf("validate printed a Go panic:\n%s", r.Stderr)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		r := tlsgate(t, dir, "validate", "-c", filepath.Join(dir, "nope.yaml"))
		if r.Code != 2 || !strings.Contains(r.Stderr, "nope.yaml") {
			t.Errorf("validate of a missing file: want exit 2 naming the file; got %s", r)
		}
	})
}

// hasLine reports whether some line of text starts with prefix and contains sub.
func hasLine(text, prefix, sub string) bool {
	for _, l := range strings.Split(text, "\n") {
		// Accept a leading "error: " or similar label before the position.
		if i := strings.Index(l, prefix); i >= 0 && strings.Contains(l[i:], sub) {
			return true
		}
	}
	return false
}

func TestPortInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	g := newGateConfig(t)
	g.HTTPS = ln.Addr().String()
	cfg := writeFile(t, g.Dir, "tlsgate.yaml", g.render(t, header+`
sites:
  - hosts: [a.test]
    tls: local
    routes:
      - path: /
        respond: {status: 200, body: "ok"}
`))
	r := testenv.Run(t, 20*time.Second, g.Dir, childEnv, tlsgateBin, "run", "-c", cfg)
	if r.Code != 1 {
		t.Errorf("run with the https port taken: exit %d; want 1", r.Code)
	}
	if !strings.Contains(r.Stderr, g.HTTPS) {
		t.Errorf("run with the https port taken: stderr does not name %s:\n%s", g.HTTPS, r.Stderr)
	}
}

func TestCA(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	root := filepath.Join(data, "ca", "root.crt")

	r := tlsgate(t, dir, "ca", "init", "--data-dir", data)
	if r.Code != 0 {
		t.Fatalf("ca init: %s", r)
	}
	first, err := os.ReadFile(root)
	if err != nil {
		t.Fatalf("ca init made no %s: %v", root, err)
	}
	if r := tlsgate(t, dir, "ca", "init", "--data-dir", data); r.Code != 0 {
		t.Errorf("second ca init: %s; want exit 0 (idempotent)", r)
	}
	if again, _ := os.ReadFile(root); string(again) != string(first) {
		t.Errorf("second ca init replaced the root certificate")
	}
	certs := pemCerts(t, string(first))
	if len(certs) != 1 || !certs[0].IsCA || certs[0].CheckSignatureFrom(certs[0]) != nil {
		t.Errorf("%s is not one self-signed CA certificate", root)
	}

	r = tlsgate(t, dir, "ca", "cert", "--data-dir", data)
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != strings.TrimSpace(string(first)) {
		t.Errorf("ca cert: want the root PEM on stdout; got %s", r)
	}
	r = tlsgate(t, dir, "ca", "cert", "--path", "--data-dir", data)
	if got := strings.TrimSpace(r.Stdout); r.Code != 0 || !sameFile(got, root) {
		t.Errorf("ca cert --path: got %q (%s); want %s", got, r, root)
	}

	keys := 0
	filepath.WalkDir(data, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.Contains(strings.ToLower(d.Name()), "key") {
			return err
		}
		keys++
		if fi, err := d.Info(); err == nil && fi.Mode().Perm() != 0o600 {
			t.Errorf("key file %s has mode %v; want 0600", p, fi.Mode().Perm())
		}
		return nil
	})
	if keys < 2 {
		t.Errorf("found %d key files under %s; want the root and intermediate keys", keys, data)
	}
}

func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// TestProxyQuickMode runs `tlsgate proxy` and executes the curl line it prints.
func TestProxyQuickMode(t *testing.T) {
	t.Parallel()
	skipShort(t, "curl")
	echo := echoBackend(t, "quick")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	httpsPort, httpPort := testenv.FreePort(t), testenv.FreePort(t)
	p := startProc(t, dir, "proxy", "--to", echo, "--cors-origin", "http://localhost:5173",
		"--https-port", fmt.Sprint(httpsPort), "--http-port", fmt.Sprint(httpPort), "--data-dir", data)

	url := fmt.Sprintf("https://localhost:%d/", httpsPort)
	var curlLine string
	eventually(t, 20*time.Second, "proxy prints its curl line", func() error {
		if p.Exited() {
			t.Fatalf("tlsgate proxy exited: %v\nstdout:\n%s\nstderr:\n%s", p.Err(), p.Stdout, p.Stderr)
		}
		for _, l := range strings.Split(p.Stdout.String(), "\n") {
			if i := strings.Index(l, "curl "); i >= 0 && strings.Contains(l, "--cacert") {
				curlLine = strings.TrimSpace(l[i:])
				return nil
			}
		}
		return fmt.Errorf("no curl --cacert line yet in:\n%s", p.Stdout)
	})
	out := p.Stdout.String()
	if !strings.Contains(out, url) {
		t.Errorf("proxy stdout does not show the URL %s:\n%s", url, out)
	}
	root := filepath.Join(data, "ca", "root.crt")
	if abs, _ := filepath.Abs(root); !strings.Contains(out, root) && !strings.Contains(out, abs) {
		t.Errorf("proxy stdout does not show the root certificate path %s:\n%s", root, out)
	}
	if !strings.Contains(curlLine, url) {
		t.Errorf("curl line %q does not fetch %s", curlLine, url)
	}

	eventually(t, 10*time.Second, "proxy accepts", func() error { return tcpDial(fmt.Sprintf("127.0.0.1:%d", httpsPort)) })
	// Run the printed line as a user would paste it into a shell.
	var r testenv.Result
	eventually(t, 10*time.Second, "the printed curl line succeeds", func() error {
		r = runCmd(t, dir, "sh", "-c", curlLine)
		if r.Code != 0 {
			return fmt.Errorf("%s", r)
		}
		return nil
	})
	e := decodeEcho(t, r.Stdout)
	if e.Backend != "quick" || e.get("X-Forwarded-Proto") != "https" {
		t.Errorf("backend saw %+v; want the quick backend with X-Forwarded-Proto https", e)
	}
	for _, hint := range []string{"tlsgate ca trust", "tlsgate ca env"} {
		if !strings.Contains(out, hint) {
			t.Errorf("proxy does not tell new users about %s:\n%s", hint, out)
		}
	}

	// --cors-origin: a preflight from the dev frontend's origin is allowed.
	pre := runCmd(t, dir, "curl", "-q", "-sS", "-o", "/dev/null", "-D", "-", "--cacert", root, "-X", "OPTIONS",
		"-H", "Origin: http://localhost:5173", "-H", "Access-Control-Request-Method: PUT", url+"api")
	if !strings.Contains(strings.ToLower(pre.Stdout), "access-control-allow-origin: http://localhost:5173") {
		t.Errorf("--cors-origin preflight:\n%s", pre)
	}
}
