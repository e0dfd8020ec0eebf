package pki

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
)

// Bundle is what one PEM (or DER) file holds, each kind in file order.
type Bundle struct {
	Certificates []*x509.Certificate
	CSRs         []CSRInfo
	Keys         []KeyInfo
}

// ParseBundle reads every certificate, certificate request and private key
// in data; PEM blocks of other types are skipped, and one that does not
// parse is an error. Data without any PEM block is tried as DER: one or
// more certificates, a certificate request, or a PKCS#8 key. An empty
// Bundle is not an error; the caller says what it expected.
func ParseBundle(data []byte) (*Bundle, error) {
	blocks := pemBlocks(data)
	if len(blocks) == 0 {
		return parseDERBundle(data), nil
	}
	b := &Bundle{}
	for _, block := range blocks {
		switch {
		case block.Type == "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("certificate %d: %w", len(b.Certificates)+1, err)
			}
			b.Certificates = append(b.Certificates, c)
		case isCSRBlock(block):
			csr, err := x509.ParseCertificateRequest(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("certificate request: %w", err)
			}
			b.CSRs = append(b.CSRs, DescribeCSR(csr))
		case isKeyBlock(block):
			info, err := DescribeKeyPEM(pem.EncodeToMemory(block))
			if err != nil {
				return nil, err
			}
			b.Keys = append(b.Keys, info)
		}
	}
	return b, nil
}

func parseDERBundle(data []byte) *Bundle {
	b := &Bundle{}
	if c, err := x509.ParseCertificates(data); err == nil && len(c) > 0 {
		b.Certificates = c
		return b
	}
	if csr, err := x509.ParseCertificateRequest(data); err == nil {
		b.CSRs = append(b.CSRs, DescribeCSR(csr))
		return b
	}
	if info, err := DescribeKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: data})); err == nil {
		b.Keys = append(b.Keys, info)
	}
	return b
}

// LenientCertificatesPEM returns every CERTIFICATE block of data that
// parses, skipping the rest, as x509.CertPool.AppendCertsFromPEM does: a
// system bundle with one odd entry is still a bundle.
func LenientCertificatesPEM(data []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for _, block := range pemBlocks(data) {
		if block.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// isCSRBlock: "CERTIFICATE REQUEST", or the older "NEW CERTIFICATE REQUEST".
func isCSRBlock(b *pem.Block) bool {
	return b.Type == "CERTIFICATE REQUEST" || b.Type == "NEW CERTIFICATE REQUEST"
}

// isKeyBlock: any private key block (PKCS#8, PKCS#1, SEC 1, encrypted).
func isKeyBlock(b *pem.Block) bool { return strings.HasSuffix(b.Type, "PRIVATE KEY") }
