package truststore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DefaultSystemStore finds this machine's trust store layout by the
// directories that exist, as mkcert does: Fedora/RHEL's ca-trust anchors,
// Debian/Ubuntu/Alpine's /usr/local/share/ca-certificates, Arch's
// trust-source anchors and openSUSE's pki anchors. The zero SystemStore
// means none was found.
func DefaultSystemStore() SystemStore {
	layouts := []SystemStore{
		{Name: "fedora", Dir: "/etc/pki/ca-trust/source/anchors", Update: []string{"update-ca-trust", "extract"}},
		{Name: "debian", Dir: "/usr/local/share/ca-certificates", Update: []string{"update-ca-certificates"},
			UpdateAfterRemove: []string{"update-ca-certificates", "--fresh"}},
		{Name: "arch", Dir: "/etc/ca-certificates/trust-source/anchors", Update: []string{"trust", "extract-compat"}},
		{Name: "opensuse", Dir: "/usr/share/pki/trust/anchors", Update: []string{"update-ca-certificates"}},
	}
	for _, l := range layouts {
		if fileExists(l.Dir) {
			return l
		}
	}
	return SystemStore{}
}

// SystemBundlePaths are the files that hold the system's trusted roots as
// one PEM bundle, in the order Go's crypto/x509 (root_linux.go) tries them.
func SystemBundlePaths() []string {
	return []string{
		"/etc/ssl/certs/ca-certificates.crt",                // Debian/Ubuntu/Gentoo etc.
		"/etc/pki/tls/certs/ca-bundle.crt",                  // Fedora/RHEL 6
		"/etc/ssl/ca-bundle.pem",                            // OpenSUSE
		"/etc/pki/tls/cacert.pem",                           // OpenELEC
		"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // CentOS/RHEL 7
		"/etc/ssl/cert.pem",                                 // Alpine Linux
	}
}

// firefoxProfileGlobs are where Firefox keeps profiles on Linux, including
// the snap package.
func firefoxProfileGlobs(home string) []string {
	return []string{
		filepath.Join(home, ".mozilla", "firefox", "*"),
		filepath.Join(home, "snap", "firefox", "common", ".mozilla", "firefox", "*"),
	}
}

func (s SystemStore) install(ctx context.Context, root Root, o *Options) (bool, string, error) {
	path := s.path(root)
	data := rootPEM(root)
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return false, fmt.Sprintf("already present as %s", path), nil
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return false, "", fmt.Errorf("add %s: %w", path, err)
	}
	update := s.updateCommand(false)
	if _, err := o.run(ctx, update[0], update[1:]...); err != nil {
		return true, "", fmt.Errorf("added %s, but rebuilding the system bundle failed: %w", path, err)
	}
	return true, fmt.Sprintf("added %s, ran %s", path, strings.Join(update, " ")), nil
}

func (s SystemStore) uninstall(ctx context.Context, root Root, o *Options) (bool, string, error) {
	path := s.path(root)
	if err := os.Remove(path); errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Sprintf("not present (no %s)", path), nil
	} else if err != nil {
		return false, "", fmt.Errorf("remove %s: %w", path, err)
	}
	update := s.updateCommand(true)
	if _, err := o.run(ctx, update[0], update[1:]...); err != nil {
		return true, "", fmt.Errorf("removed %s, but rebuilding the system bundle failed: %w", path, err)
	}
	detail := fmt.Sprintf("removed %s, ran %s", path, strings.Join(update, " "))
	if alias, ok := removeJavaHookAlias(ctx, root, o); ok {
		detail += fmt.Sprintf(", removed %q from %s", alias, o.Java.Keystore)
	}
	return true, detail, nil
}

// removeJavaHookAlias undoes what Debian's ca-certificates-java hook did
// when the root was added: it imported it into the JDK keystore as
// "debian:NAME.pem", and it never hears of a local root's removal.
func removeJavaHookAlias(ctx context.Context, root Root, o *Options) (string, bool) {
	j := o.Java
	if j.Keytool == "" || j.Keystore == "" || !writable(j.Keystore) {
		return "", false
	}
	alias := "debian:" + strings.TrimSuffix(root.FileName(), ".crt") + ".pem"
	if _, err := o.run(ctx, j.Keytool, "-list", "-keystore", j.Keystore, "-storepass", j.password(), "-alias", alias); err != nil {
		return "", false
	}
	_, err := o.run(ctx, j.Keytool, "-delete", "-keystore", j.Keystore, "-storepass", j.password(), "-alias", alias)
	return alias, err == nil
}
