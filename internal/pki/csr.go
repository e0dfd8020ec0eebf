package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
)

// CSRRequest describes a certificate signing request.
type CSRRequest struct {
	// Names become subject alternative names of the right kind (DNS name,
	// IP address, e-mail, URI); see ParseNames.
	Names []string
	// Subject is optional. An empty CommonName defaults to the first name
	// (DNS names before addresses) when it fits the 64-character limit;
	// some CAs still look at it.
	Subject pkix.Name
}

// CreateCSR makes a CSR signed by key and returns it parsed and PEM encoded.
// It needs at least one name or a subject common name.
func CreateCSR(key crypto.Signer, req CSRRequest) (*x509.CertificateRequest, []byte, error) {
	s, err := parseNames(req.Names)
	if err != nil {
		return nil, nil, fmt.Errorf("create CSR: %w", err)
	}
	subject := req.Subject
	if subject.CommonName == "" {
		subject.CommonName = defaultCommonName(s)
	}
	if s.empty() && subject.CommonName == "" {
		return nil, nil, errors.New("create CSR: give at least one name")
	}
	tmpl := &x509.CertificateRequest{
		Subject:        subject,
		DNSNames:       s.DNS,
		IPAddresses:    s.IPs,
		EmailAddresses: s.Emails,
		URIs:           s.URIs,
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CSR: %w", err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, nil, fmt.Errorf("create CSR: %w", err)
	}
	return csr, encodeCSRPEM(der), nil
}

// defaultCommonName is the first name, if it fits ub-common-name (RFC 5280).
func defaultCommonName(s sans) string {
	names := s.strings()
	if len(names) == 0 || len(names[0]) > 64 {
		return ""
	}
	return names[0]
}
