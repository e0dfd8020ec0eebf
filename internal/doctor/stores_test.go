package doctor

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestNSSDiscovery: doctor looks in every NSS database `ca trust` installs
// into, not only $HOME/.pki/nssdb (issue 19: snap Chromium and Firefox
// profiles were missed).
func TestNSSDiscovery(t *testing.T) {
	home := t.TempDir()
	dirs := []string{
		filepath.Join(home, ".pki", "nssdb"),
		filepath.Join(home, "snap", "chromium", "current", ".pki", "nssdb"),
		filepath.Join(home, ".mozilla", "firefox", "abcd.default"),
		filepath.Join(home, "snap", "firefox", "common", ".mozilla", "firefox", "efgh.default"),
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "cert9.db"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A profile without a database is not a store.
	if err := os.MkdirAll(filepath.Join(home, ".mozilla", "firefox", "empty"), 0o700); err != nil {
		t.Fatal(err)
	}
	s := TrustStores{Getenv: func(k string) string {
		if k == "HOME" {
			return home
		}
		return ""
	}}
	var got []string
	for _, db := range s.nssDatabases() {
		got = append(got, db.Dir)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(dirs))
	if !slices.Equal(got, want) {
		t.Errorf("got %q; want %q", got, want)
	}

	only := TrustStores{NSSDir: dirs[1]}
	if dbs := only.nssDatabases(); len(dbs) != 1 || dbs[0].Dir != dirs[1] {
		t.Errorf("NSSDir set: got %+v; want only %s", dbs, dirs[1])
	}
}
