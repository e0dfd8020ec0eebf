package storage

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/caddyserver/certmagic"
	"golang.org/x/crypto/chacha20poly1305"
)

var _ certmagic.Storage = (*Encrypted)(nil)

// Sealed values start with sealMagic and a version byte, then the ID of the
// key that sealed them, the nonce, and the XChaCha20-Poly1305 ciphertext:
//
//	"tlsgate-sealed\x00" | version (1) | key ID (8) | nonce (24) | ciphertext
//
// The storage key is the additional data, so a sealed value moved to
// another key does not open.
const (
	sealMagic   = "tlsgate-sealed\x00"
	sealVersion = 1
	keyIDLen    = 8
	headerLen   = len(sealMagic) + 1 + keyIDLen + chacha20poly1305.NonceSizeX
)

// KeySize is the length of a storage encryption key.
const KeySize = chacha20poly1305.KeySize

// ErrSealed is returned when a sealed value cannot be opened: no key is
// configured, or not the one it was sealed with.
var ErrSealed = errors.New("encrypted at rest; set storage.encryption_key_file to the key it was written with")

// Encrypted wraps a certmagic.Storage and seals the values that hold
// private keys before they reach it: keys ending in ".key" (certificate
// keys, ACME account keys) and any value holding a PEM "PRIVATE KEY". Other
// values (certificates, metadata, challenge tokens) pass through, so they
// stay readable to operators.
//
// Reading goes the other way: sealed values are opened, plain values are
// returned as they are (data written before encryption was turned on). With
// no key, nothing is sealed and reading a sealed value fails with ErrSealed
// instead of handing ciphertext to CertMagic.
//
// Locks, lists and stats go straight to the wrapped storage. Encrypted is
// safe for concurrent use if the wrapped storage is.
type Encrypted struct {
	certmagic.Storage
	// RequireSealed makes Load refuse a private key stored unsealed (see
	// needsSealing) with an *UnsealedError, instead of returning it.
	RequireSealed bool
	aead          cipher.AEAD // nil without a key
	keyID         []byte
	rand          io.Reader
}

// NewEncrypted wraps s. key is KeySize bytes, or nil to only recognise
// sealed values (and refuse them) without sealing anything.
func NewEncrypted(s certmagic.Storage, key []byte) (*Encrypted, error) {
	e := &Encrypted{Storage: s, rand: rand.Reader}
	if key == nil {
		return e, nil
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("storage encryption key: %w", err)
	}
	e.aead, e.keyID = aead, KeyID(key)
	return e, nil
}

// KeyID is a short fingerprint of a key, stored with each sealed value so
// that a wrong key is told apart from a damaged value.
func KeyID(key []byte) []byte {
	sum := sha256.Sum256(append([]byte("tlsgate storage key id\x00"), key...))
	return sum[:keyIDLen]
}

// String describes the storage in logs.
func (e *Encrypted) String() string {
	state := "no key"
	if e.aead != nil {
		state = fmt.Sprintf("key %x", e.keyID)
	}
	return fmt.Sprintf("encrypted(%v, %s)", e.Storage, state)
}

// Unwrap returns the wrapped storage.
func (e *Encrypted) Unwrap() certmagic.Storage { return e.Storage }

// needsSealing tells the values that hold private keys.
func needsSealing(key string, value []byte) bool {
	return strings.HasSuffix(key, ".key") || bytes.Contains(value, []byte("PRIVATE KEY-----"))
}

// IsSealed reports whether value was written by an Encrypted with a key.
func IsSealed(value []byte) bool { return bytes.HasPrefix(value, []byte(sealMagic)) }

// Store seals value when it holds a private key and a key is set.
func (e *Encrypted) Store(ctx context.Context, key string, value []byte) error {
	if e.aead != nil && needsSealing(key, value) && !IsSealed(value) {
		sealed, err := e.seal(key, value)
		if err != nil {
			return err
		}
		value = sealed
	}
	return e.Storage.Store(ctx, key, value)
}

// Load opens sealed values and returns plain ones as they are.
func (e *Encrypted) Load(ctx context.Context, key string) ([]byte, error) {
	value, err := e.Storage.Load(ctx, key)
	if err != nil {
		return value, err
	}
	if !IsSealed(value) {
		if e.RequireSealed && needsSealing(key, value) {
			return nil, &UnsealedError{Key: key}
		}
		return value, nil
	}
	return e.open(key, value)
}

// UnsealedError is a private key found unencrypted while
// storage.require_sealed is on.
type UnsealedError struct{ Key string }

func (e *UnsealedError) Error() string {
	return e.Key + ": private key stored unencrypted, and storage.require_sealed is on; seal it with tlsgate storage migrate --from PLAIN.yaml --to THIS.yaml (docs/FLEET.md), or set storage.require_sealed: false"
}

func (e *Encrypted) seal(key string, plain []byte) ([]byte, error) {
	header := make([]byte, headerLen)
	n := copy(header, sealMagic)
	header[n] = sealVersion
	n++
	n += copy(header[n:], e.keyID)
	if _, err := io.ReadFull(e.rand, header[n:]); err != nil {
		return nil, fmt.Errorf("seal %s: nonce: %w", key, err)
	}
	return e.aead.Seal(header, header[n:], plain, additionalData(header, key)), nil
}

func (e *Encrypted) open(key string, sealed []byte) ([]byte, error) {
	if len(sealed) < headerLen {
		return nil, fmt.Errorf("%s: sealed value is truncated (%d bytes)", key, len(sealed))
	}
	header := sealed[:headerLen]
	if v := header[len(sealMagic)]; v != sealVersion {
		return nil, fmt.Errorf("%s: sealed with format version %d, which this tlsgate does not know; upgrade tlsgate", key, v)
	}
	id := header[len(sealMagic)+1 : len(sealMagic)+1+keyIDLen]
	if e.aead == nil {
		return nil, fmt.Errorf("%s is %w (key id %x)", key, ErrSealed, id)
	}
	if !bytes.Equal(id, e.keyID) {
		return nil, fmt.Errorf("%s is %w: it was sealed with key id %x, the configured key is %x", key, ErrSealed, id, e.keyID)
	}
	plain, err := e.aead.Open(nil, header[len(header)-chacha20poly1305.NonceSizeX:], sealed[headerLen:], additionalData(header, key))
	if err != nil {
		return nil, fmt.Errorf("%s: sealed value does not open with the configured key (damaged, or moved from another storage key): %w", key, err)
	}
	return plain, nil
}

// additionalData binds a sealed value to its header and its storage key.
func additionalData(header []byte, key string) []byte {
	return append(append([]byte(nil), header...), strings.Trim(key, "/")...)
}
