package pki

import (
	"crypto/x509"
	"fmt"
	"os"
)

// PoolMode says how strictly AppendCertFile reads a certificate file.
type PoolMode int

const (
	// PoolStrict fails on any CERTIFICATE block that does not parse, and
	// also reads DER (ParseCertificatesPEM): for files the user names to
	// trust a narrow set of CAs (client_auth.ca_files, doctor --cacert).
	PoolStrict PoolMode = iota
	// PoolLenient skips blocks that do not parse, as
	// x509.CertPool.AppendCertsFromPEM does, and needs at least one
	// certificate: for bundles gathered from elsewhere (acme.trusted_roots,
	// storage.etcd.ca_file).
	PoolLenient
)

// AppendCertFile adds the certificates in the PEM file path to pool. Errors
// name the file; callers add the config key or flag it came from.
func AppendCertFile(pool *x509.CertPool, path string, mode PoolMode) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if mode == PoolLenient {
		if !pool.AppendCertsFromPEM(data) {
			return fmt.Errorf("%s holds no PEM certificate", path)
		}
		return nil
	}
	certs, err := ParseCertificatesPEM(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, c := range certs {
		pool.AddCert(c)
	}
	return nil
}

// CertPoolFromFiles returns a new pool holding the certificates of files.
func CertPoolFromFiles(mode PoolMode, files ...string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	for _, f := range files {
		if err := AppendCertFile(pool, f, mode); err != nil {
			return nil, err
		}
	}
	return pool, nil
}
