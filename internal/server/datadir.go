package server

import (
	"fmt"
	"os"
)

// checkDataDir makes sure the data directory exists and this process can
// write to it, so the user hears about it in one clear line rather than
// from deep inside the first certificate operation.
func checkDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return dataDirError(dir, err)
	}
	f, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return dataDirError(dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

func dataDirError(dir string, err error) error {
	return fmt.Errorf("data_dir %s cannot be used: %w; make it writable by this user (sudo chown -R %d %s), or choose another with data_dir or --data-dir",
		dir, err, os.Getuid(), dir)
}
