package packaging

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// dockerInstr is one Dockerfile instruction, continuation lines joined.
type dockerInstr struct{ op, args string }

func readDockerfile(t *testing.T) []dockerInstr {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var out []dockerInstr
	var cur string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") || (line == "" && cur == "") {
			continue
		}
		if rest, ok := strings.CutSuffix(line, "\\"); ok {
			cur += rest + " "
			continue
		}
		cur += line
		op, args, _ := strings.Cut(cur, " ")
		out = append(out, dockerInstr{strings.ToUpper(op), strings.Join(strings.Fields(args), " ")})
		cur = ""
	}
	return out
}

// TestDockerfile checks what the image definition promises, since no
// container runtime here can build it: multi-stage from the Go of go.mod,
// a static trimmed binary stamped like package.sh stamps it, a non-root
// user, /data as a volume, and ports 80, 443 and 443/udp.
func TestDockerfile(t *testing.T) {
	root := repoRoot(t)
	instrs := readDockerfile(t)
	by := func(op string) []string {
		var v []string
		for _, in := range instrs {
			if in.op == op {
				v = append(v, in.args)
			}
		}
		return v
	}

	froms := by("FROM")
	if len(froms) < 2 || !strings.HasSuffix(froms[0], " AS build") || strings.Contains(froms[len(froms)-1], "golang") {
		t.Errorf("FROM %q; want a golang build stage and a separate runtime stage", froms)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVer := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if goVer == nil || len(froms) == 0 || !strings.HasPrefix(froms[0], "golang:"+string(goVer[1])+" ") {
		t.Errorf("build stage FROM %q; want golang:%s as go.mod says", froms, goVer[1])
	}

	script, err := os.ReadFile(filepath.Join(root, "scripts", "package.sh"))
	if err != nil {
		t.Fatal(err)
	}
	stamp := regexp.MustCompile(`-X (\S+)=`).FindSubmatch(script)
	if stamp == nil {
		t.Fatal("scripts/package.sh stamps no version with -X")
	}
	built := false
	for _, run := range by("RUN") {
		if strings.Contains(run, "CGO_ENABLED=0 go build -trimpath") && strings.Contains(run, "-X "+string(stamp[1])+"=${VERSION}") {
			built = true
		}
	}
	if !built {
		t.Errorf("no RUN builds a static (CGO_ENABLED=0) -trimpath binary stamped with -X %s=${VERSION}; RUN %q", stamp[1], by("RUN"))
	}

	users := by("USER")
	if len(users) == 0 {
		t.Error("no USER: the image would run as root")
	} else if u, _, _ := strings.Cut(users[len(users)-1], ":"); u == "root" || u == "0" {
		t.Errorf("USER %s; want a non-root user", users[len(users)-1])
	}
	if v := by("VOLUME"); !slices.Contains(v, `["/data"]`) {
		t.Errorf("VOLUME %q; want [\"/data\"]", v)
	}
	if env := strings.Join(by("ENV"), " "); !strings.Contains(env, "XDG_DATA_HOME=/data") {
		t.Errorf("ENV %q; want XDG_DATA_HOME=/data so the data directory is in the volume", env)
	}
	var ports []string
	for _, e := range by("EXPOSE") {
		ports = append(ports, strings.Fields(e)...)
	}
	slices.Sort(ports)
	if want := []string{"443", "443/udp", "80"}; !slices.Equal(ports, want) {
		t.Errorf("EXPOSE %q; want %q", ports, want)
	}
}
