package ech

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"
)

// StorageKey is where the key set lives in the certificate storage. The
// ".key" ending makes tlsgate's encrypting storage seal it when
// storage.encryption_key_file is set: it holds private keys.
const StorageKey = "ech/keys.key"

// lockName is the storage lock held while one node rotates.
const lockName = "ech_keys"

// Storage is what the key set needs of the certificate storage (a
// certmagic.Storage has these methods). Load must return an error matching
// fs.ErrNotExist for a missing key.
type Storage interface {
	Load(ctx context.Context, key string) ([]byte, error)
	Store(ctx context.Context, key string, value []byte) error
	Lock(ctx context.Context, name string) error
	Unlock(ctx context.Context, name string) error
}

// Key is one ECH key: an ECHConfig and its X25519 private key.
type Key struct {
	ConfigID uint8 `json:"config_id"`
	// Config is the marshalled ECHConfig (MarshalConfig).
	Config []byte `json:"config"`
	// PrivateKey is the raw X25519 private key, as HPKE's
	// DeserializePrivateKey (and crypto/tls) take it. Never logged.
	PrivateKey []byte    `json:"private_key"`
	Created    time.Time `json:"created"`
}

// Set is the keys in service, newest first: Keys[0] is the current key,
// the one published and sent as the retry config; the one after it is the
// previous key, still accepted for one more period.
type Set struct {
	PublicName string `json:"public_name"`
	Keys       []Key  `json:"keys"`
}

// NewKey makes an X25519 key and its ECHConfig for publicName, with a
// random config_id other than avoid's (so a client can tell the new config
// from the one it replaces). Randomness comes from r; nil means
// crypto/rand.Reader.
func NewKey(publicName string, now time.Time, avoid *Key, r io.Reader) (Key, error) {
	if r == nil {
		r = rand.Reader
	}
	priv, err := ecdh.X25519().GenerateKey(r)
	if err != nil {
		return Key{}, fmt.Errorf("ech: making an X25519 key: %w", err)
	}
	var id [1]byte
	for {
		if _, err := io.ReadFull(r, id[:]); err != nil {
			return Key{}, fmt.Errorf("ech: choosing a config_id: %w", err)
		}
		if avoid == nil || id[0] != avoid.ConfigID {
			break
		}
	}
	cfg, err := MarshalConfig(Config{
		ConfigID:     id[0],
		KEM:          KEMX25519,
		PublicKey:    priv.PublicKey().Bytes(),
		CipherSuites: cipherSuites[:],
		PublicName:   publicName,
	})
	if err != nil {
		return Key{}, err
	}
	return Key{ConfigID: id[0], Config: cfg, PrivateKey: priv.Bytes(), Created: now.UTC()}, nil
}

// ConfigList is the ECHConfigList clients should use: the current key's
// config only (the previous one is accepted but no longer handed out).
func (s *Set) ConfigList() ([]byte, error) {
	if len(s.Keys) == 0 {
		return nil, errors.New("ech: no keys")
	}
	return MarshalConfigList(s.Keys[0].Config)
}

// TLSKeys are the keys for crypto/tls: all of them accepted, the current
// one also sent as the retry config to clients whose config is unknown.
func (s *Set) TLSKeys() []tls.EncryptedClientHelloKey {
	out := make([]tls.EncryptedClientHelloKey, len(s.Keys))
	for i, k := range s.Keys {
		out[i] = tls.EncryptedClientHelloKey{Config: k.Config, PrivateKey: k.PrivateKey, SendAsRetry: i == 0}
	}
	return out
}

// due reports whether s needs a new key: it has none, it was made for
// another public name, or its current key is rotate old.
func (s *Set) due(publicName string, rotate time.Duration, now time.Time) bool {
	return s == nil || len(s.Keys) == 0 || s.PublicName != publicName || !now.Before(s.Keys[0].Created.Add(rotate))
}

// rotated returns the set with k current and s's current key as the
// previous one; older keys are dropped. A set for another public name is
// replaced whole except for its current key, which clients may still hold.
func (s *Set) rotated(publicName string, k Key) *Set {
	next := &Set{PublicName: publicName, Keys: []Key{k}}
	if s != nil && len(s.Keys) > 0 {
		next.Keys = append(next.Keys, s.Keys[0])
	}
	return next
}

// check refuses a stored set crypto/tls could not use.
func (s *Set) check() error {
	if len(s.Keys) == 0 {
		return errors.New("no keys")
	}
	for i, k := range s.Keys {
		c, err := ParseConfig(k.Config)
		if err != nil {
			return fmt.Errorf("key %d: %w", i, err)
		}
		if c.KEM != KEMX25519 || len(k.PrivateKey) != 32 {
			return fmt.Errorf("key %d: not an X25519 key", i)
		}
	}
	return nil
}

// Load reads the key set from storage. No set yet is an error matching
// fs.ErrNotExist.
func Load(ctx context.Context, st Storage) (*Set, error) {
	raw, err := st.Load(ctx, StorageKey)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("ech: no keys in storage yet (tlsgate run makes them at start): %w", fs.ErrNotExist)
		}
		return nil, fmt.Errorf("ech: reading %s: %w", StorageKey, err)
	}
	var s Set
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("ech: %s is not a key set: %w", StorageKey, err)
	}
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("ech: %s: %w", StorageKey, err)
	}
	return &s, nil
}

func store(ctx context.Context, st Storage, s *Set) error {
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := st.Store(ctx, StorageKey, raw); err != nil {
		return fmt.Errorf("ech: writing %s: %w", StorageKey, err)
	}
	return nil
}
