package pki

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile writes data to path with exactly mode (0600 for keys; the umask
// does not apply) through a temporary file in the same directory, so readers
// never see half a file. With overwrite false an existing path is left alone
// and the error (matching fs.ErrExist) tells the user about --force; the
// check and the write are one atomic link(2), so two writers cannot both win.
func WriteFile(path string, data []byte, mode os.FileMode, overwrite bool) error {
	if !overwrite {
		if _, err := os.Lstat(path); err == nil {
			return existsError(path)
		}
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // no-op once renamed; cleans up after a failure or link
	if err := writeAndClose(tmp, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if overwrite {
		if err := os.Rename(tmpName, path); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		syncDir(dir)
		return nil
	}
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return existsError(path)
		}
		// Some file systems have no hard links; fall back to check + rename.
		if _, statErr := os.Lstat(path); statErr == nil {
			return existsError(path)
		}
		if err := os.Rename(tmpName, path); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	syncDir(dir)
	return nil
}

func existsError(path string) error {
	return fmt.Errorf("%s already exists; use --force to overwrite it: %w", path, fs.ErrExist)
}

func writeAndClose(f *os.File, data []byte, mode os.FileMode) error {
	// Chmod before writing, so key bytes never sit in a wider-mode file.
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir makes a rename durable; failure only weakens durability, so it is
// ignored.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
