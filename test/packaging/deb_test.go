//go:build linux

package packaging

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestDeb installs the .deb with dpkg, checks the user, the data
// directory, the unit, the completions, the man pages and the binary, then
// purges it: nothing of the package stays (configuration, data and logs
// included) except the tlsgate system user and group, which Debian
// practice keeps (a freed uid could be reused and inherit old files).
func TestDeb(t *testing.T) {
	d := buildDist(t)
	if os.Geteuid() != 0 {
		t.Skip("dpkg -i needs root; CI runs this test as root")
	}
	if r := run(t, "dpkg-query", "-W", "-f=${Status}", "tlsgate"); strings.Contains(r.Stdout, "installed") {
		t.Fatal("a tlsgate package is already installed on this machine; this test would replace it")
	}
	t.Cleanup(func() { run(t, "dpkg", "--purge", "tlsgate") })

	mustRun(t, "dpkg", "-i", d.deb)

	u, err := user.Lookup("tlsgate")
	if err != nil {
		t.Fatalf("postinst made no tlsgate user: %v", err)
	}
	fi, err := os.Stat("/var/lib/tlsgate")
	if err != nil {
		t.Fatalf("postinst made no data directory: %v", err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o700 || !fi.IsDir() || u.Uid != strconv.FormatUint(uint64(st.Uid), 10) {
		t.Errorf("/var/lib/tlsgate: mode %v uid %d; want a 0700 directory owned by tlsgate (uid %s)", fi.Mode(), st.Uid, u.Uid)
	}
	for path, want := range map[string]os.FileMode{
		"/usr/bin/tlsgate":                                  0o755,
		"/lib/systemd/system/tlsgate.service":               0o644,
		"/etc/tlsgate/tlsgate.yaml":                         0o644,
		"/usr/share/bash-completion/completions/tlsgate":    0o644,
		"/usr/share/zsh/vendor-completions/_tlsgate":        0o644,
		"/usr/share/fish/vendor_completions.d/tlsgate.fish": 0o644,
		"/usr/share/man/man1/tlsgate.1.gz":                  0o644,
		"/usr/share/man/man1/tlsgate-proxy.1.gz":            0o644,
		"/usr/share/man/man1/tlsgate-run.1.gz":              0o644,
	} {
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v; want mode %v", path, fi.Mode(), err, want)
		}
	}
	if conf := mustRun(t, "dpkg-query", "-W", "-f=${Conffiles}", "tlsgate"); !strings.Contains(conf, "/etc/tlsgate/tlsgate.yaml") {
		t.Errorf("conffiles %q; want /etc/tlsgate/tlsgate.yaml", conf)
	}
	// verify needs no running systemd; it checks the unit's syntax, the
	// binary's path and the user.
	if r := run(t, "systemd-analyze", "verify", "/lib/systemd/system/tlsgate.service"); r.Code != 0 || r.Stderr != "" {
		t.Errorf("systemd-analyze verify: %s", r)
	}
	if out := mustRun(t, "/usr/bin/tlsgate", "version"); !strings.Contains(out, "tlsgate "+d.version+" ") {
		t.Errorf("tlsgate version = %q; want version %s", out, d.version)
	}
	mustRun(t, "/usr/bin/tlsgate", "validate", "-c", "/etc/tlsgate/tlsgate.yaml")

	if out := mustRun(t, "man", "-w", "tlsgate-proxy"); !strings.Contains(out, "/usr/share/man/man1/tlsgate-proxy.1.gz") {
		t.Errorf("man -w tlsgate-proxy = %q; want the packaged page", out)
	}
	// Files tlsgate makes while it runs: a certificate in the data
	// directory, an access log in the directory systemd makes for
	// LogsDirectory=tlsgate. Purge removes them with the package's own.
	for _, f := range []string{"/var/lib/tlsgate/certificates/localhost.crt", "/var/log/tlsgate/access.log"} {
		if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("made at run time\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	listed := strings.Fields(mustRun(t, "dpkg-query", "-L", "tlsgate"))
	mustRun(t, "dpkg", "--purge", "tlsgate")
	for _, p := range append(listed, "/etc/tlsgate", "/var/lib/tlsgate", "/var/log/tlsgate") {
		if !strings.Contains(p, "tlsgate") {
			continue // shared directories such as /usr/share/man/man1
		}
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s is still there after dpkg --purge", p)
		}
	}
}
