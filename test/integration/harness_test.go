package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tlsgate/tlsgate/test/testenv"
)

// tlsgateBin is the binary under test, built once by TestMain.
var tlsgateBin string

// childEnv is the environment of every process the tests start: a private
// HOME and XDG dirs so nothing touches the real user's state.
var childEnv []string

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, "integration", func(tmp string) (err error) {
		childEnv = testenv.IsolatedEnv(tmp)
		tlsgateBin, err = testenv.BuildTLSGate(tmp)
		return err
	}))
}

// deadAddr is a 127.0.0.1 address where nothing listens (connection refused).
func deadAddr(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
}

// gateConfig holds the values a config template may use:
// {{.HTTP}}, {{.HTTPS}}, {{.Admin}}, {{.DataDir}}, {{.Dir}}, and a test's
// own values by name, {{.Vars.Echo}} (a missing name fails the test).
type gateConfig struct {
	HTTP, HTTPS, Admin string
	DataDir, Dir       string
	Vars               map[string]string
}

// header is the start of most test configs: loopback listeners on free
// ports, the admin API, and a private data dir.
const header = `data_dir: {{.DataDir}}
listen: {http: "{{.HTTP}}", https: "{{.HTTPS}}"}
admin: "{{.Admin}}"
`

// instance is one running `tlsgate run`.
type instance struct {
	gateConfig
	*testenv.Proc
	ConfigPath string
	HTTPSPort  int
	HTTPPort   int
}

// startProc starts a tlsgate command that keeps running (testenv.Start:
// cleanup stops it and, when the test failed, shows its output).
func startProc(t *testing.T, dir string, args ...string) *testenv.Proc {
	t.Helper()
	cmd := exec.Command(tlsgateBin, args...)
	cmd.Dir, cmd.Env = dir, childEnv
	return testenv.Start(t, cmd)
}

// newGateConfig picks ports and directories for one instance.
func newGateConfig(t *testing.T) gateConfig {
	t.Helper()
	dir := t.TempDir()
	return gateConfig{
		HTTP:    fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		HTTPS:   fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		Admin:   fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		DataDir: filepath.Join(dir, "data"),
		Dir:     dir,
	}
}

// render fills the template placeholders of a config text.
func (g gateConfig) render(t *testing.T, text string) string {
	t.Helper()
	tmpl, err := template.New("config").Option("missingkey=error").Parse(text)
	if err != nil {
		t.Fatalf("config template: %v", err)
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, g); err != nil {
		t.Fatalf("config template: %v", err)
	}
	return b.String()
}

// startTLSGate writes the config, runs `tlsgate run` and waits until it
// serves: the listeners accept, /status answers, and every non-wildcard
// site host completes a TLS handshake. It stops the process on cleanup.
func startTLSGate(t *testing.T, configYAML string, extraArgs ...string) *instance {
	t.Helper()
	return startWith(t, newGateConfig(t), configYAML, extraArgs...)
}

// startTLSGateVars is startTLSGate with the test's own template values
// ({{.Vars.name}}); they stay for later writeConfig calls.
func startTLSGateVars(t *testing.T, vars map[string]string, configYAML string, extraArgs ...string) *instance {
	t.Helper()
	g := newGateConfig(t)
	g.Vars = vars
	return startWith(t, g, configYAML, extraArgs...)
}

func startWith(t *testing.T, g gateConfig, configYAML string, extraArgs ...string) *instance {
	t.Helper()
	inst := &instance{gateConfig: g, ConfigPath: filepath.Join(g.Dir, "tlsgate.yaml")}
	inst.HTTPSPort = portOf(t, g.HTTPS)
	inst.HTTPPort = portOf(t, g.HTTP)
	inst.writeConfig(t, configYAML)

	args := append([]string{"run", "-c", inst.ConfigPath}, extraArgs...)
	inst.Proc = startProc(t, g.Dir, args...)
	inst.waitReady(t, configYAML)
	return inst
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	if addr == "" {
		return 0
	}
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	var n int
	fmt.Sscanf(p, "%d", &n)
	return n
}

// writeConfig renders and (re)writes the config file atomically.
func (inst *instance) writeConfig(t *testing.T, configYAML string) {
	t.Helper()
	text := inst.render(t, configYAML)
	tmp := inst.ConfigPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, inst.ConfigPath); err != nil {
		t.Fatal(err)
	}
}

