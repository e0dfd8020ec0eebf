package packaging

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/test/testenv"
)

// debianPython is Debian's interpreter (python3-venv), not whatever
// python3 comes first on PATH: the wheel must install into the Python a
// user of this machine has.
const debianPython = "/usr/bin/python3"

// wheelTags are the platform tags of each release target's wheel, as its
// file name joins them; the names are the ones pip and uv match against the
// running platform (a Linux wheel serves glibc and musl systems alike: the
// binary is static).
var wheelTags = map[string]string{
	"linux/amd64":   "manylinux_2_17_x86_64.musllinux_1_1_x86_64",
	"linux/arm64":   "manylinux_2_17_aarch64.musllinux_1_1_aarch64",
	"darwin/arm64":  "macosx_12_0_arm64",
	"windows/amd64": "win_amd64",
}

// pep440Cases: git describe outputs and the PEP 440 version (normal form)
// the wheel carries for each.
var pep440Cases = []struct{ describe, want string }{
	{"v1.2.3", "1.2.3"},
	{"v1.02.3", "1.2.3"},
	{"1.2", "1.2"},
	{"v1.2.3-4-gabc1234", "1.2.3.post4+gabc1234"},
	{"v1.2.3-4-gabc1234-dirty", "1.2.3.post4+gabc1234.dirty"},
	{"v2.0.0-rc1", "2.0.0rc1"},
	{"v2.0.0-rc1-2-g1234567", "2.0.0rc1.post2+g1234567"},
	// No tag: git describe --always prints the abbreviated hash, which
	// must not be read as a version (0294b61 would be the beta 294b61).
	{"0294b61", "0.0.0+g0294b61"},
	{"0294b61-dirty", "0.0.0+g0294b61.dirty"},
}

// TestWheelVersions: packaging/wheel.py turns git describe into the PEP
// 440 version pip shows (checked against pip's own parser in TestWheel).
func TestWheelVersions(t *testing.T) {
	root := repoRoot(t)
	for _, c := range pep440Cases {
		r := testenv.Run(t, time.Minute, root, os.Environ(), debianPython, "packaging/wheel.py",
			"--print-version", "--version", c.describe, "--target", "linux/amd64")
		if got := strings.TrimSpace(r.Stdout); r.Code != 0 || got != c.want {
			t.Errorf("wheel.py version of %q = %q; want %q\n%s", c.describe, got, c.want, r)
		}
	}
}

// TestWheelTags builds the wheel of every release target from a stand-in
// binary and checks its name, tags, metadata, the binary's place and mode,
// and RECORD.
func TestWheelTags(t *testing.T) {
	root := repoRoot(t)
	const describe, version = "v1.2.3-4-gabc1234", "1.2.3.post4+gabc1234"
	for target, tag := range wheelTags {
		t.Run(strings.ReplaceAll(target, "/", "_"), func(t *testing.T) {
			dir := t.TempDir()
			goos, goarch, _ := strings.Cut(target, "/")
			exe := ""
			if goos == "windows" {
				exe = ".exe"
			}
			bin := []byte("stand-in for the " + target + " binary")
			if err := os.WriteFile(filepath.Join(dir, "tlsgate_"+describe+"_"+goos+"_"+goarch+exe), bin, 0o755); err != nil {
				t.Fatal(err)
			}
			r := testenv.Run(t, time.Minute, root, os.Environ(), debianPython, "packaging/wheel.py",
				"--version", describe, "--target", target, "--dist", dir)
			if r.Code != 0 {
				t.Fatalf("wheel.py: %s", r)
			}
			whl := filepath.Join(dir, "tlsgate-"+version+"-py3-none-"+tag+".whl")
			files := checkWheel(t, whl)
			info := "tlsgate-" + version + ".dist-info/"
			for name, want := range map[string][]string{
				info + "WHEEL":    wheelLines(tag),
				info + "METADATA": {"Metadata-Version: 2.1\n", "Name: tlsgate\n", "Version: " + version + "\n"},
			} {
				for _, w := range want {
					if !strings.Contains(files[name].data, w) {
						t.Errorf("%s lacks %q:\n%s", name, w, files[name].data)
					}
				}
			}
			script := "tlsgate-" + version + ".data/scripts/tlsgate" + exe
			f, ok := files[script]
			if !ok || f.data != string(bin) {
				t.Fatalf("the wheel has no %s with the binary in it", script)
			}
			if f.mode.Perm() != 0o755 {
				t.Errorf("%s has mode %v; want 0755 so that pip installs it executable", script, f.mode)
			}
		})
	}
}

