package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"
)

// MaxLeafValidity is the longest server certificate browsers accept (398
// days, CA/Browser Forum), minus a day of margin.
const MaxLeafValidity = 397 * 24 * time.Hour

// clockSkew backdates NotBefore so a client whose clock is a little behind
// does not reject a certificate issued a moment ago.
const clockSkew = time.Hour

// CA is a signing CA: Cert and Key sign leaves, Chain is what follows a leaf
// in a served chain, Root is the trust anchor clients install.
//
// A CA is safe for concurrent use as long as its fields are not modified.
type CA struct {
	// Root is the trust anchor. For the local CA it is the root certificate;
	// for a single-level user CA it equals Cert.
	Root *x509.Certificate
	// Cert is the issuing certificate (the intermediate for the local CA).
	Cert *x509.Certificate
	// Key is Cert's private key.
	Key crypto.Signer
	// Chain holds the certificates to send after a leaf, issuing certificate
	// first; self-signed roots are left out (clients must already have them).
	Chain []*x509.Certificate
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time
	// Rand is the source of serial numbers. If nil, crypto/rand.Reader is used.
	Rand io.Reader
}

func (ca *CA) now() time.Time {
	if ca.Now != nil {
		return ca.Now()
	}
	return time.Now()
}

func (ca *CA) rand() io.Reader {
	if ca.Rand != nil {
		return ca.Rand
	}
	return rand.Reader
}

// LeafRequest describes a leaf certificate for CA.Issue.
type LeafRequest struct {
	// Names become subject alternative names of the right kind (DNS name,
	// IP address, e-mail, URI); see ParseNames. At least one is required.
	Names []string
	// PublicKey is the leaf's key (ECDSA P-256/384/521, RSA >= 2048, Ed25519).
	PublicKey crypto.PublicKey
	// Client makes a client (mTLS) certificate: clientAuth instead of serverAuth.
	Client bool
	// NotAfter, if set, is the end of validity; it wins over Validity.
	NotAfter time.Time
	// Validity is the lifetime from now. Zero means MaxLeafValidity. A server
	// certificate never lives longer than MaxLeafValidity; no leaf outlives
	// the CA certificates above it.
	Validity time.Duration
	// Subject is optional; an empty CommonName defaults to the first name.
	Subject pkix.Name
}

// leafParams is what Issue and SignCSR have in common after checking input.
type leafParams struct {
	subject    pkix.Name
	rawSubject []byte // wins over subject when set (a CSR's subject, kept verbatim)
	sans       sans
	pub        crypto.PublicKey
	client     bool
	notAfter   time.Time
	validity   time.Duration
}

// Issue signs a leaf certificate for req.PublicKey: key usage
// digitalSignature (+keyEncipherment for RSA keys), extended key usage
// serverAuth or clientAuth, subject and authority key identifiers, a random
// 128-bit serial, NotBefore an hour back for clock skew. It refuses a request
// without names.
func (ca *CA) Issue(req LeafRequest) (*x509.Certificate, error) {
	s, err := parseNames(req.Names)
	if err != nil {
		return nil, fmt.Errorf("issue certificate: %w", err)
	}
	if s.empty() {
		return nil, errors.New("issue certificate: no names given")
	}
	subject := req.Subject
	if subject.CommonName == "" {
		subject.CommonName = defaultCommonName(s)
	}
	return ca.sign(leafParams{
		subject:  subject,
		sans:     s,
		pub:      req.PublicKey,
		client:   req.Client,
		notAfter: req.NotAfter,
		validity: req.Validity,
	})
}

// SignCSR signs csr after checking its signature and its names (as Issue
// checks them: no "*", no wildcard over a public suffix, no malformed
// names). The leaf keeps the CSR's subject and subject alternative names; every other requested extension
// (key usage, basic constraints, ...) is ignored and set as Issue sets it.
// A CSR without names is refused. validity works as LeafRequest.Validity.
func (ca *CA) SignCSR(csr *x509.CertificateRequest, client bool, validity time.Duration) (*x509.Certificate, error) {
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("sign CSR: the CSR's signature is invalid: %w", err)
	}
	s, err := checkCSRNames(csr)
	if err != nil {
		return nil, fmt.Errorf("sign CSR: refusing its names: %w", err)
	}
	if s.empty() {
		return nil, errors.New("sign CSR: the CSR has no subject alternative names; make it with the names as SANs (e.g. tlsgate csr NAME... or openssl req -addext subjectAltName=DNS:NAME)")
	}
	p := leafParams{sans: s, pub: csr.PublicKey, client: client, validity: validity}
	if len(csr.Subject.Names) > 0 {
		p.rawSubject = csr.RawSubject
	} else {
		p.subject.CommonName = defaultCommonName(s)
	}
	return ca.sign(p)
}

