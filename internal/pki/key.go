package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"go.step.sm/crypto/pemutil"
)

// KeyType names a kind of private key as users write it on the command line.
type KeyType string

// The key types tlsgate generates. DefaultKeyType is what an empty string means.
const (
	KeyECDSAP256 KeyType = "ecdsa-p256"
	KeyECDSAP384 KeyType = "ecdsa-p384"
	KeyRSA2048   KeyType = "rsa-2048"
	KeyRSA3072   KeyType = "rsa-3072"
	KeyRSA4096   KeyType = "rsa-4096"
	KeyEd25519   KeyType = "ed25519"

	DefaultKeyType = KeyECDSAP256
)

// KeyTypes returns every key type GenerateKey accepts, default first.
func KeyTypes() []KeyType {
	return []KeyType{KeyECDSAP256, KeyECDSAP384, KeyRSA2048, KeyRSA3072, KeyRSA4096, KeyEd25519}
}

// ParseKeyType reads a key type name (case-insensitive); "" is DefaultKeyType.
func ParseKeyType(s string) (KeyType, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return DefaultKeyType, nil
	}
	for _, t := range KeyTypes() {
		if string(t) == s {
			return t, nil
		}
	}
	names := make([]string, 0, 6)
	for _, t := range KeyTypes() {
		names = append(names, string(t))
	}
	return "", fmt.Errorf("unknown key type %q; use one of %s", s, strings.Join(names, ", "))
}

// GenerateKey makes a new private key of type t ("" means DefaultKeyType).
func GenerateKey(t KeyType) (crypto.Signer, error) {
	switch t {
	case KeyECDSAP256, "":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case KeyRSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case KeyRSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case KeyRSA4096:
		return rsa.GenerateKey(rand.Reader, 4096)
	case KeyEd25519:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	_, err := ParseKeyType(string(t))
	return nil, err
}

// Errors of ParsePrivateKeyPEM that callers branch on (prompt again, say
// which flag to add). Match them with errors.Is.
var (
	ErrPassphraseRequired = errors.New("private key is encrypted and no passphrase was given")
	ErrWrongPassphrase    = errors.New("wrong passphrase for the encrypted private key")
)

// MarshalPrivateKeyPEM encodes key as PKCS#8 PEM ("PRIVATE KEY"). With a
// non-empty passphrase it is encrypted PKCS#8 ("ENCRYPTED PRIVATE KEY"):
// PBES2 with PBKDF2-HMAC-SHA256 (pemutil.PBKDF2Iterations = 600k rounds, the
// OWASP figure) and AES-256-CBC, which `openssl pkey -passin` opens.
func MarshalPrivateKeyPEM(key crypto.Signer, passphrase []byte) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	if len(passphrase) == 0 {
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
	}
	block, err := pemutil.EncryptPKCS8PrivateKey(rand.Reader, der, passphrase, x509.PEMCipherAES256)
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("encrypt private key: %w", err)
	}
	return pem.EncodeToMemory(block), nil
}

// ParsePrivateKeyPEM reads the first private key in data: PKCS#8, PKCS#1 RSA,
// SEC1 EC, encrypted PKCS#8 (PBES2/PBKDF2) and legacy OpenSSL encryption
// ("Proc-Type: 4,ENCRYPTED" with DEK-Info). Other PEM blocks (certificates,
// "EC PARAMETERS") are skipped, so a combined cert+key file works. The
// passphrase is ignored for a key that is not encrypted.
//
// It returns ErrPassphraseRequired for an encrypted key and an empty
// passphrase, and ErrWrongPassphrase when the passphrase does not decrypt it.
func ParsePrivateKeyPEM(data, passphrase []byte) (crypto.Signer, error) {
	block, err := findKeyBlock(data)
	if err != nil {
		return nil, err
	}
	der := block.Bytes
	if isEncryptedBlock(block) {
		if len(passphrase) == 0 {
			return nil, ErrPassphraseRequired
		}
		if der, err = decryptKeyBlock(block, passphrase); err != nil {
			return nil, err
		}
		defer clear(der)
	}
	key, err := parseKeyDER(block.Type, der)
	if err != nil {
		if isEncryptedBlock(block) {
			// The padding check passed by chance: a wrong passphrase yields
			// random bytes, which are no key.
			return nil, ErrWrongPassphrase
		}
		return nil, fmt.Errorf("parse %s: %w", strings.ToLower(block.Type), err)
	}
	return key, nil
}