// wheelLines are the lines a WHEEL file with these dot-joined platform
// tags must have: one Tag line per platform.
func wheelLines(platforms string) []string {
	lines := []string{"Wheel-Version: 1.0\n", "Root-Is-Purelib: false\n"}
	for _, p := range strings.Split(platforms, ".") {
		lines = append(lines, "Tag: py3-none-"+p+"\n")
	}
	return lines
}

// TestWheel installs the manylinux x86_64 wheel package.sh built into a
// fresh venv, runs tlsgate from it (version, and proxy serving a request
// over HTTPS), checks it with pip, and uninstalls it.
func TestWheel(t *testing.T) {
	d := buildDist(t)
	tmp := t.TempDir()
	env := append(testenv.IsolatedEnv(tmp), "PIP_NO_INDEX=1", "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_CACHE_DIR=1")
	run := func(name string, args ...string) testenv.Result {
		t.Helper()
		return testenv.Run(t, 2*time.Minute, tmp, env, name, args...)
	}
	must := func(name string, args ...string) string {
		t.Helper()
		r := run(name, args...)
		if r.Code != 0 {
			t.Fatalf("%s %s: %s", name, strings.Join(args, " "), r)
		}
		return r.Stdout
	}

	// The archive as Python reads it, and every file against RECORD.
	if out := must(debianPython, "-m", "zipfile", "-l", d.wheel); !strings.Contains(out, ".data/scripts/tlsgate ") {
		t.Errorf("python3 -m zipfile -l lists no .data/scripts/tlsgate:\n%s", out)
	}
	checkWheel(t, d.wheel)
	version := strings.TrimSpace(must(debianPython, filepath.Join(repoRoot(t), "packaging/wheel.py"),
		"--print-version", "--version", d.version, "--target", "linux/amd64"))
	if want := "tlsgate-" + version + "-py3-none-" + wheelTags["linux/amd64"] + ".whl"; filepath.Base(d.wheel) != want {
		t.Errorf("wheel %s; want %s (the version from git describe %s)", filepath.Base(d.wheel), want, d.version)
	}

	venv := filepath.Join(tmp, "venv")
	must(debianPython, "-m", "venv", venv)
	py, pip, bin := filepath.Join(venv, "bin", "python"), filepath.Join(venv, "bin", "pip"), filepath.Join(venv, "bin", "tlsgate")
	must(pip, "install", "--no-index", d.wheel)
	if out := must(pip, "show", "tlsgate"); !strings.Contains(out, "Version: "+version+"\n") {
		t.Errorf("pip show tlsgate:\n%s\nwant Version: %s", out, version)
	}
	must(py, "-m", "pip", "check")
	// The versions wheel.py makes are in PEP 440's normal form by pip's
	// own parser (a version pip would rewrite is one uv and pip disagree
	// with the file name about).
	for _, c := range append(pep440Cases, struct{ describe, want string }{d.version, version}) {
		r := run(py, "-c", "import sys; from pip._vendor.packaging.version import Version; v = sys.argv[1]; sys.exit(str(Version(v)) != v)", c.want)
		if r.Code != 0 {
			t.Errorf("%q (from %q) is not a normalised PEP 440 version: %s", c.want, c.describe, r)
		}
	}

	if out := must(bin, "version"); !strings.HasPrefix(out, "tlsgate "+d.version+" ") {
		t.Errorf("venv tlsgate version = %q; want tlsgate %s", out, d.version)
	}
	servesThroughProxy(t, tmp, env, bin)

	must(pip, "uninstall", "-y", "tlsgate")
	if _, err := os.Lstat(bin); !os.IsNotExist(err) {
		t.Errorf("%s is still there after pip uninstall (%v)", bin, err)
	}
	if r := run(pip, "show", "tlsgate"); r.Code == 0 {
		t.Errorf("pip still knows tlsgate after uninstall:\n%s", r.Stdout)
	}
}

