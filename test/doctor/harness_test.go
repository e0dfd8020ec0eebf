package doctor

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/doctor"
	"github.com/tlsgate/tlsgate/test/testenv"
)

// tlsgateBin is the binary under test, built once by TestMain.
var tlsgateBin string

// childEnv is the environment of every process the tests start: a private
// HOME and XDG dirs (so no NSS database, no local CA of the real user).
var childEnv []string

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, "doctor", func(tmp string) (err error) {
		childEnv = testenv.IsolatedEnv(tmp)
		tlsgateBin, err = testenv.BuildTLSGate(tmp)
		return err
	}))
}

// result is one `tlsgate doctor` run.
type result struct {
	testenv.Result
	report *doctor.Report // from a --json run
}

// runDoctor runs `tlsgate doctor ARGS...` twice, as text and as --json,
// and checks both exit the same way.
func runDoctor(t *testing.T, args ...string) result {
	t.Helper()
	text := run(t, append([]string{"doctor"}, args...)...)
	js := run(t, append([]string{"doctor", "--json"}, args...)...)
	if js.Code != text.Code {
		t.Errorf("exit %d with --json, %d without", js.Code, text.Code)
	}
	var rep doctor.Report
	if err := json.Unmarshal([]byte(js.Stdout), &rep); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s\nstderr: %s", err, js.Stdout, js.Stderr)
	}
	text.report = &rep
	return text
}

// run runs `tlsgate ARGS...` to completion; a doctor run takes seconds, so
// a minute only catches a hang.
func run(t *testing.T, args ...string) result {
	t.Helper()
	return result{Result: testenv.Run(t, time.Minute, "", childEnv, tlsgateBin, args...)}
}

// finding returns the report's finding with code, failing the test when
// there is none.
func (r result) finding(t *testing.T, code string) doctor.Finding {
	t.Helper()
	for _, f := range r.report.Findings {
		if f.Code == code {
			return f
		}
	}
	t.Fatalf("no %q finding; output:\n%s", code, r.Stdout)
	return doctor.Finding{}
}

// wantText checks that the human output contains every string.
func (r result) wantText(t *testing.T, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(r.Stdout, s) {
			t.Errorf("output lacks %q:\n%s", s, r.Stdout)
		}
	}
}

// waitTCP waits until addr accepts connections.
func waitTCP(t *testing.T, addr string, exited func() bool) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, addr+" accepts connections", func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if exited != nil && exited() {
			t.Fatalf("server for %s exited before it listened", addr)
		}
		return err
	})
}

// startProc starts a long-running command (testenv.Start) and returns
// whether it has exited, for waitTCP.
func startProc(t *testing.T, dir, name string, args ...string) func() bool {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, childEnv
	return testenv.Start(t, cmd).Exited
}

// needOpenSSL skips under -short when openssl is missing and fails
// otherwise: the full run never fakes a pass.
func needOpenSSL(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		if testing.Short() {
			t.Skip("openssl not installed (-short)")
		}
		t.Fatal("openssl is needed: apt-get install -y openssl")
	}
}

// openssl runs one openssl command in dir.
func openssl(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
