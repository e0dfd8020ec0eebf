package truststore

import (
	"encoding/pem"
	"path/filepath"
	"strings"
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

func (s SystemStore) updateName() string { return strings.Join(s.Update, " ") }

// rootPEM is the root as one PEM block.
func rootPEM(root Root) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Cert.Raw})
}
