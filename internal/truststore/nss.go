package truststore

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
)

// NSSDatabase is one NSS database: its directory and the certutil -d
// argument ("sql:DIR" for cert9.db, "dbm:DIR" for the legacy cert8.db).
type NSSDatabase struct{ Dir, Arg string }

// NSSDatabases are the NSS databases that exist under home (Chromium's,
// snap Chromium's, Firefox's and snap Firefox's profiles) and in extra: the
// ones `ca trust` installs into, for readers such as doctor.
func NSSDatabases(home string, extra ...string) []NSSDatabase {
	return nssDatabases(Options{Home: home, NSSDirs: extra})
}

// nssDatabases finds the NSS databases under o.Home (Chromium's and
// Firefox's, as mkcert does) plus o.NSSDirs. A directory counts only when
// it already holds a database: we add to browsers' stores, we do not make
// new ones nobody reads.
func nssDatabases(o Options) []NSSDatabase {
	var dirs []string
	if o.Home != "" {
		dirs = append(dirs,
			filepath.Join(o.Home, ".pki", "nssdb"),
			filepath.Join(o.Home, "snap", "chromium", "current", ".pki", "nssdb"),
		)
		for _, g := range firefoxProfileGlobs(o.Home) {
			m, _ := filepath.Glob(g)
			sort.Strings(m)
			dirs = append(dirs, m...)
		}
	}
	dirs = append(dirs, o.NSSDirs...)
	var dbs []NSSDatabase
	seen := map[string]bool{}
	for _, d := range dirs {
		if seen[d] {
			continue
		}
		seen[d] = true
		switch {
		case fileExists(filepath.Join(d, "cert9.db")):
			dbs = append(dbs, NSSDatabase{d, "sql:" + d})
		case fileExists(filepath.Join(d, "cert8.db")):
			dbs = append(dbs, NSSDatabase{d, "dbm:" + d})
		}
	}
	return dbs
}

func nssStores(ctx context.Context, root Root, o Options, add bool) []Result {
	dbs := nssDatabases(o)
	if len(dbs) == 0 {
		return []Result{{Store: StoreNSS, Skipped: true,
			Detail: "no NSS database found (looked for $HOME/.pki/nssdb and Firefox profiles; Chromium and Firefox create them on first start)"}}
	}
	name := o.Certutil
	if name == "" {
		name = "certutil"
	}
	certutil, err := o.lookPath(name)
	if err != nil {
		return []Result{{Store: StoreNSS, Skipped: true,
			Detail: "certutil not found: install libnss3-tools (Debian/Ubuntu), nss-tools (Fedora/RHEL) or nss (Homebrew)"}}
	}
	var out []Result
	for _, db := range dbs {
		r := Result{Store: StoreNSS, Location: db.Dir}
		if add {
			r.Changed, r.Detail, r.Err = nssAdd(ctx, certutil, db, root, &o)
		} else {
			r.Changed, r.Detail, r.Err = nssRemove(ctx, certutil, db, root, &o)
		}
		out = append(out, r)
	}
	return out
}

func nssHas(ctx context.Context, certutil string, db NSSDatabase, nick string, o *Options) bool {
	_, err := o.run(ctx, certutil, "-L", "-d", db.Arg, "-n", nick)
	return err == nil
}

func nssAdd(ctx context.Context, certutil string, db NSSDatabase, root Root, o *Options) (bool, string, error) {
	nick := root.Nickname()
	if nssHas(ctx, certutil, db, nick, o) {
		return false, fmt.Sprintf("already trusted as %q", nick), nil
	}
	// "C,," trusts the root to issue TLS server certificates, nothing else.
	if _, err := o.run(ctx, certutil, "-A", "-d", db.Arg, "-t", "C,,", "-n", nick, "-i", root.Path); err != nil {
		return false, "", err
	}
	return true, fmt.Sprintf("added as %q", nick), nil
}

func nssRemove(ctx context.Context, certutil string, db NSSDatabase, root Root, o *Options) (bool, string, error) {
	nick := root.Nickname()
	removed := false
	// A nickname can be there more than once; a few rounds clear them all.
	for i := 0; i < 5 && nssHas(ctx, certutil, db, nick, o); i++ {
		if _, err := o.run(ctx, certutil, "-D", "-d", db.Arg, "-n", nick); err != nil {
			return removed, "", err
		}
		removed = true
	}
	if !removed {
		return false, fmt.Sprintf("not present (no %q)", nick), nil
	}
	return true, fmt.Sprintf("removed %q", nick), nil
}
