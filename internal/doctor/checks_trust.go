package doctor

import (
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ocsp"
)

// chainFact lists what the server sent, leaf first.
func chainFact(certs []*x509.Certificate) Fact {
	var parts []string
	for _, c := range certs {
		parts = append(parts, certDesc(c)+" (issuer "+fmt.Sprintf("%q", issuerName(c))+")")
	}
	return Fact{"chain sent by the server", strings.Join(parts, " -> ")}
}

func issuerName(c *x509.Certificate) string {
	if c.Issuer.CommonName != "" {
		return c.Issuer.CommonName
	}
	return c.Issuer.String()
}

// caTrustFix is how to trust the local CA, with the data dir when needed.
func (o *Observation) caTrustFix(rootPath string) string {
	return fmt.Sprintf("Run `tlsgate ca trust%s` (system store and browsers), or pass the root per client: --cacert %s "+
		"(curl --cacert %s; Python: eval \"$(tlsgate ca env%s)\").", o.opts.DataDirArg, rootPath, rootPath, o.opts.DataDirArg)
}

// checkTrust explains whether and why the chain is (not) trusted.
func checkTrust(o *Observation) []Finding {
	h := o.leaf()
	if h == nil || o.Trust == nil {
		return nil
	}
	t, certs, leaf := o.Trust, h.Certs, h.Certs[0]
	roots := Fact{"trusted roots used", t.Roots}
	if t.Verified {
		out := []Finding{{Code: "trusted", Severity: Info,
			Summary: fmt.Sprintf("The chain leads to %s, trusted by %s.", certDesc(t.Anchor), t.Roots)}}
		if t.SelfSigned {
			out = append(out, Finding{Code: "self_signed", Severity: Warning,
				Summary: "The certificate is self-signed: it is trusted here only because it was given as a root; every other client refuses it.",
				Facts:   []Fact{{"certificate", leaf.Subject.String()}, roots},
				Fix:     "Use a CA-issued certificate: for development, tlsgate's local CA (`tls: local`, then `tlsgate ca trust`)."})
		}
		return out
	}
	var ua x509.UnknownAuthorityError
	if t.Err != nil && !errors.As(t.Err, &ua) && !t.SelfSigned && len(t.Missing) == 0 && !t.LocalCA {
		return []Finding{chainInvalid(t.Err, certs, roots)}
	}
	if t.SelfSigned {
		return []Finding{o.selfSignedFinding(leaf, roots)}
	}
	var out []Finding
	if len(t.Missing) > 0 {
		out = append(out, o.incompleteChain(t, certs))
	}
	switch {
	case t.WouldVerify:
	case t.LocalCA:
		out = append(out, Finding{Code: "local_ca_untrusted", Severity: Error,
			Summary: fmt.Sprintf("The certificate is issued by tlsgate's local CA %s, which this client does not trust: clients say 'unable to get local issuer certificate' or ERR_CERT_AUTHORITY_INVALID.", certDesc(t.Anchor)),
			Facts:   []Fact{chainFact(certs), {"local CA root", t.RootPath}, roots},
			Fix:     o.caTrustFix(t.RootPath)})
	default:
		out = append(out, o.unknownAuthority(t, certs, roots))
	}
	return out
}

func chainInvalid(err error, certs []*x509.Certificate, roots Fact) Finding {
	fix := "Reissue the certificate as a TLS server certificate from a CA the clients trust."
	var ci x509.CertificateInvalidError
	var ia x509.InsecureAlgorithmError
	switch {
	case errors.As(err, &ci) && ci.Reason == x509.IncompatibleUsage:
		fix = "The certificate is not for TLS servers (its extended key usage lacks serverAuth): reissue it as a server certificate (tlsgate ca issue without --client)."
	case errors.As(err, &ci) && ci.Reason == x509.NotAuthorizedToSign:
		fix = "A certificate in the chain is not a CA yet signs another: send the right intermediate, or reissue from a real CA certificate."
	case errors.As(err, &ia):
		fix = "Reissue the certificate with a SHA-256 (or better) signature."
	}
	return Finding{Code: "chain_invalid", Severity: Error,
		Summary: "The chain does not verify: " + err.Error() + ".",
		Facts:   []Fact{chainFact(certs), roots},
		Fix:     fix}
}

func (o *Observation) selfSignedFinding(leaf *x509.Certificate, roots Fact) Finding {
	save := fmt.Sprintf("openssl s_client -connect %s -servername %s </dev/null | openssl x509 > server.pem", o.Target.Address, o.Target.VerifyName)
	fix := "For development, use a certificate from tlsgate's local CA (`tlsgate ca issue NAME ...`, then `tlsgate ca trust`); " +
		"or trust this very certificate: save it (`" + save + "`) and pass --cacert server.pem."
	if strings.Contains(strings.Join(leaf.Subject.Organization, ","), "tlsgate self-signed") {
		fix = "This is tlsgate's `tls: adhoc` certificate, made anew at every start. Use `tls: local` for the site instead, then run `tlsgate ca trust`" + o.opts.DataDirArg + "."
	}
	return Finding{Code: "self_signed", Severity: Error,
		Summary: "The certificate is self-signed: no CA vouches for it, so clients refuse it ('self-signed certificate', ERR_CERT_AUTHORITY_INVALID).",
		Facts:   []Fact{{"certificate", leaf.Subject.String()}, {"names", orNone(names(leaf))}, {"issuer", leaf.Issuer.String() + " (itself)"}, roots},
		Fix:     fix}
}

