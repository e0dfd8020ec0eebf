// Package doctor explains TLS failures in plain words. It backs
// `tlsgate doctor URL`.
//
// Start with Diagnose: it connects once the way a browser or curl would
// (plus a few extra handshakes to learn which protocol versions the server
// speaks), gathers everything it saw into one Observation, and then runs a
// list of small checks over it. Each check turns facts into Findings: a
// severity, a stable code, the facts seen (names, dates, issuer, the local
// clock) and one concrete fix. The Report holds the findings in order.
//
// The package is a library: no flags, no printing, no package-level state.
// Time (Options.Now), trust roots (Options.Roots), tlsgate's local CA
// (Options.LocalCADir) and the client-side trust stores (Options.Stores)
// come from Options so tests can pin them.
package doctor
