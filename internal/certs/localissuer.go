package certs

import (
	"context"
	"crypto/x509"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/tlsgate/tlsgate/internal/pki"
)

// localIssuer issues leaves from the local CA. CertMagic makes the key and
// the CSR, stores the result and renews it like any other certificate.
type localIssuer struct {
	ca       *pki.CA
	validity time.Duration
}

var _ certmagic.Issuer = (*localIssuer)(nil)

func (li *localIssuer) Issue(_ context.Context, csr *x509.CertificateRequest) (*certmagic.IssuedCertificate, error) {
	leaf, err := li.ca.SignCSR(csr, false, li.validity)
	if err != nil {
		return nil, err
	}
	return &certmagic.IssuedCertificate{Certificate: li.ca.ChainPEM(leaf)}, nil
}

// IssuerKey names the storage folder of local certificates.
func (li *localIssuer) IssuerKey() string { return localIssuerKey }

const localIssuerKey = "local"
