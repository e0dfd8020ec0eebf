package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"time"
)

// CertInfo summarizes a certificate for `tlsgate inspect`. Fingerprints are
// lowercase hex of the DER without colons (as in X-Client-Cert-Fingerprint);
// Serial is lowercase hex. KeyType uses the KeyType names ("ecdsa-p256",
// "rsa-2048", "ed25519").
type CertInfo struct {
	Subject     string    `json:"subject"`
	Issuer      string    `json:"issuer"`
	SANs        []string  `json:"sans"`
	Serial      string    `json:"serial"`
	NotBefore   time.Time `json:"not_before"`
	NotAfter    time.Time `json:"not_after"`
	DaysLeft    int       `json:"days_left"` // whole days until NotAfter; negative once expired
	KeyType     string    `json:"key_type"`
	KeyBits     int       `json:"key_bits"`
	SHA256      string    `json:"sha256"`
	SHA1        string    `json:"sha1"`
	IsCA        bool      `json:"is_ca"`
	SelfSigned  bool      `json:"self_signed"`
	KeyUsage    []string  `json:"key_usage"`
	ExtKeyUsage []string  `json:"ext_key_usage"`
}

// DescribeCertificate summarizes c as seen at now.
func DescribeCertificate(c *x509.Certificate, now time.Time) CertInfo {
	typ, bits := DescribePublicKey(c.PublicKey)
	s256 := sha256.Sum256(c.Raw)
	s1 := sha1.Sum(c.Raw)
	return CertInfo{
		Subject:     c.Subject.String(),
		Issuer:      c.Issuer.String(),
		SANs:        sanStrings(c.DNSNames, c.IPAddresses, c.EmailAddresses, c.URIs),
		Serial:      fmt.Sprintf("%x", c.SerialNumber),
		NotBefore:   c.NotBefore,
		NotAfter:    c.NotAfter,
		DaysLeft:    int(math.Floor(c.NotAfter.Sub(now).Hours() / 24)),
		KeyType:     typ,
		KeyBits:     bits,
		SHA256:      hex.EncodeToString(s256[:]),
		SHA1:        hex.EncodeToString(s1[:]),
		IsCA:        c.BasicConstraintsValid && c.IsCA,
		SelfSigned:  isSelfSigned(c),
		KeyUsage:    keyUsageNames(c.KeyUsage),
		ExtKeyUsage: extKeyUsageNames(c),
	}
}

// DescribePublicKey names a public key's type as KeyType does and its size
// in bits (the curve size for ECDSA, 256 for Ed25519).
func DescribePublicKey(pub crypto.PublicKey) (typ string, bits int) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		p := k.Curve.Params()
		return "ecdsa-" + strings.ToLower(strings.ReplaceAll(p.Name, "-", "")), p.BitSize
	case *rsa.PublicKey:
		return fmt.Sprintf("rsa-%d", k.N.BitLen()), k.N.BitLen()
	case ed25519.PublicKey:
		return string(KeyEd25519), 256
	}
	return strings.ToLower(strings.TrimPrefix(fmt.Sprintf("%T", pub), "*")), 0
}

