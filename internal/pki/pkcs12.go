package pki

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"

	"software.sslmate.com/src/go-pkcs12"
)

// EncodePKCS12 bundles key, leaf and chain into a PKCS#12 (.p12) file for
// browsers and OS key stores (`ca issue --p12-out`). It uses the modern
// profile (PBES2 AES-256-CBC, SHA-256 MAC), which OpenSSL 3, Firefox,
// Chrome, Windows 10+ and macOS 12+ import; an empty password is allowed
// but most importers then refuse or warn, so callers should ask for one.
func EncodePKCS12(key crypto.Signer, leaf *x509.Certificate, chain []*x509.Certificate, password string) ([]byte, error) {
	if key == nil || leaf == nil {
		return nil, errors.New("encode PKCS#12: key and certificate are required")
	}
	if !publicKeysEqual(key.Public(), leaf.PublicKey) {
		return nil, errors.New("encode PKCS#12: the key does not belong to the certificate")
	}
	data, err := pkcs12.Modern.Encode(key, leaf, chain, password)
	if err != nil {
		return nil, fmt.Errorf("encode PKCS#12: %w", err)
	}
	return data, nil
}
