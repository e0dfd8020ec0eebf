// Package ech keeps tlsgate's Encrypted Client Hello keys: X25519 HPKE keys
// and their ECHConfigs, made at first start, rotated on a schedule and kept
// in the certificate storage, so that every node of a fleet sharing that
// storage decrypts with the same keys. crypto/tls does the ECH handshake
// itself; this package hands it the keys (Manager.Keys) and answers what to
// publish (Manager.ConfigList).
//
// Start at NewManager, then Start and Run.
package ech

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// Wire constants of draft-ietf-tls-esni (RFC 9849) and RFC 9180 (HPKE), as
// crypto/tls implements them.
const (
	// Version is the ECHConfig version, also the extension's code point.
	Version uint16 = 0xfe0d
	// KEMX25519 is DHKEM(X25519, HKDF-SHA256).
	KEMX25519 uint16 = 0x0020
	kdfSHA256 uint16 = 0x0001
	aesGCM128 uint16 = 0x0001
	chacha20  uint16 = 0x0003
	// maxNameLength is the ECHConfig's maximum_name_length: clients pad
	// the inner server name to this many bytes, so names of different
	// lengths look alike on the wire.
	maxNameLength = 64
)

// CipherSuite is an HPKE KDF and AEAD pair an ECHConfig offers.
type CipherSuite struct{ KDF, AEAD uint16 }

// cipherSuites are offered in this order: AES-128-GCM first (hardware
// support almost everywhere), ChaCha20-Poly1305 for clients without it.
var cipherSuites = [...]CipherSuite{{kdfSHA256, aesGCM128}, {kdfSHA256, chacha20}}

// Config is one parsed ECHConfig (only the fields tlsgate writes).
type Config struct {
	ConfigID     uint8
	KEM          uint16
	PublicKey    []byte
	CipherSuites []CipherSuite
	PublicName   string
}

// MarshalConfig encodes c as an ECHConfig (version 0xfe0d), with no
// extensions. Its bytes go both into the ECHConfigList clients get and,
// unchanged, into crypto/tls's EncryptedClientHelloKey.Config, which must
// match byte for byte.
func MarshalConfig(c Config) ([]byte, error) {
	if n := len(c.PublicName); n == 0 || n > 255 {
		return nil, fmt.Errorf("ech: public name %q must be 1 to 255 bytes", c.PublicName)
	}
	if len(c.PublicKey) == 0 || len(c.CipherSuites) == 0 {
		return nil, errors.New("ech: a config needs a public key and cipher suites")
	}
	var b cryptobyte.Builder
	b.AddUint16(Version)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint8(c.ConfigID)
		b.AddUint16(c.KEM)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(c.PublicKey) })
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, cs := range c.CipherSuites {
				b.AddUint16(cs.KDF)
				b.AddUint16(cs.AEAD)
			}
		})
		b.AddUint8(maxNameLength)
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(c.PublicName)) })
		b.AddUint16(0) // extensions: none
	})
	return b.Bytes()
}

// ParseConfig decodes one ECHConfig as MarshalConfig writes it.
func ParseConfig(raw []byte) (Config, error) {
	s := cryptobyte.String(raw)
	var (
		version  uint16
		contents cryptobyte.String
		c        Config
		pub      cryptobyte.String
		suites   cryptobyte.String
		maxName  uint8
		name     cryptobyte.String
		exts     cryptobyte.String
	)
	if !s.ReadUint16(&version) || !s.ReadUint16LengthPrefixed(&contents) || !s.Empty() {
		return Config{}, errors.New("ech: malformed ECHConfig")
	}
	if version != Version {
		return Config{}, fmt.Errorf("ech: ECHConfig version %#04x; want %#04x", version, Version)
	}
	if !contents.ReadUint8(&c.ConfigID) || !contents.ReadUint16(&c.KEM) ||
		!contents.ReadUint16LengthPrefixed(&pub) || !contents.ReadUint16LengthPrefixed(&suites) ||
		!contents.ReadUint8(&maxName) || !contents.ReadUint8LengthPrefixed(&name) ||
		!contents.ReadUint16LengthPrefixed(&exts) || !contents.Empty() {
		return Config{}, errors.New("ech: malformed ECHConfig contents")
	}
	for !suites.Empty() {
		var cs CipherSuite
		if !suites.ReadUint16(&cs.KDF) || !suites.ReadUint16(&cs.AEAD) {
			return Config{}, errors.New("ech: malformed ECHConfig cipher suites")
		}
		c.CipherSuites = append(c.CipherSuites, cs)
	}
	c.PublicKey, c.PublicName = []byte(pub), string(name)
	return c, nil
}

// MarshalConfigList joins ECHConfigs into an ECHConfigList, the value of
// an HTTPS record's ech= parameter (base64) and of crypto/tls's
// Config.EncryptedClientHelloConfigList. Clients use the first config in
// it they support.
func MarshalConfigList(configs ...[]byte) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, c := range configs {
			b.AddBytes(c)
		}
	})
	return b.Bytes()
}

// ParseConfigList splits an ECHConfigList into its ECHConfigs.
func ParseConfigList(list []byte) ([]Config, error) {
	s := cryptobyte.String(list)
	var body cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&body) || !s.Empty() || body.Empty() {
		return nil, errors.New("ech: malformed ECHConfigList")
	}
	var out []Config
	for !body.Empty() {
		var version uint16
		var contents cryptobyte.String
		start := []byte(body)
		if !body.ReadUint16(&version) || !body.ReadUint16LengthPrefixed(&contents) {
			return nil, errors.New("ech: malformed ECHConfigList")
		}
		c, err := ParseConfig(start[:4+len(contents)])
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}