// keyUsageNames uses the RFC 5280 names, as openssl prints them in config.
func keyUsageNames(u x509.KeyUsage) []string {
	names := []string{"digitalSignature", "contentCommitment", "keyEncipherment", "dataEncipherment",
		"keyAgreement", "keyCertSign", "cRLSign", "encipherOnly", "decipherOnly"}
	out := []string{}
	for i, n := range names {
		if u&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

var extKeyUsageName = map[x509.ExtKeyUsage]string{
	x509.ExtKeyUsageAny:             "any",
	x509.ExtKeyUsageServerAuth:      "serverAuth",
	x509.ExtKeyUsageClientAuth:      "clientAuth",
	x509.ExtKeyUsageCodeSigning:     "codeSigning",
	x509.ExtKeyUsageEmailProtection: "emailProtection",
	x509.ExtKeyUsageTimeStamping:    "timeStamping",
	x509.ExtKeyUsageOCSPSigning:     "OCSPSigning",
	x509.ExtKeyUsageIPSECEndSystem:  "ipsecEndSystem",
	x509.ExtKeyUsageIPSECTunnel:     "ipsecTunnel",
	x509.ExtKeyUsageIPSECUser:       "ipsecUser",
}

func extKeyUsageNames(c *x509.Certificate) []string {
	out := []string{}
	for _, u := range c.ExtKeyUsage {
		if n, ok := extKeyUsageName[u]; ok {
			out = append(out, n)
		} else {
			out = append(out, fmt.Sprintf("eku-%d", u))
		}
	}
	for _, oid := range c.UnknownExtKeyUsage {
		out = append(out, oid.String())
	}
	return out
}

// ChainProblems reports what is wrong with the order of a chain as a server
// sends it or a file holds it: the leaf is not first, certificate i is not
// issued by certificate i+1, duplicates. Certificates are numbered from 1.
// A root at the end is fine, and a chain that stops before the root too.
func ChainProblems(chain []*x509.Certificate) []string {
	if len(chain) == 0 {
		return []string{"the chain is empty"}
	}
	var problems []string
	if isCACert(chain[0]) {
		for j, c := range chain[1:] {
			if !isCACert(c) {
				problems = append(problems, fmt.Sprintf("the leaf %s is certificate %d; it must come first", certName(c), j+2))
				break
			}
		}
	}
	for i := range chain {
		for j := range i {
			if bytes.Equal(chain[i].Raw, chain[j].Raw) {
				problems = append(problems, fmt.Sprintf("certificate %d (%s) duplicates certificate %d", i+1, certName(chain[i]), j+1))
				break
			}
		}
	}
	for i := 0; i+1 < len(chain); i++ {
		c, next := chain[i], chain[i+1]
		if bytes.Equal(c.Raw, next.Raw) {
			continue // reported as a duplicate
		}
		if !issuedBy(c, next) {
			problems = append(problems, fmt.Sprintf("certificate %d (%s) is not issued by the next one, certificate %d (%s); its issuer is %s",
				i+1, certName(c), i+2, certName(next), c.Issuer.String()))
		}
	}
	return problems
}

func isCACert(c *x509.Certificate) bool { return c.BasicConstraintsValid && c.IsCA }

func certName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return fmt.Sprintf("%q", c.Subject.CommonName)
	}
	if s := c.Subject.String(); s != "" {
		return fmt.Sprintf("%q", s)
	}
	return "with serial " + fmt.Sprintf("%x", c.SerialNumber)
}

// KeyInfo summarizes a private key file. Type uses the KeyType names; for
// an encrypted key only what the file shows without the passphrase is set
// (legacy PEM names the algorithm, encrypted PKCS#8 does not: "encrypted").
type KeyInfo struct {
	Type      string `json:"type"`
	Bits      int    `json:"bits"`
	Encrypted bool   `json:"encrypted"`
}

// DescribeKeyPEM summarizes the first private key in data without needing
// the passphrase of an encrypted one.
func DescribeKeyPEM(data []byte) (KeyInfo, error) {
	block, err := findKeyBlock(data)
	if err != nil {
		return KeyInfo{}, err
	}
	if isEncryptedBlock(block) {
		info := KeyInfo{Type: "encrypted", Encrypted: true}
		switch block.Type {
		case "RSA PRIVATE KEY":
			info.Type = "rsa"
		case "EC PRIVATE KEY":
			info.Type = "ecdsa"
		}
		return info, nil
	}
	key, err := ParsePrivateKeyPEM(data, nil)
	if err != nil {
		return KeyInfo{}, err
	}
	typ, bits := DescribePublicKey(key.Public())
	return KeyInfo{Type: typ, Bits: bits}, nil
}

// CSRInfo summarizes a certificate request.
type CSRInfo struct {
	Subject        string   `json:"subject"`
	Names          []string `json:"names"`
	KeyType        string   `json:"key_type"`
	KeyBits        int      `json:"key_bits"`
	SignatureValid bool     `json:"signature_valid"`
}

// DescribeCSR summarizes csr and checks its signature.
func DescribeCSR(csr *x509.CertificateRequest) CSRInfo {
	typ, bits := DescribePublicKey(csr.PublicKey)
	return CSRInfo{
		Subject:        csr.Subject.String(),
		Names:          sanStrings(csr.DNSNames, csr.IPAddresses, csr.EmailAddresses, csr.URIs),
		KeyType:        typ,
		KeyBits:        bits,
		SignatureValid: csr.CheckSignature() == nil,
	}
}
