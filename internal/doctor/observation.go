package doctor

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/url"
	"time"
)

// Observation is everything Diagnose saw, gathered once; the checks only
// read it. Fields are nil or zero when the step that fills them did not run
// (a refused connection has no certificates).
type Observation struct {
	// Now is the clock the checks judge validity by.
	Now    time.Time
	Target Target
	// Front is the answer on an http:// URL; nil for https:// URLs.
	Front *Front
	// DialErr is the TCP connect error; nil when the port accepted.
	DialErr error
	// TLS is the handshake with verification off; nil when none was tried.
	TLS *Handshake
	// PlainHTTP is what a plain HTTP request got on the TLS port, asked
	// when the TLS handshake failed because the answer was not TLS.
	PlainHTTP *HTTPResult
	// Versions lists which protocol versions the server accepted.
	Versions []VersionProbe
	// HTTP is the request made over the TLS connection (and HTTPErr why it
	// failed): it shows ALPN in use, HSTS, and whether a client
	// certificate was refused after a TLS 1.3 handshake.
	HTTP    *HTTPResult
	HTTPErr error
	// Trust is the chain analysis; nil without certificates.
	Trust *TrustResult
	// OCSP is the revocation status, stapled or asked; nil when neither.
	OCSP *OCSPResult
	// Stores says whether the client-side trust stores hold the root.
	Stores []StoreResult
	// opts are the caller's options, for names in messages.
	opts *Options
}

// Target is where Diagnose connects.
type Target struct {
	URL *url.URL
	// Host is the URL's host (no brackets), Port its port or the scheme's.
	Host, Port string
	// Address is Host:Port.
	Address string
	// ServerName is the SNI name sent ("" for an IP address: clients send
	// none); VerifyName the name the certificate must cover.
	ServerName, VerifyName string
}

// Front is what an http:// URL answered.
type Front struct {
	URL  string
	HTTP *HTTPResult
	Err  error
	// SpeaksTLS is set when the port completed a TLS handshake: the URL
	// should have been https://.
	SpeaksTLS bool
	// RedirectTo is the https:// URL the answer redirects to, if any.
	RedirectTo string
}

// Handshake is one TLS handshake with verification off.
type Handshake struct {
	// Err is the handshake error; the fields below may still be set from
	// the part of the handshake that went through.
	Err error
	// State is the connection state (partial when Err is set: certificates
	// and version, as seen when the server's certificate arrived).
	State *tls.ConnectionState
	// Certs is what the server sent, leaf first.
	Certs []*x509.Certificate
	// CertRequested: the server asked for a client certificate, with these
	// acceptable CA names (RFC 4514).
	CertRequested bool
	AcceptableCAs []string
	// CertSent: we presented Options.ClientCert.
	CertSent bool
	// NotTLS holds the first bytes of an answer that was not TLS.
	NotTLS string
}

// VersionProbe says whether the server completed a handshake at exactly
// one protocol version.
type VersionProbe struct {
	Version  uint16
	Accepted bool
	Err      error
}

// HTTPResult is the start of an HTTP answer.
type HTTPResult struct {
	Proto  string
	Status string
	Code   int
	Header http.Header
	// Body is the start of the body (at most a few hundred bytes).
	Body string
}
