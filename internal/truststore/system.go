package truststore

import (
	"encoding/pem"
	"path/filepath"
)

// SystemStore is the operating system's trust store. On Linux it is an
// anchors directory plus the command that rebuilds the system bundle from it;
// on macOS it is a keychain changed with the security command.
type SystemStore struct {
	// Name names the layout in messages ("debian", "fedora", "macos").
	Name string
	// Dir is the anchors directory (Linux); the root is copied into it as
	// Root.FileName().
	Dir string
	// Update is the command, with arguments, that rebuilds the system bundle
	// after Dir changed (Linux), e.g. update-ca-certificates.
	Update []string
	// UpdateAfterRemove, if set, replaces Update after the root was removed.
	// Debian's update-ca-certificates rebuilds the bundle but leaves the
	// /etc/ssl/certs links of a deleted local root behind unless --fresh.
	UpdateAfterRemove []string
	// Keychain is the keychain file (macOS).
	Keychain string
}

func (s SystemStore) supported() bool { return s.Dir != "" || s.Keychain != "" }

func (s SystemStore) location() string {
	if s.Dir != "" {
		return s.Dir
	}
	return s.Keychain
}

func (s SystemStore) path(root Root) string { return filepath.Join(s.Dir, root.FileName()) }

// updateCommand is the command to run after adding (or removing) a root.
func (s SystemStore) updateCommand(removed bool) []string {
	if removed && len(s.UpdateAfterRemove) > 0 {
		return s.UpdateAfterRemove
	}
	return s.Update
}

// rootPEM is the root as one PEM block.
func rootPEM(root Root) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Cert.Raw})
}
