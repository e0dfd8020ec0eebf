// Package dns writes and checks the TXT records of ACME dns-01 challenges,
// and the HTTPS records of Encrypted Client Hello.
//
// It holds three record providers, each implementing libdns's
// RecordAppender and RecordDeleter (the interfaces CertMagic's DNS solver
// and most Go ACME tooling expect):
//
//   - [RFC2136]: dynamic updates signed with TSIG, for BIND, Knot,
//     PowerDNS and most self-hosted servers.
//   - [Exec]: runs a user program as `command present|cleanup FQDN VALUE`.
//   - [Webhook]: POSTs {"fqdn", "value"} to URL/present and URL/cleanup.
//
// [WaitVisible] polls resolvers until a record shows, and [FindZone],
// [Authoritative] and [FollowCNAME] answer the lookups around it.
//
// [RFC2136.ReplaceHTTPS] also writes the HTTPS records (type 65) that carry
// a site's Encrypted Client Hello config (ech.publish).
//
// The providers only touch TXT records otherwise. Records come in relative to the
// zone argument, as libdns defines; a zone equal to the record's own name
// ("@") is how callers that do not know the zone pass a whole FQDN to Exec
// and Webhook, which never need one.
//
// The package is a library: no flags, no global state, no logging, and no
// secret (TSIG secret, bearer token) in any error message.
package dns
