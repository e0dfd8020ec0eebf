package pki

import (
	"bytes"
	"encoding/pem"
	"strings"
	"testing"
)

func TestParseBundle(t *testing.T) {
	ca, _ := mustLocalCA(t)
	key := mustGenerateKey(t, KeyECDSAP256)
	keyPEM := mustMarshal(t, key)
	_, csrPEM, err := CreateCSR(key, CSRRequest{Names: []string{"app.test"}})
	if err != nil {
		t.Fatal(err)
	}
	oldCSR := bytes.Replace(csrPEM, []byte("CERTIFICATE REQUEST"), []byte("NEW CERTIFICATE REQUEST"), 2)
	csrDER, _ := pem.Decode(csrPEM)
	badCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")})
	tests := []struct {
		name              string
		data              []byte
		certs, csrs, keys int
		err               string
	}{
		{"chain, key and csr", concat(ca.ChainPEM(ca.Root), keyPEM, csrPEM), 2, 1, 1, ""},
		{"old csr type", oldCSR, 0, 1, 0, ""},
		{"other blocks skipped", concat([]byte("text\n"), pem.EncodeToMemory(&pem.Block{Type: "DH PARAMETERS", Bytes: []byte{1}})), 0, 0, 0, ""},
		{"der certificate", ca.Root.Raw, 1, 0, 0, ""},
		{"der csr", csrDER.Bytes, 0, 1, 0, ""},
		{"bad certificate block", concat(ca.ChainPEM(ca.Root), badCert), 0, 0, 0, "certificate 3:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := ParseBundle(tt.data)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v; want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(b.Certificates) != tt.certs || len(b.CSRs) != tt.csrs || len(b.Keys) != tt.keys {
				t.Errorf("got %d certs, %d csrs, %d keys; want %d, %d, %d",
					len(b.Certificates), len(b.CSRs), len(b.Keys), tt.certs, tt.csrs, tt.keys)
			}
		})
	}
}

func TestLenientCertificatesPEM(t *testing.T) {
	ca, _ := mustLocalCA(t)
	bad := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")})
	got := LenientCertificatesPEM(concat(bad, ca.ChainPEM(ca.Root), mustMarshal(t, mustGenerateKey(t, KeyECDSAP256))))
	if len(got) != 2 || !got[0].Equal(ca.Root) || !got[1].Equal(ca.Cert) {
		t.Fatalf("got %d certificates; want the chain's 2, the bad block and the key skipped", len(got))
	}
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
