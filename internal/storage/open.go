package storage

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/pki"
)

// Open builds the storage a config's storage block describes: file storage
// under dataDir or etcd, always wrapped in Encrypted (with the key from
// encryption_key_file, or with none, so sealed values are refused clearly).
// The Closer releases the etcd connection; it is a no-op for file storage.
func Open(cfg config.Storage, dataDir string, logger *slog.Logger) (certmagic.Storage, io.Closer, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var key []byte
	if cfg.EncryptionKeyFile != "" {
		k, err := ReadKeyFile(cfg.EncryptionKeyFile)
		if err != nil {
			return nil, nil, &KeyFileError{Err: err}
		}
		key = k
	}
	var (
		backend certmagic.Storage
		closer  io.Closer = nopCloser{}
	)
	switch cfg.Backend {
	case "", config.StorageFile:
		if dataDir == "" {
			return nil, nil, errors.New("file storage: no data directory")
		}
		backend = &certmagic.FileStorage{Path: dataDir}
	case config.StorageEtcd:
		opts, err := etcdOptions(cfg.Etcd)
		if err != nil {
			return nil, nil, err
		}
		opts.Logger = logger
		e, err := NewEtcd(opts)
		if err != nil {
			return nil, nil, fmt.Errorf("storage.etcd: %w", err)
		}
		backend, closer = e, e
	default:
		// config validated it; this guards callers that did not use config.
		return nil, nil, fmt.Errorf("storage.backend %q is unknown", cfg.Backend)
	}
	enc, err := NewEncrypted(backend, key)
	if err != nil {
		closer.Close()
		return nil, nil, err
	}
	enc.RequireSealed = key != nil && (cfg.RequireSealed == nil || *cfg.RequireSealed)
	return enc, closer, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// etcdOptions turns the config's etcd block into EtcdOptions.
func etcdOptions(c *config.Etcd) (EtcdOptions, error) {
	if c == nil || len(c.Endpoints) == 0 {
		return EtcdOptions{}, errors.New("storage.etcd.endpoints: the etcd backend needs endpoints")
	}
	opts := EtcdOptions{
		Endpoints:   c.Endpoints,
		Prefix:      c.Prefix,
		Username:    c.Username,
		Password:    c.Password,
		DialTimeout: time.Duration(c.DialTimeout),
	}
	if c.CertFile != "" || c.CAFile != "" {
		t := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
			if err != nil {
				return EtcdOptions{}, fmt.Errorf("storage.etcd client certificate: %w", err)
			}
			t.Certificates = []tls.Certificate{cert}
		}
		if c.CAFile != "" {
			pool, err := pki.CertPoolFromFiles(pki.PoolLenient, c.CAFile)
			if err != nil {
				return EtcdOptions{}, fmt.Errorf("storage.etcd.ca_file: %w", err)
			}
			t.RootCAs = pool
		}
		opts.TLS = t
	}
	return opts, nil
}

// KeyFileError is a storage.encryption_key_file that cannot be used: a
// configuration problem for the user to fix, not a runtime failure.
type KeyFileError struct{ Err error }

func (e *KeyFileError) Error() string { return "storage.encryption_key_file: " + e.Err.Error() }
func (e *KeyFileError) Unwrap() error { return e.Err }
