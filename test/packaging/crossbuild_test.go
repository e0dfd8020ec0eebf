// Package packaging tests the release artifacts of scripts/package.sh: every
// target vets and builds, the .deb installs and purges cleanly, and the
// wheel puts a working tlsgate on PATH.
package packaging

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/test/testenv"
)

// releaseTargets are the GOOS/GOARCH pairs scripts/package.sh ships.
var releaseTargets = []struct{ goos, goarch string }{
	{"linux", "amd64"},
	{"linux", "arm64"},
	{"darwin", "arm64"},
	{"windows", "amd64"},
}

// repoRoot is the module root, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestCrossBuild vets every package, tests included, for every release
// target, so platform code that breaks one OS is caught on this Linux
// machine (vet type-checks test files, which go build skips). Building the
// binaries is TestDist's: it runs scripts/package.sh for all of them.
func TestCrossBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-vetting takes a while; skipped with -short")
	}
	root := repoRoot(t)
	for _, tg := range releaseTargets {
		t.Run(tg.goos+"_"+tg.goarch, func(t *testing.T) {
			env := append(os.Environ(), "CGO_ENABLED=0", "GOOS="+tg.goos, "GOARCH="+tg.goarch)
			if r := testenv.Run(t, 10*time.Minute, root, env, "go", "vet", "./..."); r.Code != 0 {
				t.Fatalf("go vet ./... for %s/%s (host %s/%s): %s", tg.goos, tg.goarch, runtime.GOOS, runtime.GOARCH, r)
			}
		})
	}
}