// servesThroughProxy runs `bin proxy --to :PORT` in front of a backend and fetches a
// page through it with curl, trusting only tlsgate's local CA.
func servesThroughProxy(t *testing.T, tmp string, env []string, bin string) {
	t.Helper()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from the backend, proto %s\n", r.Header.Get("X-Forwarded-Proto"))
	}))
	t.Cleanup(backend.Close)
	port := testenv.FreePort(t)
	data := filepath.Join(tmp, "data")
	// --to :PORT, the short form of `uvx tlsgate proxy --to :8000`.
	_, backendPort, _ := strings.Cut(strings.TrimPrefix(backend.URL, "http://"), ":")
	cmd := exec.Command(bin, "proxy", "--to", ":"+backendPort, "--http-port", "0",
		"--https-port", strconv.Itoa(port), "--data-dir", data)
	cmd.Dir, cmd.Env = tmp, env
	p := testenv.Start(t, cmd)
	testenv.Eventually(t, 20*time.Second, "the venv's tlsgate proxy serves", func() error {
		if p.Exited() {
			t.Fatalf("tlsgate proxy exited: %v\nstderr:\n%s", p.Err(), p.Stderr)
		}
		if !strings.Contains(p.Stdout.String(), "Serving https://") {
			return fmt.Errorf("no Serving line yet")
		}
		if want := "-> " + backend.URL + "\n"; !strings.Contains(p.Stdout.String(), want) {
			t.Fatalf("tlsgate proxy --to :%s does not say it forwards to %s:\n%s", backendPort, backend.URL, p.Stdout)
		}
		return nil
	})
	r := testenv.Run(t, 30*time.Second, tmp, env, "curl", "-sS", "--fail",
		"--cacert", filepath.Join(data, "ca", "root.crt"), fmt.Sprintf("https://localhost:%d/", port))
	if r.Code != 0 || r.Stdout != "hello from the backend, proto https\n" {
		t.Errorf("curl through the venv's tlsgate: %s", r)
	}
	if code := p.Stop(t); code != 0 {
		t.Errorf("tlsgate proxy exited %d after SIGTERM; want 0", code)
	}
}

// wheelFile is one member of a wheel.
type wheelFile struct {
	data string
	mode os.FileMode
}

// checkWheel opens the wheel and checks RECORD the way an installer does:
// every member but RECORD itself is listed with its size and its sha256
// (urlsafe base64 without padding), and RECORD lists nothing else. It
// returns the members by name.
func checkWheel(t *testing.T, path string) map[string]wheelFile {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatalf("open wheel: %v", err)
	}
	defer zr.Close()
	files := map[string]wheelFile{}
	var recordName string
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		files[f.Name] = wheelFile{data: string(b), mode: f.Mode()}
		if strings.HasSuffix(f.Name, ".dist-info/RECORD") {
			recordName = f.Name
		}
	}
	if recordName == "" {
		t.Fatalf("%s has no .dist-info/RECORD", path)
	}
	rows, err := csv.NewReader(strings.NewReader(files[recordName].data)).ReadAll()
	if err != nil {
		t.Fatalf("RECORD is not CSV: %v", err)
	}
	listed := map[string]bool{}
	for _, row := range rows {
		if len(row) != 3 {
			t.Errorf("RECORD line %q: want path,hash,size", row)
			continue
		}
		name, hash, size := row[0], row[1], row[2]
		listed[name] = true
		if name == recordName {
			if hash != "" || size != "" {
				t.Errorf("RECORD lists itself with a hash or size: %q", row)
			}
			continue
		}
		f, ok := files[name]
		if !ok {
			t.Errorf("RECORD lists %s, which is not in the wheel", name)
			continue
		}
		sum := sha256.Sum256([]byte(f.data))
		if want := "sha256=" + base64.RawURLEncoding.EncodeToString(sum[:]); hash != want {
			t.Errorf("RECORD hash of %s is %s; the file's is %s", name, hash, want)
		}
		if size != strconv.Itoa(len(f.data)) {
			t.Errorf("RECORD size of %s is %s; the file has %d bytes", name, size, len(f.data))
		}
	}
	for name := range files {
		if !listed[name] {
			t.Errorf("%s is in the wheel but not in RECORD", name)
		}
	}
	return files
}
