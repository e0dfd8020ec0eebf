// Package truststore installs a root certificate into the places clients
// look for trusted roots, and removes it again: the operating system's store
// (Debian/Ubuntu/Alpine, Fedora/RHEL, macOS), NSS databases (Chromium's
// $HOME/.pki/nssdb, Firefox profiles) through certutil, and a Java keystore
// through keytool. It backs `tlsgate ca trust|untrust|env`.
//
// Start with Install and Uninstall. Every path and command they use comes
// from Options, so tests point them at temporary directories; nothing is
// probed at package load and nothing runs sudo. Each store reports what it
// changed, or why it was skipped, as a Result, so the caller can tell the
// user exactly that.
//
// The approach follows FiloSottile/mkcert (truststore_linux.go,
// truststore_nss.go, truststore_java.go). We do not use smallstep/truststore:
// it keeps its settings in package variables, probes at init and calls sudo
// itself, which we want neither in a library nor in tests.
package truststore

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Store names, as --stores takes them.
const (
	StoreSystem = "system"
	StoreNSS    = "nss"
	StoreJava   = "java"
)

// AllStores lists every store, in the order they are handled.
func AllStores() []string { return []string{StoreSystem, StoreNSS, StoreJava} }

// ParseStores reads a --stores value ("system,nss"). "" means every store.
func ParseStores(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return AllStores(), nil
	}
	var out []string
	seen := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		switch f {
		case StoreSystem, StoreNSS, StoreJava:
		default:
			return nil, fmt.Errorf("unknown trust store %q; use system, nss or java, separated by commas", f)
		}
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out, nil
}

// Root is the certificate to install or remove.
type Root struct {
	// Cert is the parsed root.
	Cert *x509.Certificate
	// Path is a PEM file holding it; certutil, keytool and security read it.
	Path string
}

// Nickname is the name the root gets in NSS databases and Java keystores:
// its common name and the start of its SHA-256 fingerprint, so two CAs with
// the same name (a re-created local CA) never collide.
func (r Root) Nickname() string {
	return fmt.Sprintf("%s %s", r.Cert.Subject.CommonName, r.fingerprint()[:16])
}

// FileName is the name of the file the root becomes in a system anchors
// directory.
func (r Root) FileName() string { return "tlsgate-" + r.fingerprint()[:16] + ".crt" }

func (r Root) fingerprint() string {
	sum := sha256.Sum256(r.Cert.Raw)
	return hex.EncodeToString(sum[:])
}

// Options says where the stores are and how to run their tools. The zero
// value touches nothing: fill it with DefaultOptions and adjust.
type Options struct {
	// Home is the user's home directory, searched for NSS databases. ""
	// skips NSS discovery (NSSDirs still apply).
	Home string
	// IsRoot reports whether we may write the system store. When false the
	// system store is skipped with Result.NeedsRoot set.
	IsRoot bool
	// System is the operating system's store. Its zero value means this
	// OS has none we support.
	System SystemStore
	// NSSDirs are NSS database directories to use in addition to those
	// found under Home (a directory holding cert9.db or cert8.db).
	NSSDirs []string
	// Certutil is the certutil command. "" means "certutil" on PATH.
	Certutil string
	// Java is the Java keystore. Its zero value means none was found.
	Java JavaStore
	// LookPath finds commands. Nil means exec.LookPath.
	LookPath func(string) (string, error)
	// Run runs a command and returns its combined output. Nil means
	// exec.CommandContext.
	Run func(ctx context.Context, name string, args ...string) ([]byte, error)
}

func (o *Options) lookPath(name string) (string, error) {
	if o.LookPath != nil {
		return o.LookPath(name)
	}
	return exec.LookPath(name)
}

func (o *Options) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	if o.Run != nil {
		return o.Run(ctx, name, args...)
	}
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return out, commandError(name, args, out, err)
	}
	return out, nil
}

// commandError names the command and keeps the last line it printed, which
// is where certutil, keytool and update-ca-certificates say what went wrong.
func commandError(name string, args []string, out []byte, err error) error {
	msg := strings.TrimSpace(string(out))
	if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
		msg = strings.TrimSpace(msg[i+1:])
	}
	if msg == "" {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
}

// Result is what happened to one store location.
type Result struct {
	// Store is StoreSystem, StoreNSS or StoreJava.
	Store string
	// Location is the directory, database or keystore, when known.
	Location string
	// Changed reports whether the store was modified.
	Changed bool
	// Skipped reports that the store was left alone; Detail says why.
	Skipped bool
	// NeedsRoot marks a system store skipped because we are not root.
	NeedsRoot bool
	// Detail says what was done ("added tlsgate-….crt, ran
	// update-ca-certificates") or why nothing was.
	Detail string
	// Err is set when the store could not be changed.
	Err error
}

// String is one line for the user: "nss (/home/a/.pki/nssdb): added ...".
func (r Result) String() string {
	where := r.Store
	if r.Location != "" {
		where += " (" + r.Location + ")"
	}
	switch {
	case r.Err != nil:
		return fmt.Sprintf("%s: failed: %v", where, r.Err)
	case r.Skipped:
		return fmt.Sprintf("%s: skipped, %s", where, r.Detail)
	}
	return fmt.Sprintf("%s: %s", where, r.Detail)
}

// Install adds root to each of stores (see ParseStores). It carries on past
// a failing store and reports every store in the result.
func Install(ctx context.Context, root Root, stores []string, o Options) []Result {
	return each(ctx, root, stores, o, true)
}

// Uninstall removes root from each of stores, like Install.
func Uninstall(ctx context.Context, root Root, stores []string, o Options) []Result {
	return each(ctx, root, stores, o, false)
}

func each(ctx context.Context, root Root, stores []string, o Options, add bool) []Result {
	var out []Result
	for _, s := range stores {
		switch s {
		case StoreSystem:
			out = append(out, systemStore(ctx, root, o, add))
		case StoreNSS:
			out = append(out, nssStores(ctx, root, o, add)...)
		case StoreJava:
			out = append(out, javaStore(ctx, root, o, add))
		default:
			out = append(out, Result{Store: s, Err: fmt.Errorf("unknown trust store %q", s)})
		}
	}
	return out
}

func systemStore(ctx context.Context, root Root, o Options, add bool) Result {
	r := Result{Store: StoreSystem, Location: o.System.location()}
	switch {
	case !o.System.supported():
		r.Skipped, r.Detail = true, "no supported system trust store found on this machine"
		return r
	case !o.IsRoot:
		r.Skipped, r.NeedsRoot, r.Detail = true, true, "not root"
		return r
	}
	var err error
	if add {
		r.Changed, r.Detail, err = o.System.install(ctx, root, &o)
	} else {
		r.Changed, r.Detail, err = o.System.uninstall(ctx, root, &o)
	}
	r.Err = err
	return r
}

// fileExists reports whether path exists (following links).
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