func (o *Observation) incompleteChain(t *TrustResult, certs []*x509.Certificate) Finding {
	var missing []string
	for _, c := range t.Missing {
		missing = append(missing, certDesc(c))
	}
	fix := "Serve the full chain: the certificate file must hold the server's certificate followed by the intermediate(s), e.g. " +
		"`cat server.crt intermediate.crt > fullchain.pem` (nginx: ssl_certificate fullchain.pem; tlsgate: cert_file: fullchain.pem)."
	if t.LocalCA {
		fix += fmt.Sprintf(" The local CA's intermediate is %s.", filepath.Join(filepath.Dir(t.RootPath), "intermediate.crt"))
	}
	return Finding{Code: "incomplete_chain", Severity: Error,
		Summary: fmt.Sprintf("The server does not send the intermediate certificate %s that links its certificate to the root: browsers may cope, curl, Python and Go fail with 'unable to get local issuer certificate'.", strings.Join(missing, ", ")),
		Facts:   []Fact{chainFact(certs), {"missing intermediate", strings.Join(missing, ", ")}, {"found it in", t.MissingFrom}},
		Fix:     fix}
}

func (o *Observation) unknownAuthority(t *TrustResult, certs []*x509.Certificate, roots Fact) Finding {
	top := certs[len(certs)-1]
	facts := []Fact{chainFact(certs), {"issuer", top.Issuer.String()}, roots}
	summary := fmt.Sprintf("The certificate is issued by %q, which is not among the trusted roots (%s): clients say 'unable to get local issuer certificate' or ERR_CERT_AUTHORITY_INVALID.", issuerName(top), t.Roots)
	if t.Anchor != nil {
		summary = fmt.Sprintf("The chain ends at the root %s, which is not among the trusted roots (%s): clients say 'self-signed certificate in certificate chain' or ERR_CERT_AUTHORITY_INVALID.", certDesc(t.Anchor), t.Roots)
	}
	fix := "If you run this CA, pass its root with --cacert root.pem, and install it for all clients " +
		"(Debian: `sudo cp root.pem /usr/local/share/ca-certificates/my-ca.crt && sudo update-ca-certificates`)."
	if len(certs) == 1 && t.Anchor == nil {
		facts = append(facts, Fact{"note", "the server sent only its own certificate; if " + fmt.Sprintf("%q", issuerName(top)) + " is an intermediate CA, the chain is incomplete"})
		fix += " If it is an intermediate of a public CA, the server must send it too: serve leaf + intermediate (fullchain.pem)."
	}
	return Finding{Code: "unknown_authority", Severity: Error, Summary: summary, Facts: facts, Fix: fix}
}

// checkOCSP reports revocation and missing must-staple responses.
func checkOCSP(o *Observation) []Finding {
	r := o.OCSP
	if r == nil {
		return nil
	}
	var out []Finding
	if r.MustStaple && !r.Stapled {
		out = append(out, Finding{Code: "must_staple_missing", Severity: Error,
			Summary: "The certificate demands OCSP stapling (must-staple), but the server sent no OCSP response: Firefox refuses the connection (MOZILLA_PKIX_ERROR_REQUIRED_TLS_FEATURE_MISSING).",
			Fix:     "Turn on OCSP stapling on the server (nginx: `ssl_stapling on;`; tlsgate staples by default), or get a certificate without must-staple."})
	}
	switch {
	case r.Err != nil:
		sev := Info
		if r.Stapled {
			sev = Warning
		}
		out = append(out, Finding{Code: "ocsp_unreadable", Severity: sev,
			Summary: "The OCSP response (" + r.Source + ") could not be used.",
			Facts:   []Fact{{"error", r.Err.Error()}}})
	case r.Response == nil:
	case r.Response.Status == ocsp.Revoked:
		out = append(out, Finding{Code: "revoked", Severity: Error,
			Summary: fmt.Sprintf("The certificate is revoked: its CA withdrew it on %s.", fmtTime(r.Response.RevokedAt)),
			Facts:   []Fact{{"source", r.Source}, {"revocation reason", fmt.Sprint(r.Response.RevocationReason)}},
			Fix:     o.renewFix("Get a new certificate")})
	case r.Response.Status == ocsp.Good:
		out = append(out, Finding{Code: "ocsp_good", Severity: Info,
			Summary: fmt.Sprintf("OCSP (%s) says the certificate is good, as of %s.", r.Source, fmtTime(r.Response.ThisUpdate))})
	}
	return out
}
