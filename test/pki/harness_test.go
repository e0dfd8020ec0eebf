package pki

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/tlsgate/tlsgate/test/testenv"
)

// tlsgateBin is the binary under test, built once by TestMain.
var tlsgateBin string

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, "pki", func(tmp string) (err error) {
		tlsgateBin, err = testenv.BuildTLSGate(tmp)
		return err
	}))
}

// sandbox is one test's working directory, HOME and tlsgate data dir.
type sandbox struct {
	t       *testing.T
	Dir     string
	Home    string
	DataDir string
	env     []string
}

func newSandbox(t *testing.T) *sandbox {
	t.Helper()
	dir := t.TempDir()
	s := &sandbox{t: t, Dir: dir, Home: filepath.Join(dir, "home"), DataDir: filepath.Join(dir, "data")}
	if err := os.MkdirAll(s.Home, 0o700); err != nil {
		t.Fatal(err)
	}
	// Each test has its own HOME; nothing else of the user's state leaks in.
	s.env = append(testenv.BaseEnv(), "HOME="+s.Home)
	return s
}

// run runs a command in the sandbox with extra environment variables.
func (s *sandbox) run(extraEnv []string, name string, args ...string) testenv.Result {
	s.t.Helper()
	env := append(append([]string{}, s.env...), extraEnv...)
	return testenv.Run(s.t, 30*time.Second, s.Dir, env, name, args...)
}

// tlsgate runs a tlsgate command; ok fails the test unless it exits 0.
func (s *sandbox) tlsgate(args ...string) testenv.Result {
	s.t.Helper()
	return s.run(nil, tlsgateBin, args...)
}

func (s *sandbox) ok(args ...string) testenv.Result {
	s.t.Helper()
	r := s.tlsgate(args...)
	if r.Code != 0 {
		s.t.Fatalf("tlsgate %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// openssl runs openssl and fails the test unless it exits 0.
func (s *sandbox) openssl(args ...string) testenv.Result {
	s.t.Helper()
	r := s.run(nil, need(s.t, "openssl", "openssl"), args...)
	if r.Code != 0 {
		s.t.Fatalf("openssl %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// file writes name in the sandbox and returns its path.
func (s *sandbox) file(name, content string) string {
	s.t.Helper()
	p := filepath.Join(s.Dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		s.t.Fatal(err)
	}
	return p
}

func (s *sandbox) path(name string) string { return filepath.Join(s.Dir, name) }

// need finds a peer program. Under -short the test is skipped; in the full
// run a missing peer is a failure that says how to install it.
func need(t *testing.T, name, pkg string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: not starting %s", name)
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found; install it with: apt-get install -y %s (./scripts/test.sh does)", name, pkg)
	}
	return p
}

// siteConfig holds what a config template may use: {{.DataDir}},
// {{.Port}} (HTTPS) and the test's own values, {{.Vars.name}}.
type siteConfig struct {
	DataDir string
	Port    int
	Vars    map[string]string
}

// serve writes config (a siteConfig template) and runs `tlsgate run -c`
// until the test ends. It returns the port once host completes a TLS
// handshake.
func (s *sandbox) serve(config, host string, vars map[string]string) int {
	s.t.Helper()
	t := s.t
	port := testenv.FreePort(t)
	tmpl, err := template.New("config").Option("missingkey=error").Parse(config)
	if err != nil {
		t.Fatalf("config template: %v", err)
	}
	var text strings.Builder
	if err := tmpl.Execute(&text, siteConfig{DataDir: s.DataDir, Port: port, Vars: vars}); err != nil {
		t.Fatalf("config template: %v", err)
	}
	cfgPath := s.file("tlsgate.yaml", text.String())
	cmd := exec.Command(tlsgateBin, "run", "-c", cfgPath)
	cmd.Dir, cmd.Env = s.Dir, s.env
	p := testenv.Start(t, cmd)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	testenv.Eventually(t, 20*time.Second, "tlsgate serving "+host+" on "+addr, func() error {
		if p.Exited() {
			t.Fatalf("tlsgate run exited:\n%s", p.Stderr.String())
		}
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{ServerName: host, InsecureSkipVerify: true})
		if err != nil {
			return fmt.Errorf("%w\n%s", err, p.Stderr.String())
		}
		c.Close()
		return nil
	})
	return port
}

// localSite is a config for one local-CA site answering "hello".
const localSite = `data_dir: {{.DataDir}}
listen: {http: "", https: "127.0.0.1:{{.Port}}"}
admin: ""
sites:
  - hosts: [localhost]
    tls: local
    routes:
      - path: /
        respond: {status: 200, body: "hello from tlsgate"}
`

// curl runs curl against url with extra arguments; it returns the result
// without judging it.
func (s *sandbox) curl(url string, extra ...string) testenv.Result {
	s.t.Helper()
	args := append([]string{"-sS", "--max-time", "10"}, extra...)
	return s.run(nil, need(s.t, "curl", "curl"), append(args, url)...)
}
