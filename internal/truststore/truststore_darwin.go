package truststore

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
)

// DefaultSystemStore is the macOS System keychain, changed with the
// security command (which asks for an administrator's approval).
func DefaultSystemStore() SystemStore {
	return SystemStore{Name: "macos", Keychain: "/Library/Keychains/System.keychain"}
}

// SystemBundlePaths are the files that hold the system's trusted roots as
// one PEM bundle. macOS keeps its roots in keychains; /etc/ssl/cert.pem is
// the bundle LibreSSL, curl and Python builds read.
func SystemBundlePaths() []string { return []string{"/etc/ssl/cert.pem"} }

// firefoxProfileGlobs are where Firefox keeps profiles on macOS.
func firefoxProfileGlobs(home string) []string {
	return []string{filepath.Join(home, "Library", "Application Support", "Firefox", "Profiles", "*")}
}

func (s SystemStore) install(ctx context.Context, root Root, o *Options) (bool, string, error) {
	if _, err := o.run(ctx, "security", "add-trusted-cert", "-d", "-r", "trustRoot", "-k", s.Keychain, root.Path); err != nil {
		return false, "", fmt.Errorf("add to %s: %w", s.Keychain, err)
	}
	return true, fmt.Sprintf("added %q to %s as a trusted root", root.Cert.Subject.CommonName, s.Keychain), nil
}

func (s SystemStore) uninstall(ctx context.Context, root Root, o *Options) (bool, string, error) {
	if out, err := o.run(ctx, "security", "remove-trusted-cert", "-d", root.Path); err != nil {
		if strings.Contains(string(out)+err.Error(), "could not be found") {
			return false, "not present", nil
		}
		return false, "", fmt.Errorf("remove trust settings: %w", err)
	}
	sum := sha1.Sum(root.Cert.Raw)
	if _, err := o.run(ctx, "security", "delete-certificate", "-Z", strings.ToUpper(hex.EncodeToString(sum[:])), s.Keychain); err != nil {
		return true, "", fmt.Errorf("removed its trust settings, but deleting it from %s failed: %w", s.Keychain, err)
	}
	return true, fmt.Sprintf("removed %q from %s", root.Cert.Subject.CommonName, s.Keychain), nil
}
