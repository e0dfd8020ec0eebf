package pki

import (
	"strings"
	"testing"
)

// TestEncodePKCS12OpenSSL has openssl open our .p12 with its password.
func TestEncodePKCS12OpenSSL(t *testing.T) {
	ca, _ := mustLocalCA(t)
	dir := t.TempDir()
	writeFile(t, dir, "pass", []byte("p12 pass\n"))
	for _, kt := range []KeyType{KeyECDSAP256, KeyRSA2048} {
		t.Run(string(kt), func(t *testing.T) {
			key := mustGenerateKey(t, kt)
			leaf := mustIssue(t, ca, LeafRequest{Names: []string{"alice@app.test"}, PublicKey: key.Public(), Client: true})
			data, err := EncodePKCS12(key, leaf, ca.Chain, "p12 pass")
			if err != nil {
				t.Fatal(err)
			}
			path := writeFile(t, dir, string(kt)+".p12", data)
			openssl(t, dir, "pkcs12", "-in", path, "-passin", "file:pass", "-noout")
			out := openssl(t, dir, "pkcs12", "-in", path, "-passin", "file:pass", "-nokeys")
			for _, want := range []string{"CN = alice@app.test", "CN = Test Intermediate CA"} {
				if !strings.Contains(out, want) {
					t.Errorf("openssl pkcs12 output lacks %q:\n%s", want, out)
				}
			}
			if _, err := opensslErr(t, dir, "pkcs12", "-in", path, "-passin", "pass:wrong", "-noout"); err == nil {
				t.Error("openssl opened the .p12 with a wrong password")
			}
		})
	}
	other := mustGenerateKey(t, KeyECDSAP256)
	leaf := mustIssue(t, ca, LeafRequest{Names: []string{"a.test"}})
	if _, err := EncodePKCS12(other, leaf, nil, "x"); err == nil {
		t.Error("EncodePKCS12 with a foreign key succeeded")
	}
}
