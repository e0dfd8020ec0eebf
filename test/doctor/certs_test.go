package doctor

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/pki"
)

// keyPair is a served certificate chain with its key.
type keyPair struct {
	chain []*x509.Certificate
	key   crypto.Signer
}

func (k keyPair) tls() tls.Certificate {
	c := tls.Certificate{PrivateKey: k.key, Leaf: k.chain[0]}
	for _, x := range k.chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

// writePEM writes the chain and the key into dir as NAME.crt and NAME.key.
func (k keyPair) writePEM(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	keyPEM, err := pki.MarshalPrivateKeyPEM(k.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, filepath.Join(dir, name+".crt"), pki.EncodeCertificatesPEM(k.chain...)),
		writeFile(t, filepath.Join(dir, name+".key"), keyPEM)
}

// newCA makes a two-level CA (root + intermediate) with tlsgate's pki,
// valid from made; made in the past gives a CA that can issue expired
// leaves.
func newCA(t *testing.T, name string, made time.Time) *pki.CA {
	t.Helper()
	ca, _, err := pki.NewLocalCA(name, made)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// localCA makes a local CA in DATA/ca, as `tlsgate ca init --data-dir DATA` does.
func localCA(t *testing.T, data string) *pki.CA {
	t.Helper()
	ca, _, err := pki.InitLocalCA(filepath.Join(data, "ca"), "Doctor Test")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// issue makes a leaf for names at the time the CA's clock says (now when
// at is zero), valid for validity, with the CA's chain after it.
func issue(t *testing.T, ca *pki.CA, at time.Time, validity time.Duration, client bool, names ...string) keyPair {
	t.Helper()
	key, err := pki.GenerateKey(pki.KeyECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	c := *ca
	if !at.IsZero() {
		c.Now = func() time.Time { return at }
	}
	leaf, err := c.Issue(pki.LeafRequest{Names: names, PublicKey: key.Public(), Validity: validity, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	return keyPair{chain: append([]*x509.Certificate{leaf}, ca.Chain...), key: key}
}

// rootFile writes the CA's root as PEM into dir.
func rootFile(t *testing.T, dir string, ca *pki.CA) string {
	t.Helper()
	return writeFile(t, filepath.Join(dir, "root.pem"), pki.EncodeCertificatesPEM(ca.Root))
}
