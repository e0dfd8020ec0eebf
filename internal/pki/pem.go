package pki

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// ParseCertificatesPEM returns every certificate in data, in file order.
// Other PEM blocks (keys, parameters) are skipped. Data without any PEM block
// is tried as DER, so `inspect` also reads .der/.cer files.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	blocks := pemBlocks(data)
	for _, block := range blocks {
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(blocks) == 0 {
		if c, err := x509.ParseCertificates(data); err == nil && len(c) > 0 {
			return c, nil
		}
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificate found (expected -----BEGIN CERTIFICATE-----)")
	}
	return certs, nil
}

// pemBlocks returns every PEM block in data, in order.
func pemBlocks(data []byte) []*pem.Block {
	var blocks []*pem.Block
	for {
		block, rest := pem.Decode(data)
		if block == nil {
			return blocks
		}
		blocks = append(blocks, block)
		data = rest
	}
}

// EncodeCertificatesPEM encodes certs as consecutive CERTIFICATE blocks.
func EncodeCertificatesPEM(certs ...*x509.Certificate) []byte {
	var buf bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}) // a bytes.Buffer does not fail
	}
	return buf.Bytes()
}

// ParseCSRPEM reads the first certificate request in data ("CERTIFICATE
// REQUEST" or the older "NEW CERTIFICATE REQUEST"), or DER when data holds no
// PEM. It does not check the signature; see CA.SignCSR and DescribeCSR.
func ParseCSRPEM(data []byte) (*x509.CertificateRequest, error) {
	blocks := pemBlocks(data)
	for _, block := range blocks {
		if isCSRBlock(block) {
			csr, err := x509.ParseCertificateRequest(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse certificate request: %w", err)
			}
			return csr, nil
		}
	}
	if len(blocks) == 0 {
		if csr, err := x509.ParseCertificateRequest(data); err == nil {
			return csr, nil
		}
	}
	return nil, errors.New("no certificate request found (expected -----BEGIN CERTIFICATE REQUEST-----)")
}

func encodeCSRPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}
