package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"
)

// File names of the local CA inside its directory.
const (
	RootCertFile         = "root.crt"
	RootKeyFile          = "root.key"
	IntermediateCertFile = "intermediate.crt"
	IntermediateKeyFile  = "intermediate.key"
)

// Lifetimes of the local CA certificates.
const (
	rootValidityYears         = 10
	intermediateValidityYears = 7
)

// RootCertPath is where the local CA in dir keeps its root certificate.
func RootCertPath(dir string) string { return filepath.Join(dir, RootCertFile) }

// LocalCAPEM is the local CA as PEM: certificates and unencrypted PKCS#8
// keys. It is what InitLocalCA writes, for callers that keep the CA in other
// storage.
type LocalCAPEM struct {
	RootCert, RootKey                 []byte
	IntermediateCert, IntermediateKey []byte
}

// DefaultCAName names a local CA after the user and machine that made it
// ("tlsgate alice@laptop"), the way mkcert does, so a trust store listing
// shows whose CA it is.
func DefaultCAName() string {
	name := "tlsgate " + userAtHost()
	if len(name+" Intermediate CA") > 64 {
		return "tlsgate Local CA"
	}
	return name
}

func userAtHost() string {
	who := "user"
	if u, err := user.Current(); err == nil && u.Username != "" {
		who = u.Username
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return who + "@" + strings.Split(host, ".")[0]
}

// NewLocalCA makes a root (ECDSA P-256, 10 years, CN "<name> Root CA") and
// an intermediate under it (ECDSA P-256, 7 years but never past the root,
// path length 0, CN "<name> Intermediate CA"). name "" means DefaultCAName.
func NewLocalCA(name string, now time.Time) (*CA, *LocalCAPEM, error) {
	if name == "" {
		name = DefaultCAName()
	}
	if len(name+" Intermediate CA") > 64 {
		return nil, nil, fmt.Errorf("CA name %q is too long (at most %d characters)", name, 64-len(" Intermediate CA"))
	}
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate root key: %w", err)
	}
	tmpl := caTemplate(name, "Root CA", now, now.AddDate(rootValidityYears, 0, 0))
	tmpl.MaxPathLen = 1
	root, err := createCert(tmpl, nil, rootKey.Public(), rootKey)
	if err != nil {
		return nil, nil, fmt.Errorf("create root certificate: %w", err)
	}
	ca, p, err := newIntermediate(name, root, rootKey, now)
	if err != nil {
		return nil, nil, err
	}
	if p.RootKey, err = MarshalPrivateKeyPEM(rootKey, nil); err != nil {
		return nil, nil, err
	}
	return ca, p, nil
}

// newIntermediate makes an intermediate under root and returns the CA with
// the PEM of everything but the root key.
func newIntermediate(name string, root *x509.Certificate, rootKey crypto.Signer, now time.Time) (*CA, *LocalCAPEM, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate intermediate key: %w", err)
	}
	notAfter := now.AddDate(intermediateValidityYears, 0, 0)
	if notAfter.After(root.NotAfter) {
		notAfter = root.NotAfter
	}
	tmpl := caTemplate(name, "Intermediate CA", now, notAfter)
	tmpl.MaxPathLenZero = true
	// An EKU on the intermediate limits what it may sign to TLS leaves, as
	// the CA/Browser Forum asks of subordinate CAs.
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	cert, err := createCert(tmpl, root, key.Public(), rootKey)
	if err != nil {
		return nil, nil, fmt.Errorf("create intermediate certificate: %w", err)
	}
	keyPEM, err := MarshalPrivateKeyPEM(key, nil)
	if err != nil {
		return nil, nil, err
	}
	ca := &CA{Root: root, Cert: cert, Key: key, Chain: []*x509.Certificate{cert}}
	p := &LocalCAPEM{
		RootCert:         EncodeCertificatesPEM(root),
		IntermediateCert: EncodeCertificatesPEM(cert),
		IntermediateKey:  keyPEM,
	}
	return ca, p, nil
}

func caTemplate(name, role string, now, notAfter time.Time) *x509.Certificate {
	return &x509.Certificate{
		Subject: pkix.Name{
			CommonName:         name + " " + role,
			Organization:       []string{name},
			OrganizationalUnit: []string{userAtHost()},
		},
		NotBefore:             now.Add(-clockSkew).UTC().Truncate(time.Second),
		NotAfter:              notAfter.UTC().Truncate(time.Second),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
}

// createCert fills serial and key identifier and signs tmpl with signer
// under parent (nil parent: self-signed).
func createCert(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, error) {
	var err error
	if tmpl.SerialNumber, err = randomSerial(rand.Reader); err != nil {
		return nil, err
	}
	if tmpl.SubjectKeyId, err = subjectKeyID(pub); err != nil {
		return nil, err
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// ParseLocalCA checks and loads a local CA from its PEM: each key must match
// its certificate and the intermediate must be signed by the root. RootKey
// may be empty (it is not needed to issue).
func ParseLocalCA(p *LocalCAPEM) (*CA, error) {
	root, err := parseOneCert(p.RootCert, RootCertFile)
	if err != nil {
		return nil, err
	}
	if len(p.RootKey) > 0 {
		if _, err := parseMatchingKey(p.RootKey, root, RootKeyFile); err != nil {
			return nil, err
		}
	}
	cert, err := parseOneCert(p.IntermediateCert, IntermediateCertFile)
	if err != nil {
		return nil, err
	}
	key, err := parseMatchingKey(p.IntermediateKey, cert, IntermediateKeyFile)
	if err != nil {
		return nil, err
	}
	if !issuedBy(cert, root) {
		return nil, fmt.Errorf("%s is not signed by %s", IntermediateCertFile, RootCertFile)
	}
	return &CA{Root: root, Cert: cert, Key: key, Chain: []*x509.Certificate{cert}}, nil
}

func parseOneCert(data []byte, what string) (*x509.Certificate, error) {
	certs, err := ParseCertificatesPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return certs[0], nil
}

func parseMatchingKey(data []byte, cert *x509.Certificate, what string) (crypto.Signer, error) {
	key, err := ParsePrivateKeyPEM(data, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if !publicKeysEqual(key.Public(), cert.PublicKey) {
		return nil, fmt.Errorf("%s does not match its certificate", what)
	}
	return key, nil
}

// errIncomplete says which files of a local CA exist and what to do.
func errIncomplete(dir string, have, missing []string) error {
	return fmt.Errorf("local CA in %s is incomplete: found %s, missing %s; restore the missing files, "+
		"or move %s away and run `tlsgate ca init` for a new CA (clients must then trust the new root)",
		dir, strings.Join(have, ", "), strings.Join(missing, ", "), dir)
}

// localCAFiles reports which CA files exist in dir.
func localCAFiles(dir string) (have, missing []string, err error) {
	for _, f := range []string{RootCertFile, RootKeyFile, IntermediateCertFile, IntermediateKeyFile} {
		_, err := os.Stat(filepath.Join(dir, f))
		switch {
		case err == nil:
			have = append(have, f)
		case errors.Is(err, fs.ErrNotExist):
			missing = append(missing, f)
		default:
			return nil, nil, fmt.Errorf("local CA: %w", err)
		}
	}
	return have, missing, nil
}
