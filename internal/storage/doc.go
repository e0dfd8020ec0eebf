// Package storage holds the certmagic.Storage implementations tlsgate adds
// to CertMagic's file storage: Etcd, which lets a fleet of instances share
// certificates, ACME accounts, challenge answers and locks, and Encrypted,
// which seals private keys before they reach any backend.
//
// Start at Open, which builds the storage a config's storage block asks
// for; NewEtcd and NewEncrypted build the pieces one by one. Copy moves
// everything from one storage to another (tlsgate storage migrate).
//
// Package storagetest checks any certmagic.Storage against what CertMagic
// expects, the way testing/fstest checks an fs.FS.
package storage
