package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/test/testenv"
)

// dist is what one run of scripts/package.sh --targets linux/amd64 made;
// the .deb and wheel tests share it.
type dist struct {
	dir, version    string
	deb, wheel, bin string
}

var (
	distOnce sync.Once
	distVal  dist
	distErr  string
)

// buildDist runs package.sh for linux/amd64 once per test binary (the
// other targets are checked by TestCrossBuild) and finds its artifacts.
func buildDist(t *testing.T) dist {
	t.Helper()
	if testing.Short() {
		t.Skip("package.sh builds a release; skipped with -short")
	}
	distOnce.Do(func() {
		root := repoRoot(t)
		cmd := exec.Command("./scripts/package.sh", "--targets", "linux/amd64")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			distErr = "scripts/package.sh: " + err.Error() + "\n" + string(out)
			return
		}
		d := dist{dir: filepath.Join(root, "dist")}
		desc, err := exec.Command("git", "-C", root, "describe", "--tags", "--always", "--dirty").Output()
		if err != nil {
			distErr = "git describe: " + err.Error()
			return
		}
		d.version = strings.TrimSpace(string(desc))
		d.bin = filepath.Join(d.dir, "tlsgate_"+d.version+"_linux_amd64")
		d.deb = d.bin + ".deb"
		wheels, _ := filepath.Glob(filepath.Join(d.dir, "tlsgate-*-py3-none-manylinux_2_17_x86_64.whl"))
		if len(wheels) != 1 {
			distErr = "want one manylinux x86_64 wheel in dist/, got " + strings.Join(wheels, " ")
			return
		}
		d.wheel = wheels[0]
		distVal = d
	})
	if distErr != "" {
		t.Fatal(distErr)
	}
	return distVal
}

func run(t *testing.T, name string, args ...string) testenv.Result {
	t.Helper()
	return testenv.Run(t, 2*time.Minute, "", os.Environ(), name, args...)
}

func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	r := run(t, name, args...)
	if r.Code != 0 {
		t.Fatalf("%s %s: %s", name, strings.Join(args, " "), r)
	}
	return r.Stdout
}
