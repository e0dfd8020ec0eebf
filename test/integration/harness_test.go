package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"
)

// tlsgateBin is the binary under test, built once by TestMain.
var tlsgateBin string

// childEnv is the environment of every process the tests start: a private
// HOME and XDG dirs so nothing touches the real user's state.
var childEnv []string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "tlsgate-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(tmp)

	childEnv = isolatedEnv(tmp)
	tlsgateBin = os.Getenv("TLSGATE_BIN")
	if tlsgateBin == "" {
		tlsgateBin = filepath.Join(tmp, "tlsgate")
		build := exec.Command("go", "build", "-o", tlsgateBin, "github.com/tlsgate/tlsgate/cmd/tlsgate")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "integration: building tlsgate failed:", err)
			return 1
		}
	}
	return m.Run()
}

func isolatedEnv(tmp string) []string {
	home := filepath.Join(tmp, "home")
	for _, d := range []string{home, filepath.Join(home, "data"), filepath.Join(home, "config")} {
		_ = os.MkdirAll(d, 0o700)
	}
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "TLSGATE_CONFIG",
			"SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE":
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+home,
		"XDG_DATA_HOME="+filepath.Join(home, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"),
		"PYTHONDONTWRITEBYTECODE=1",
	)
}

// syncBuffer is a bytes.Buffer safe for a process writer and test readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// freePort asks the kernel for a free 127.0.0.1 port. Another process may
// take it before we use it; the window is small enough for tests.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// deadAddr is a 127.0.0.1 address where nothing listens (connection refused).
func deadAddr(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", freePort(t))
}

// gateConfig holds the values a config template may use:
// {{.HTTP}}, {{.HTTPS}}, {{.Admin}}, {{.DataDir}}, {{.Dir}}.
type gateConfig struct {
	HTTP, HTTPS, Admin string
	DataDir, Dir       string
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
	*proc
	ConfigPath string
	HTTPSPort  int
	HTTPPort   int
}

// proc is one long-running child process with its output captured.
type proc struct {
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // Wait's result; read after done
}

// startProc starts a tlsgate command that keeps running. Cleanup stops it
// and, when the test failed, shows its output.
func startProc(t *testing.T, dir string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(tlsgateBin, args...), stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	p.cmd.Dir = dir
	p.cmd.Env = childEnv
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start tlsgate: %v", err)
	}
	p.done = make(chan struct{})
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("tlsgate %s stderr:\n%s", strings.Join(args, " "), p.stderr.String())
			if out := p.stdout.String(); out != "" {
				t.Logf("tlsgate stdout:\n%s", out)
			}
		}
	})
	return p
}

// newGateConfig picks ports and directories for one instance.
func newGateConfig(t *testing.T) gateConfig {
	t.Helper()
	dir := t.TempDir()
	return gateConfig{
		HTTP:    fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		HTTPS:   fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		Admin:   fmt.Sprintf("127.0.0.1:%d", freePort(t)),
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

func startWith(t *testing.T, g gateConfig, configYAML string, extraArgs ...string) *instance {
	t.Helper()
	inst := &instance{gateConfig: g, ConfigPath: filepath.Join(g.Dir, "tlsgate.yaml")}
	inst.HTTPSPort = portOf(t, g.HTTPS)
	inst.HTTPPort = portOf(t, g.HTTP)
	inst.writeConfig(t, configYAML)

	args := append([]string{"run", "-c", inst.ConfigPath}, extraArgs...)
	inst.proc = startProc(t, g.Dir, args...)
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

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (inst *instance) waitReady(t *testing.T, configYAML string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	wait := func(what string, ok func() error) {
		t.Helper()
		var last error
		for {
			if inst.exited() {
				t.Fatalf("tlsgate exited while waiting for %s: %v\nstderr:\n%s", what, inst.err, inst.stderr.String())
			}
			if last = ok(); last == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("tlsgate not ready: %s: %v", what, last)
			}
			time.Sleep(50 * time.Millisecond)
		}
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

// stop sends SIGTERM, waits, then kills. It returns the exit code.
func (p *proc) stop(t *testing.T) int {
	t.Helper()
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			t.Errorf("tlsgate did not exit within 15s of SIGTERM; killing it")
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	return exitCode(p.err)
}

// waitExit waits for the process to exit on its own and returns its code.
func (p *proc) waitExit(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return exitCode(p.err)
	case <-time.After(d):
		t.Fatalf("tlsgate still running after %v", d)
		return -1
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

func (p *proc) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// waitLog waits until stderr contains s (case-insensitive).
func (p *proc) waitLog(t *testing.T, s string, d time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if strings.Contains(strings.ToLower(p.stderr.String()), strings.ToLower(s)) {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
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

// result is what a finished command printed and how it exited.
type result struct {
	Code           int
	Stdout, Stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
}

// runCmd runs a program to completion (with a deadline) in dir.
func runCmd(t *testing.T, dir string, name string, args ...string) result {
	t.Helper()
	return runCmdTimeout(t, 30*time.Second, dir, name, args...)
}

// runCmdTimeout is runCmd with a deadline other than 30s.
func runCmdTimeout(t *testing.T, d time.Duration, dir string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = childEnv
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %s: timed out\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), out.String(), errb.String())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s: %v", name, err)
	}
	return result{Code: exitCode(err), Stdout: out.String(), Stderr: errb.String()}
}

// tlsgate runs one tlsgate CLI command to completion.
func tlsgate(t *testing.T, dir string, args ...string) result {
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
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