// IsEncryptedKeyPEM reports whether the first private key in data is encrypted.
func IsEncryptedKeyPEM(data []byte) bool {
	block, err := findKeyBlock(data)
	return err == nil && isEncryptedBlock(block)
}

// findKeyBlock returns the first PEM block that holds a private key.
func findKeyBlock(data []byte) (*pem.Block, error) {
	blocks := pemBlocks(data)
	for _, block := range blocks {
		if isKeyBlock(block) {
			return block, nil
		}
	}
	if len(blocks) == 0 {
		return nil, errors.New("no PEM data found (expected -----BEGIN PRIVATE KEY-----)")
	}
	return nil, errors.New("no private key in the PEM data")
}

func isEncryptedBlock(b *pem.Block) bool {
	return b.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED")
}

// decryptKeyBlock decrypts an encrypted key block. It works on a copy, so the
// caller's block stays intact for another try with a different passphrase.
func decryptKeyBlock(block *pem.Block, passphrase []byte) ([]byte, error) {
	cp := *block
	cp.Bytes = bytes.Clone(block.Bytes)
	if cp.Type == "ENCRYPTED PRIVATE KEY" {
		if err := checkPBES2(cp.Bytes); err != nil {
			return nil, err
		}
	}
	der, err := pemutil.DecryptPEMBlock(&cp, passphrase)
	switch {
	case errors.Is(err, x509.IncorrectPasswordError):
		return nil, ErrWrongPassphrase
	case err != nil:
		return nil, fmt.Errorf("decrypt private key: %w", err)
	}
	return der, nil
}

var (
	oidPBES2  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidScrypt = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11591, 4, 11}
)

// encryptedKeyInfo is an EncryptedPrivateKeyInfo (RFC 5958); pbes2Params
// the PBES2 parameters (RFC 8018). Enough to name the scheme without the
// passphrase.
type encryptedKeyInfo struct {
	Algo pkix.AlgorithmIdentifier
	Data []byte
}

type pbes2Params struct {
	KDF pkix.AlgorithmIdentifier
	Enc pkix.AlgorithmIdentifier
}

// checkPBES2 refuses encrypted PKCS#8 schemes pemutil cannot decrypt (PBES1,
// scrypt) with an error that says how to convert the file, instead of a
// misleading "wrong passphrase".
func checkPBES2(der []byte) error {
	var info encryptedKeyInfo
	if _, err := asn1.Unmarshal(der, &info); err != nil {
		return fmt.Errorf("parse encrypted private key: %w", err)
	}
	const fix = "; convert it with: openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256 -in OLD -out NEW"
	if !info.Algo.Algorithm.Equal(oidPBES2) {
		return fmt.Errorf("encrypted private key uses unsupported scheme %v (only PBES2 is supported)%s", info.Algo.Algorithm, fix)
	}
	var params pbes2Params
	if _, err := asn1.Unmarshal(info.Algo.Parameters.FullBytes, &params); err != nil {
		return fmt.Errorf("parse PBES2 parameters: %w", err)
	}
	switch kdf := params.KDF.Algorithm; {
	case kdf.Equal(oidScrypt):
		return errors.New("encrypted private key uses scrypt, which is not supported" + fix)
	case !kdf.Equal(oidPBKDF2):
		return fmt.Errorf("encrypted private key uses unsupported key derivation %v%s", kdf, fix)
	}
	return nil
}

// parseKeyDER parses a decrypted key. The PEM type decides the first try, but
// every format is attempted because mislabelled files are common.
func parseKeyDER(pemType string, der []byte) (crypto.Signer, error) {
	parsers := []func([]byte) (any, error){
		x509.ParsePKCS8PrivateKey,
		func(b []byte) (any, error) { return x509.ParsePKCS1PrivateKey(b) },
		func(b []byte) (any, error) { return x509.ParseECPrivateKey(b) },
	}
	switch pemType {
	case "RSA PRIVATE KEY":
		parsers[0], parsers[1] = parsers[1], parsers[0]
	case "EC PRIVATE KEY":
		parsers[0], parsers[2] = parsers[2], parsers[0]
	}
	var firstErr error
	for _, parse := range parsers {
		key, err := parse(der)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported private key type %T (not a signing key)", key)
		}
		return signer, nil
	}
	return nil, firstErr
}
