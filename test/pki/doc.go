// Package pki holds end-to-end tests of tlsgate's PKI commands (key, csr,
// ca issue|sign|trust|untrust|env, inspect) run as the built binary against
// independent peers: openssl, curl, certutil and Debian's python3 with
// requests. TestMain builds the binary (or uses $TLSGATE_BIN).
//
// Run them with `go test ./test/pki/`; -short skips the ones that start
// peers. The system trust store test runs only as root and removes what it
// added in t.Cleanup.
package pki