func (inst *instance) waitReady(t *testing.T, configYAML string) {
	t.Helper()
	wait := func(what string, ok func() error) {
		t.Helper()
		testenv.Eventually(t, 20*time.Second, "tlsgate not ready: "+what, func() error {
			if inst.Exited() {
				t.Fatalf("tlsgate exited while waiting for %s: %v\nstderr:\n%s", what, inst.Err(), inst.Stderr.String())
			}
			return ok()
		})
	}
	wait("https listener", func() error { return tcpDial(inst.HTTPS) })
	if inst.Admin != "" {
		wait("admin /status", func() error {
			resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + inst.Admin + "/status")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		})
	}
	for _, h := range siteHosts(t, inst.render(t, configYAML)) {
		wait("certificate for "+h, func() error {
			_, err := handshake(inst.HTTPS, &tls.Config{ServerName: h, InsecureSkipVerify: true})
			if err != nil && (strings.Contains(err.Error(), "certificate required") || strings.Contains(err.Error(), "bad certificate")) {
				return nil // the site asks for a client certificate: it is served
			}
			return err
		})
	}
}

func tcpDial(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// siteHosts lists the concrete names (no wildcards) of all sites in a config.
func siteHosts(t *testing.T, text string) []string {
	t.Helper()
	var cfg struct {
		Sites []struct {
			Hosts []string `yaml:"hosts"`
		} `yaml:"sites"`
	}
	if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
		t.Fatalf("test config does not parse: %v\n%s", err, text)
	}
	var names []string
	for _, s := range cfg.Sites {
		for _, h := range s.Hosts {
			if !strings.Contains(h, "*") {
				names = append(names, h)
			}
		}
	}
	return names
}

// RootPath is where the local CA's root certificate lives.
func (inst *instance) RootPath() string {
	return filepath.Join(inst.DataDir, "ca", "root.crt")
}

// rootPool loads the local CA root into a pool.
func (inst *instance) rootPool(t *testing.T) *x509.CertPool {
	t.Helper()
	return poolFromFile(t, inst.RootPath())
}

func poolFromFile(t *testing.T, path string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read root: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no PEM certificate", path)
	}
	return pool
}

// url is https://HOST:PORT/PATH on this instance's https listener.
func (inst *instance) url(host, path string) string {
	return fmt.Sprintf("https://%s:%d%s", host, inst.HTTPSPort, path)
}

// client is an HTTP client that trusts pool and connects every host name to
// 127.0.0.1, so URLs can use the site names. h2 picks HTTP/2 or HTTP/1.1.
func (inst *instance) client(t *testing.T, pool *x509.CertPool, h2 bool) *http.Client {
	t.Helper()
	return inst.clientFrom(t, pool, h2, "")
}

// clientFrom is client with connections made from the local address src
// (e.g. 127.0.0.2), so the client is told apart from the proxy at 127.0.0.1.
func (inst *instance) clientFrom(t *testing.T, pool *x509.CertPool, h2 bool, src string) *http.Client {
	t.Helper()
	dial := loopbackDialer
	if src != "" {
		dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
			return d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", port))
		}
	}
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: h2,
		DialContext:       dial,
	}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport: tr,
		Timeout:   30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// loopbackDialer dials 127.0.0.1 on the port of addr, whatever the host.
func loopbackDialer(ctx context.Context, network, addr string) (net.Conn, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", port))
}

// handshake does a TLS handshake with addr and returns the connection state.
func handshake(addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	return conn.ConnectionState(), nil
}

// get fetches url with c and returns status and body.
func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	status, body, err := tryGet(c, url)
	if err != nil {
		t.Fatal(err)
	}
	return status, body
}

// tryGet is get for retry loops: it returns the error instead of failing.
func tryGet(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", fmt.Errorf("GET %s: read body: %w", url, err)
	}
	return resp.StatusCode, string(body), nil
}

// runCmd runs a program to completion (with a 30s deadline) in dir.
func runCmd(t *testing.T, dir string, name string, args ...string) testenv.Result {
	t.Helper()
	return testenv.Run(t, 30*time.Second, dir, childEnv, name, args...)
}

// tlsgate runs one tlsgate CLI command to completion.
func tlsgate(t *testing.T, dir string, args ...string) testenv.Result {
	t.Helper()
	return runCmd(t, dir, tlsgateBin, args...)
}

// writeFile writes a file under dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// eventually retries f until it returns nil or d passes.
func eventually(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	testenv.Eventually(t, d, what, f)
}
