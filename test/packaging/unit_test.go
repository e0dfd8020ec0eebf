//go:build linux

package packaging

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/test/testenv"
)

// maxConnectionsPerListener is limits.max_connections' default, from the
// config package that owns it; the unit's LimitNOFILE must cover it.
var maxConnectionsPerListener = new(config.Config).WithDefaults().Limits.MaxConnections

// unitPath is the systemd unit the .deb installs.
const unitPath = "packaging/deb/tlsgate.service"

// readUnit returns the unit's [Service] settings; a key set more than once
// (SystemCallFilter=) keeps every value.
func readUnit(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot(t), unitPath))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	settings := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = line
		case section == "[Service]":
			k, v, _ := strings.Cut(line, "=")
			settings[k] = append(settings[k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return settings
}

// TestUnit checks the hardening and the limits the issue asks of the
// service, and that its file-descriptor budget covers max_connections.
func TestUnit(t *testing.T) {
	u := readUnit(t)
	for k, want := range map[string]string{
		"Type":                  "notify", // tlsgate run sends READY=1 once its listeners are bound
		"ExecReload":            "/bin/kill -HUP $MAINPID",
		"User":                  "tlsgate",
		"AmbientCapabilities":   "CAP_NET_BIND_SERVICE",
		"CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
		"NoNewPrivileges":       "yes",
		"ProtectSystem":         "strict",
		"ProtectHome":           "yes",
		"PrivateTmp":            "yes",
		"ReadWritePaths":        "/var/lib/tlsgate",
		"LogsDirectory":         "tlsgate",
		"RuntimeDirectory":      "tlsgate",
	} {
		if got := u[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%q; want %s=%s", k, got, k, want)
		}
	}
	// Each client connection holds a descriptor and so does its upstream
	// connection, on the http and the https listener.
	budget := 2 * 2 * maxConnectionsPerListener
	if got := u["LimitNOFILE"]; len(got) != 1 {
		t.Errorf("LimitNOFILE=%q; want one value", got)
	} else if n, err := strconv.Atoi(got[0]); err != nil || n < budget+1024 {
		t.Errorf("LimitNOFILE=%s; want at least %d (2 listeners x %d connections x 2 descriptors, and room for files)", got[0], budget+1024, maxConnectionsPerListener)
	}
}

var exposureLine = regexp.MustCompile(`Overall exposure level for tlsgate\.service: (\d+\.\d)`)

// TestUnitSecurity measures the unit with systemd-analyze security (offline:
// no running systemd needed) and checks that docs/INSTALL.md states the
// figure it gets.
func TestUnitSecurity(t *testing.T) {
	root := repoRoot(t)
	r := testenv.Run(t, time.Minute, root, os.Environ(), "systemd-analyze", "security", "--offline=yes", "--no-pager", unitPath)
	if r.Code != 0 {
		t.Fatalf("systemd-analyze security: %s", r)
	}
	m := exposureLine.FindStringSubmatch(r.Stdout + r.Stderr)
	if m == nil {
		t.Fatalf("no overall exposure level in systemd-analyze security's output: %s", r)
	}
	score, _ := strconv.ParseFloat(m[1], 64)
	if score > 2.0 {
		t.Errorf("exposure level %s; the unit was hardened to 2.0 or better (lower is safer):\n%s", m[1], r.Stdout)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "INSTALL.md"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "exposure level " + m[1]; !strings.Contains(string(doc), want) {
		t.Errorf("docs/INSTALL.md does not state %q, which systemd-analyze security measures now", want)
	}
}
