package pki

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// InitLocalCA makes the local CA in dir (root.crt, root.key,
// intermediate.crt, intermediate.key; keys 0600, dir 0700) unless it is
// already there, and returns it; created reports whether files were written.
// name "" means DefaultCAName. It is idempotent and safe against a
// concurrent InitLocalCA on the same empty or missing dir: the files are
// made in a temporary directory renamed into place, and the loser loads the
// winner's CA.
//
// A CA with some files missing is an error, never silently replaced, with one
// repair: a complete root without any intermediate files gets a new
// intermediate (the way to rotate it).
func InitLocalCA(dir, name string) (ca *CA, created bool, err error) {
	have, missing, err := localCAFiles(dir)
	if err != nil {
		return nil, false, err
	}
	switch {
	case len(missing) == 0:
		ca, err := LoadLocalCA(dir)
		return ca, false, err
	case len(have) == 0:
		return createLocalCA(dir, name)
	case slices.Equal(have, []string{RootCertFile, RootKeyFile}):
		ca, err := addIntermediate(dir)
		return ca, err == nil, err
	}
	return nil, false, errIncomplete(dir, have, missing)
}

// LoadLocalCA loads the local CA from dir. The error wraps fs.ErrNotExist
// when there is no CA at all (none of the files exist).
func LoadLocalCA(dir string) (*CA, error) {
	have, missing, err := localCAFiles(dir)
	if err != nil {
		return nil, err
	}
	if len(have) == 0 {
		return nil, fmt.Errorf("no local CA in %s (run `tlsgate ca init`): %w", dir, fs.ErrNotExist)
	}
	if len(missing) > 0 {
		return nil, errIncomplete(dir, have, missing)
	}
	var p LocalCAPEM
	for _, f := range []struct {
		name string
		dst  *[]byte
	}{
		{RootCertFile, &p.RootCert}, {RootKeyFile, &p.RootKey},
		{IntermediateCertFile, &p.IntermediateCert}, {IntermediateKeyFile, &p.IntermediateKey},
	} {
		if *f.dst, err = os.ReadFile(filepath.Join(dir, f.name)); err != nil {
			return nil, fmt.Errorf("load local CA: %w", err)
		}
	}
	defer clear(p.RootKey)
	ca, err := ParseLocalCA(&p)
	if err != nil {
		return nil, fmt.Errorf("load local CA from %s: %w", dir, err)
	}
	return ca, nil
}

func createLocalCA(dir, name string) (*CA, bool, error) {
	ca, p, err := NewLocalCA(name, time.Now())
	if err != nil {
		return nil, false, fmt.Errorf("create local CA: %w", err)
	}
	defer clear(p.RootKey)
	if !isEmptyOrMissingDir(dir) {
		return writeIntoDir(dir, ca, p)
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, false, fmt.Errorf("create local CA: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".init-*") // mode 0700
	if err != nil {
		return nil, false, fmt.Errorf("create local CA: %w", err)
	}
	defer os.RemoveAll(tmp) // gone after a successful rename
	if err := writeLocalCAFiles(tmp, p); err != nil {
		return nil, false, fmt.Errorf("create local CA: %w", err)
	}
	// rename(2) replaces a missing or empty dir atomically and fails when
	// another process already put a CA there.
	if err := os.Rename(tmp, dir); err != nil {
		if !isEmptyOrMissingDir(dir) {
			ca, err := LoadLocalCA(dir)
			return ca, false, err
		}
		// dir cannot be replaced (a mount point, say): write into it.
		return writeIntoDir(dir, ca, p)
	}
	syncDir(parent)
	return ca, true, nil
}

// writeIntoDir writes the CA files into a dir that already holds other
// files, refusing to overwrite. A CA that appeared meanwhile (a concurrent
// InitLocalCA renamed its directory into place) is loaded instead. Two
// writers racing into a non-empty dir can still collide; the loser fails
// rather than clobbering.
func writeIntoDir(dir string, ca *CA, p *LocalCAPEM) (*CA, bool, error) {
	have, missing, err := localCAFiles(dir)
	switch {
	case err != nil:
		return nil, false, err
	case len(missing) == 0:
		ca, err := LoadLocalCA(dir)
		return ca, false, err
	case len(have) > 0:
		return nil, false, errIncomplete(dir, have, missing)
	}
	if err := writeLocalCAFiles(dir, p); err != nil {
		return nil, false, fmt.Errorf("create local CA: %w", err)
	}
	return ca, true, nil
}

func writeLocalCAFiles(dir string, p *LocalCAPEM) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{RootKeyFile, p.RootKey, 0o600},
		{RootCertFile, p.RootCert, 0o644},
		{IntermediateKeyFile, p.IntermediateKey, 0o600},
		{IntermediateCertFile, p.IntermediateCert, 0o644},
	}
	for _, f := range files {
		if f.data == nil {
			continue // addIntermediate keeps the existing root
		}
		if err := WriteFile(filepath.Join(dir, f.name), f.data, f.mode, false); err != nil {
			return err
		}
	}
	return nil
}

// addIntermediate makes a new intermediate under the root in dir.
func addIntermediate(dir string) (*CA, error) {
	rootPEM, err := os.ReadFile(filepath.Join(dir, RootCertFile))
	if err != nil {
		return nil, fmt.Errorf("load local CA: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, RootKeyFile))
	if err != nil {
		return nil, fmt.Errorf("load local CA: %w", err)
	}
	defer clear(keyPEM)
	root, err := parseOneCert(rootPEM, RootCertFile)
	if err != nil {
		return nil, fmt.Errorf("load local CA from %s: %w", dir, err)
	}
	rootKey, err := parseMatchingKey(keyPEM, root, RootKeyFile)
	if err != nil {
		return nil, fmt.Errorf("load local CA from %s: %w", dir, err)
	}
	if !root.IsCA {
		return nil, fmt.Errorf("load local CA from %s: %s is not a CA certificate", dir, RootCertFile)
	}
	name := strings.TrimSuffix(root.Subject.CommonName, " Root CA")
	ca, p, err := newIntermediate(name, root, rootKey, time.Now())
	if err != nil {
		return nil, fmt.Errorf("local CA: %w", err)
	}
	p.RootCert = nil // already on disk
	if err := writeLocalCAFiles(dir, p); err != nil {
		return nil, fmt.Errorf("local CA: %w", err)
	}
	return ca, nil
}

func isEmptyOrMissingDir(dir string) bool {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	return err == nil && len(entries) == 0
}

// LocalCADirName is the local CA's directory below a data directory.
const LocalCADirName = "ca"

// LocalCADir is where the local CA lives under a data directory
// (DATA_DIR/ca); every command and the server use this one path.
func LocalCADir(dataDir string) string { return filepath.Join(dataDir, LocalCADirName) }
