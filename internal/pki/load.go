package pki

import (
	"crypto/x509"
	"fmt"
)

// LoadCA loads a CA the user brings: certPEM holds the issuing certificate
// and optionally the certificates above it (any order), keyPEM its private
// key, possibly encrypted (ErrPassphraseRequired and ErrWrongPassphrase
// come back wrapped). The issuing certificate is the one matching the key;
// it must be a CA certificate allowed to sign certificates.
//
// Root is the self-signed certificate at the top of the chain found in
// certPEM, else the topmost certificate present. Chain is the issuing
// certificate and its parents, without a self-signed root.
func LoadCA(certPEM, keyPEM, passphrase []byte) (*CA, error) {
	certs, err := ParseCertificatesPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA certificate: %w", err)
	}
	key, err := ParsePrivateKeyPEM(keyPEM, passphrase)
	if err != nil {
		return nil, fmt.Errorf("load CA key: %w", err)
	}
	var cert *x509.Certificate
	for _, c := range certs {
		if publicKeysEqual(key.Public(), c.PublicKey) {
			cert = c
			break
		}
	}
	if cert == nil {
		return nil, fmt.Errorf("load CA: the key does not belong to any of the %d certificate(s) in the CA certificate file", len(certs))
	}
	if err := checkSigningCA(cert); err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	path := chainFrom(cert, certs)
	ca := &CA{Root: path[len(path)-1], Cert: cert, Key: key}
	for _, c := range path {
		if !isSelfSigned(c) {
			ca.Chain = append(ca.Chain, c)
		}
	}
	return ca, nil
}

// checkSigningCA refuses certificates that clients would not accept as the
// issuer of a leaf.
func checkSigningCA(c *x509.Certificate) error {
	name := c.Subject.String()
	if !c.BasicConstraintsValid || !c.IsCA {
		return fmt.Errorf("certificate %q is not a CA certificate (basicConstraints CA:TRUE is missing)", name)
	}
	if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0 {
		return fmt.Errorf("certificate %q may not sign certificates (keyUsage keyCertSign is missing)", name)
	}
	return nil
}

// chainFrom follows issuers from start through pool and returns start and its
// parents, bottom up, stopping at a self-signed certificate or when no parent
// is present.
func chainFrom(start *x509.Certificate, pool []*x509.Certificate) []*x509.Certificate {
	path := []*x509.Certificate{start}
	for cur := start; !isSelfSigned(cur) && len(path) <= len(pool); {
		var parent *x509.Certificate
		for _, c := range pool {
			if c != cur && issuedBy(cur, c) {
				parent = c
				break
			}
		}
		if parent == nil {
			break
		}
		path = append(path, parent)
		cur = parent
	}
	return path
}