// ChainPEM returns leaf followed by ca.Chain, PEM encoded: what a server sends.
func (ca *CA) ChainPEM(leaf *x509.Certificate) []byte {
	return EncodeCertificatesPEM(append([]*x509.Certificate{leaf}, ca.Chain...)...)
}

func (ca *CA) sign(p leafParams) (*x509.Certificate, error) {
	if ca == nil || ca.Cert == nil || ca.Key == nil {
		return nil, errors.New("issue certificate: CA has no certificate or key")
	}
	if err := checkLeafKey(p.pub); err != nil {
		return nil, fmt.Errorf("issue certificate: %w", err)
	}
	now := ca.now()
	notBefore, notAfter, err := ca.leafValidity(now, p)
	if err != nil {
		return nil, fmt.Errorf("issue certificate: %w", err)
	}
	serial, err := randomSerial(ca.rand())
	if err != nil {
		return nil, fmt.Errorf("issue certificate: serial: %w", err)
	}
	ski, err := subjectKeyID(p.pub)
	if err != nil {
		return nil, fmt.Errorf("issue certificate: %w", err)
	}
	usage := x509.KeyUsageDigitalSignature
	if _, ok := p.pub.(*rsa.PublicKey); ok {
		usage |= x509.KeyUsageKeyEncipherment // RSA key exchange in TLS 1.2
	}
	eku := x509.ExtKeyUsageServerAuth
	if p.client {
		eku = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               p.subject,
		RawSubject:            p.rawSubject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              usage,
		ExtKeyUsage:           []x509.ExtKeyUsage{eku},
		BasicConstraintsValid: true,
		SubjectKeyId:          ski,
		AuthorityKeyId:        ca.Cert.SubjectKeyId,
		DNSNames:              p.sans.DNS,
		IPAddresses:           p.sans.IPs,
		EmailAddresses:        p.sans.Emails,
		URIs:                  p.sans.URIs,
	}
	der, err := x509.CreateCertificate(ca.rand(), tmpl, ca.Cert, p.pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("issue certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// leafValidity picks NotBefore and NotAfter: see LeafRequest.Validity.
func (ca *CA) leafValidity(now time.Time, p leafParams) (time.Time, time.Time, error) {
	notBefore := now.Add(-clockSkew)
	if notBefore.Before(ca.Cert.NotBefore) {
		notBefore = ca.Cert.NotBefore
	}
	notAfter := p.notAfter
	if notAfter.IsZero() {
		validity := p.validity
		if validity <= 0 {
			validity = MaxLeafValidity
		}
		notAfter = now.Add(validity)
	}
	if limit := notBefore.Add(MaxLeafValidity); !p.client && notAfter.After(limit) {
		notAfter = limit
	}
	for _, c := range append([]*x509.Certificate{ca.Cert}, ca.Chain...) {
		if notAfter.After(c.NotAfter) {
			notAfter = c.NotAfter
		}
	}
	if !notAfter.After(now) {
		return time.Time{}, time.Time{}, fmt.Errorf("validity would end at %s, before now; is the CA certificate %q expired (not after %s)?",
			notAfter.UTC().Format(time.RFC3339), ca.Cert.Subject.CommonName, ca.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return notBefore.UTC().Truncate(time.Second), notAfter.UTC().Truncate(time.Second), nil
}

// checkLeafKey refuses keys clients reject or that are too weak to sign.
func checkLeafKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("RSA key of %d bits is too weak; use at least 2048", k.N.BitLen())
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return fmt.Errorf("unsupported ECDSA curve %s", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	case nil:
		return errors.New("no public key given")
	default:
		return fmt.Errorf("unsupported public key type %T", pub)
	}
	return nil
}

// randomSerial returns a positive serial of exactly 128 bits (top bit set),
// 127 of them random: well above the CA/Browser Forum's 64.
func randomSerial(r io.Reader) (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	b[0] |= 0x80
	return new(big.Int).SetBytes(b), nil
}

// subjectKeyID is the SHA-1 of the subject public key bits (RFC 5280
// 4.2.1.2, method 1), as OpenSSL and Go compute it for CA certificates.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("decode public key: %w", err)
	}
	sum := sha1.Sum(spki.PublicKey.Bytes)
	return sum[:], nil
}

// isSelfSigned reports whether c is signed by its own key. It checks the
// signature directly, because CheckSignatureFrom refuses non-CA parents and
// a self-signed leaf is still self-signed.
func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) &&
		c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// issuedBy reports whether parent signed child.
func issuedBy(child, parent *x509.Certificate) bool {
	return bytes.Equal(child.RawIssuer, parent.RawSubject) && child.CheckSignatureFrom(parent) == nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}
