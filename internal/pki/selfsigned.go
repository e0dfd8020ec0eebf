package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"time"
)

// SelfSigned makes an in-memory self-signed server certificate for names
// with a new ECDSA P-256 key (tls: adhoc). It is an end-entity certificate,
// not a CA, so browsers that are told to trust it accept it as a server
// certificate. validity zero means MaxLeafValidity; it is not capped, since
// nobody's trust store limits it.
func SelfSigned(names []string, validity time.Duration) (tls.Certificate, error) {
	s, err := parseNames(names)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("self-signed certificate: %w", err)
	}
	if s.empty() {
		return tls.Certificate{}, errors.New("self-signed certificate: no names given")
	}
	if validity <= 0 {
		validity = MaxLeafValidity
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("self-signed certificate: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: defaultCommonName(s), Organization: []string{"tlsgate self-signed"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              s.DNS,
		IPAddresses:           s.IPs,
		EmailAddresses:        s.Emails,
		URIs:                  s.URIs,
	}
	cert, err := createCert(tmpl, nil, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("self-signed certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}, nil
}
