package pki_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/tlsgate/tlsgate/internal/pki"
)

// Issue a server certificate from the local CA, as `tlsgate ca issue` does.
func ExampleCA_Issue() {
	dir, cleanup := exampleDir()
	defer cleanup()

	ca, _, err := pki.InitLocalCA(filepath.Join(dir, "ca"), "Example")
	if err != nil {
		log.Fatal(err)
	}
	key, err := pki.GenerateKey(pki.DefaultKeyType)
	if err != nil {
		log.Fatal(err)
	}
	leaf, err := ca.Issue(pki.LeafRequest{
		Names:     []string{"app.localhost", "127.0.0.1"},
		PublicKey: key.Public(),
		Validity:  30 * 24 * time.Hour,
	})
	if err != nil {
		log.Fatal(err)
	}
	keyPEM, err := pki.MarshalPrivateKeyPEM(key, nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := pki.WriteFile(filepath.Join(dir, "app.key"), keyPEM, 0o600, false); err != nil {
		log.Fatal(err)
	}
	if err := pki.WriteFile(filepath.Join(dir, "app.crt"), ca.ChainPEM(leaf), 0o644, false); err != nil {
		log.Fatal(err)
	}
	info := pki.DescribeCertificate(leaf, time.Now())
	fmt.Println(info.SANs, leaf.Issuer.CommonName, info.ExtKeyUsage)
	// Output: [app.localhost 127.0.0.1] Example Intermediate CA [serverAuth]
}

func exampleDir() (string, func()) {
	dir, err := os.MkdirTemp("", "pki-example")
	if err != nil {
		log.Fatal(err)
	}
	return dir, func() { os.RemoveAll(dir) }
}
