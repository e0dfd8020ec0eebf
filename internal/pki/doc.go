// Package pki holds tlsgate's certificate plumbing: private keys (generate,
// encode as PKCS#8, encrypt and decrypt with a passphrase), certificate
// signing requests, a two-level certificate authority and inspection of
// certificates, chains, CSRs and keys.
//
// Start with [InitLocalCA] for the development CA kept on disk (root +
// intermediate, like mkcert but with an intermediate), [LoadCA] for a CA the
// user brings, and [CA.Issue] / [CA.SignCSR] to make leaves. Keys come from
// [GenerateKey], [MarshalPrivateKeyPEM] and [ParsePrivateKeyPEM]; the
// Describe* functions back `tlsgate inspect`.
//
// The package is a library: no flags, no package-level mutable state, no
// logging. Key material never appears in error messages.
package pki
