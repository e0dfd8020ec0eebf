package truststore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// JavaStore is a Java keystore changed with keytool.
type JavaStore struct {
	// Keytool is the keytool command; "" means none was found.
	Keytool string
	// Keystore is the cacerts file; "" means none was found.
	Keystore string
	// Password is the keystore password. "" means "changeit", the JDK's.
	Password string
}

// DefaultJavaStore finds keytool and the JDK's cacerts: under javaHome
// (JAVA_HOME) when set, else next to the keytool found by lookPath (nil
// means none is looked for). The zero JavaStore means none was found.
func DefaultJavaStore(javaHome string, lookPath func(string) (string, error)) JavaStore {
	var home, keytool string
	switch {
	case javaHome != "":
		home, keytool = javaHome, filepath.Join(javaHome, "bin", "keytool")
		if !fileExists(keytool) {
			return JavaStore{}
		}
	case lookPath != nil:
		p, err := lookPath("keytool")
		if err != nil {
			return JavaStore{}
		}
		keytool = p
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		home = filepath.Dir(filepath.Dir(p))
	default:
		return JavaStore{}
	}
	js := JavaStore{Keytool: keytool}
	for _, ks := range []string{
		filepath.Join(home, "lib", "security", "cacerts"),
		filepath.Join(home, "jre", "lib", "security", "cacerts"), // Java 8
	} {
		if fileExists(ks) {
			js.Keystore = ks
			break
		}
	}
	return js
}

func (j JavaStore) password() string {
	if j.Password == "" {
		return "changeit"
	}
	return j.Password
}

func javaStore(ctx context.Context, root Root, o Options, add bool) Result {
	j := o.Java
	r := Result{Store: StoreJava, Location: j.Keystore}
	switch {
	case j.Keytool == "":
		r.Skipped, r.Detail = true, "keytool not found (set JAVA_HOME or put keytool on PATH)"
		return r
	case j.Keystore == "":
		r.Skipped, r.Detail = true, "no cacerts keystore found next to "+j.Keytool+" (set JAVA_HOME)"
		return r
	case !writable(j.Keystore):
		r.Skipped, r.NeedsRoot, r.Detail = true, !o.IsRoot, "the keystore is not writable by this user"
		return r
	}
	nick := root.Nickname()
	pw := j.password()
	has := func() bool {
		_, err := o.run(ctx, j.Keytool, "-list", "-keystore", j.Keystore, "-storepass", pw, "-alias", nick)
		return err == nil
	}
	switch {
	case add && has():
		r.Detail = fmt.Sprintf("already trusted as %q", nick)
	case add:
		_, r.Err = o.run(ctx, j.Keytool, "-importcert", "-noprompt", "-keystore", j.Keystore, "-storepass", pw, "-alias", nick, "-file", root.Path)
		r.Changed, r.Detail = r.Err == nil, fmt.Sprintf("added as %q", nick)
	case !has():
		r.Detail = fmt.Sprintf("not present (no %q)", nick)
	default:
		_, r.Err = o.run(ctx, j.Keytool, "-delete", "-keystore", j.Keystore, "-storepass", pw, "-alias", nick)
		r.Changed, r.Detail = r.Err == nil, fmt.Sprintf("removed %q", nick)
	}
	return r
}

// writable reports whether path can be opened for writing; opening without
// O_TRUNC changes nothing.
func writable(path string) bool {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}
