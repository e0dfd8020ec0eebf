package storage

import (
	"bytes"
	"testing"
)

// FuzzSealed: a value read back from shared storage (which anyone with
// etcd access can write) opens only if it is exactly what this key sealed
// under this storage key; any other bytes — truncated, another version,
// flipped bits, moved to another key — are an error, never a panic and
// never other plaintext.
func FuzzSealed(f *testing.F) {
	f.Add([]byte("-----BEGIN EC PRIVATE KEY-----\n"), []byte{}, "certificates/a/a.key", []byte("tlsgate-sealed\x00\x01"))
	f.Add([]byte(""), []byte{0, 0, 1}, "/x/", []byte{})
	f.Add([]byte("v"), []byte{0xff}, "", []byte("tlsgate-sealed\x00\x02aaaaaaaa"))
	key := bytes.Repeat([]byte{7}, KeySize)
	e, err := NewEncrypted(nil, key)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, plain, flip []byte, storeKey string, arbitrary []byte) {
		e.open(storeKey, arbitrary) // any stored bytes: an error or a value, no panic
		sealed, err := e.seal(storeKey, plain)
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.open(storeKey, sealed)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("open(seal(%q)) = %q, %v", plain, got, err)
		}
		if _, err := e.open(storeKey+"x", sealed); err == nil {
			t.Fatalf("a value sealed for %q opened under %q", storeKey, storeKey+"x")
		}
		tampered := bytes.Clone(sealed)
		for i, b := range flip {
			tampered[i%len(tampered)] ^= b
		}
		if got, err := e.open(storeKey, tampered); err == nil && !bytes.Equal(tampered, sealed) {
			t.Fatalf("tampered value opened to %q", got)
		}
		for _, cut := range []int{0, len(sealed) / 2, len(sealed) - 1} {
			if _, err := e.open(storeKey, sealed[:cut]); err == nil {
				t.Fatalf("value cut to %d of %d bytes opened", cut, len(sealed))
			}
		}
	})
}

// FuzzParseKey: a key file parses to exactly KeySize bytes or is refused;
// what EncodeKey writes parses back to the same key.
func FuzzParseKey(f *testing.F) {
	f.Add(EncodeKey(bytes.Repeat([]byte{1}, KeySize)))
	f.Add(bytes.Repeat([]byte{'A'}, KeySize))
	f.Add([]byte("  c2hvcnQ=\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := ParseKey(data)
		if err == nil && len(key) != KeySize {
			t.Fatalf("ParseKey(%q) = %d bytes", data, len(key))
		}
		if len(data) == KeySize {
			back, err := ParseKey(EncodeKey(data))
			if err != nil || !bytes.Equal(back, data) {
				t.Fatalf("ParseKey(EncodeKey(%x)) = %x, %v", data, back, err)
			}
		}
	})
}
