package storage

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// NewKey returns KeySize random bytes from r (crypto/rand when nil).
func NewKey(r io.Reader) ([]byte, error) {
	if r == nil {
		r = rand.Reader
	}
	key := make([]byte, KeySize)
	if _, err := io.ReadFull(r, key); err != nil {
		return nil, fmt.Errorf("new storage key: %w", err)
	}
	return key, nil
}

// EncodeKey is the key file text for key: standard base64 and a newline.
func EncodeKey(key []byte) []byte {
	return []byte(base64.StdEncoding.EncodeToString(key) + "\n")
}

// ParseKey reads a key file's content: KeySize bytes, base64 (standard)
// encoded, surrounding white space ignored; or the KeySize raw bytes.
func ParseKey(data []byte) ([]byte, error) {
	if text := bytes.TrimSpace(data); len(text) > 0 {
		if key, err := base64.StdEncoding.DecodeString(string(text)); err == nil {
			if len(key) != KeySize && len(data) != KeySize {
				return nil, fmt.Errorf("the key is %d bytes; want %d (make one with: tlsgate storage keygen --out FILE)", len(key), KeySize)
			}
			if len(key) == KeySize {
				return key, nil
			}
		}
	}
	if len(data) == KeySize {
		return bytes.Clone(data), nil
	}
	return nil, fmt.Errorf("not a storage key: want %d random bytes, base64 encoded (make one with: tlsgate storage keygen --out FILE)", KeySize)
}

// ReadKeyFile reads and parses a key file.
func ReadKeyFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read storage key: %w", err)
	}
	key, err := ParseKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

// ErrKeyFileExists is returned by WriteKeyFile for an existing file
// without overwrite.
var ErrKeyFileExists = errors.New("file exists")

// WriteKeyFile writes key to path with mode 0600. An existing file is
// replaced only with overwrite; a key that is lost makes everything sealed
// with it unreadable.
func WriteKeyFile(path string, key []byte, overwrite bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if overwrite {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("write storage key %s: %w", path, ErrKeyFileExists)
	}
	if err != nil {
		return fmt.Errorf("write storage key: %w", err)
	}
	// An existing file keeps its mode on O_TRUNC: make sure it is private.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write storage key: %w", err)
	}
	if _, err := f.Write(EncodeKey(key)); err != nil {
		f.Close()
		return fmt.Errorf("write storage key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write storage key %s: %w", path, err)
	}
	return nil
}
