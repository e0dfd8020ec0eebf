package packaging

import (
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/test/testenv"
)

// dist is what one run of scripts/package.sh (every target) made; the
// dist, .deb and wheel tests share it.
type dist struct {
	dir, version    string
	deb, wheel, bin string // the linux/amd64 ones, which run here
}

var (
	distOnce sync.Once
	distVal  dist
	distErr  string
)

// buildDist runs package.sh once per test binary and finds its linux/amd64
// artifacts (TestDist checks all of them).
func buildDist(t *testing.T) dist {
	t.Helper()
	if testing.Short() {
		t.Skip("package.sh builds a release; skipped with -short")
	}
	distOnce.Do(func() {
		root := repoRoot(t)
		cmd := exec.Command("./scripts/package.sh")
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
		wheels, _ := filepath.Glob(filepath.Join(d.dir, "tlsgate-*-py3-none-"+wheelTags["linux/amd64"]+".whl"))
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

// binaryArch reads the OS and architecture an executable is for from its
// headers (ELF, Mach-O or PE).
func binaryArch(path string) (goos, goarch string, err error) {
	if f, err := elf.Open(path); err == nil {
		defer f.Close()
		return "linux", map[elf.Machine]string{elf.EM_X86_64: "amd64", elf.EM_AARCH64: "arm64"}[f.Machine], nil
	}
	if f, err := macho.Open(path); err == nil {
		defer f.Close()
		return "darwin", map[macho.Cpu]string{macho.CpuAmd64: "amd64", macho.CpuArm64: "arm64"}[f.Cpu], nil
	}
	if f, err := pe.Open(path); err == nil {
		defer f.Close()
		return "windows", map[uint16]string{pe.IMAGE_FILE_MACHINE_AMD64: "amd64", pe.IMAGE_FILE_MACHINE_ARM64: "arm64"}[f.Machine], nil
	}
	return "", "", fmt.Errorf("%s is not an ELF, Mach-O or PE executable", path)
}

// machoMinOS is the minimum macOS version ("12.0") in a Mach-O binary's
// LC_BUILD_VERSION load command, which macOS checks before it runs it.
func machoMinOS(path string) (string, error) {
	f, err := macho.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	const lcBuildVersion = 0x32 // cmd, cmdsize, platform, minos, sdk, ntools
	for _, l := range f.Loads {
		raw := l.Raw()
		if len(raw) >= 16 && f.ByteOrder.Uint32(raw) == lcBuildVersion {
			v := f.ByteOrder.Uint32(raw[12:])
			return fmt.Sprintf("%d.%d", v>>16, v>>8&0xff), nil
		}
	}
	return "", fmt.Errorf("%s has no LC_BUILD_VERSION", path)
}

// TestDist checks everything package.sh made: per release target a static,
// trimmed binary for that OS and architecture with the git describe
// version stamped in, and its wheel; a .deb per Linux target; and
// SHA256SUMS listing and matching every file.
func TestDist(t *testing.T) {
	d := buildDist(t)
	expected := map[string]bool{"SHA256SUMS": true}
	for _, tg := range releaseTargets {
		name := "tlsgate_" + d.version + "_" + tg.goos + "_" + tg.goarch
		if tg.goos == "windows" {
			name += ".exe"
		}
		expected[name] = true
		path := filepath.Join(d.dir, name)
		goos, goarch, err := binaryArch(path)
		if err != nil || goos != tg.goos || goarch != tg.goarch {
			t.Errorf("%s: an executable for %s/%s (%v); want %s/%s", name, goos, goarch, err, tg.goos, tg.goarch)
			continue
		}
		info, err := buildinfo.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		settings := map[string]string{}
		for _, s := range info.Settings {
			settings[s.Key] = s.Value
		}
		if settings["-trimpath"] != "true" || settings["CGO_ENABLED"] != "0" {
			t.Errorf("%s built with -trimpath=%q CGO_ENABLED=%q; want a trimmed static build", name, settings["-trimpath"], settings["CGO_ENABLED"])
		}
		if b, err := os.ReadFile(path); err != nil || !bytes.Contains(b, []byte(d.version)) {
			t.Errorf("%s does not carry the version %s (%v)", name, d.version, err)
		}
		if tg.goos == "darwin" {
			// The wheel must not claim a macOS the binary refuses to run on.
			minOS, err := machoMinOS(path)
			if want := "macosx_" + strings.ReplaceAll(minOS, ".", "_") + "_arm64"; err != nil || wheelTags["darwin/arm64"] != want {
				t.Errorf("%s needs macOS %s (%v); the wheel tag is %s, want %s", name, minOS, err, wheelTags["darwin/arm64"], want)
			}
		}
		wheels, _ := filepath.Glob(filepath.Join(d.dir, "tlsgate-*-py3-none-"+wheelTags[tg.goos+"/"+tg.goarch]+".whl"))
		if len(wheels) != 1 {
			t.Errorf("want one %s wheel, got %q", wheelTags[tg.goos+"/"+tg.goarch], wheels)
		}
		for _, w := range wheels {
			expected[filepath.Base(w)] = true
		}
		if tg.goos == "linux" {
			expected[name+".deb"] = true
		}
	}
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		t.Fatal(err)
	}
	var have []string
	for _, e := range entries {
		have = append(have, e.Name())
	}
	for name := range expected {
		if !slices.Contains(have, name) {
			t.Errorf("dist/ has no %s; it has %q", name, have)
		}
	}
	sums, err := os.ReadFile(filepath.Join(d.dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Errorf("SHA256SUMS line %q is not sha256sum's format", line)
			continue
		}
		listed[name] = true
		b, err := os.ReadFile(filepath.Join(d.dir, name))
		if got := sha256.Sum256(b); err != nil || hex.EncodeToString(got[:]) != sum {
			t.Errorf("SHA256SUMS: %s does not match (%v)", name, err)
		}
	}
	for _, name := range have {
		if name != "SHA256SUMS" && !listed[name] {
			t.Errorf("SHA256SUMS does not list %s", name)
		}
	}
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
