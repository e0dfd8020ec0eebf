package doctor

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"math"
	"net"
	"strings"
	"time"

	"github.com/tlsgate/tlsgate/internal/pki"
)

// expiryWarning is how close to its end a certificate draws a warning.
// Short-lived certificates (tlsgate's local leaves live 7 days) are renewed
// when a third of their life is left, so for them only the last third
// counts: see expiresSoon.
const expiryWarning = 14 * 24 * time.Hour

func expiresSoon(c *x509.Certificate, now time.Time) bool {
	left := c.NotAfter.Sub(now)
	return left < expiryWarning && left < c.NotAfter.Sub(c.NotBefore)/3
}

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

func days(d time.Duration) string {
	n := int(math.Round(math.Abs(d.Hours()) / 24))
	if n == 0 {
		h := int(math.Round(math.Abs(d.Hours())))
		if h == 1 {
			return "1 hour"
		}
		return fmt.Sprintf("%d hours", h)
	}
	if n == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}

// certDesc names a certificate in a sentence: its CN or subject.
func certDesc(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return fmt.Sprintf("%q", c.Subject.CommonName)
	}
	return fmt.Sprintf("%q", c.Subject.String())
}

// names lists a certificate's SANs.
func names(c *x509.Certificate) []string {
	return pki.DescribeCertificate(c, time.Time{}).SANs
}

// renewFix is the fix for a certificate that must be replaced.
func (o *Observation) renewFix(what string) string {
	if o.Trust != nil && o.Trust.LocalCA {
		return fmt.Sprintf("%s: for a tlsgate site, `tlsgate renew %s` (or restart it); for a file made with `tlsgate ca issue`, issue it again.", what, o.Target.VerifyName)
	}
	return what + ": renew it at its CA (certbot renew, `tlsgate renew NAME`, or a new `tlsgate ca issue`) and reload the server."
}

// checkValidity compares every certificate's dates with this machine's clock.
func checkValidity(o *Observation) []Finding {
	h := o.leaf()
	if h == nil {
		return nil
	}
	now := o.Now
	clock := Fact{"this machine's clock", fmtTime(now)}
	var out []Finding
	for i, c := range h.Certs {
		role := "The server's certificate"
		code := ""
		if i > 0 {
			role = fmt.Sprintf("The intermediate %s the server sends", certDesc(c))
			code = "intermediate_"
		}
		dates := []Fact{{"certificate", c.Subject.String()}, {"not before", fmtTime(c.NotBefore)}, {"not after", fmtTime(c.NotAfter)}, clock}
		switch {
		case now.After(c.NotAfter):
			out = append(out, Finding{Code: code + "expired", Severity: Error,
				Summary: fmt.Sprintf("%s expired %s ago, on %s: clients say 'certificate has expired'.", role, days(now.Sub(c.NotAfter)), fmtTime(c.NotAfter)),
				Facts:   dates,
				Fix:     o.renewFix("Replace it") + " If the dates look right but the clock does not, fix the clock (`timedatectl set-ntp true`)."})
		case now.Before(c.NotBefore):
			out = append(out, Finding{Code: code + "not_yet_valid", Severity: Error,
				Summary: fmt.Sprintf("%s is not valid yet: it starts on %s, %s from now by this machine's clock.", role, fmtTime(c.NotBefore), days(c.NotBefore.Sub(now))),
				Facts:   dates,
				Fix:     "If this machine's clock is wrong, fix it (`timedatectl set-ntp true`; compare `date -u`). Otherwise the certificate was made with a start in the future (the issuing machine's clock is ahead): " + lowerFirst(o.renewFix("issue it again"))})
		case i == 0 && expiresSoon(c, now):
			out = append(out, Finding{Code: "expires_soon", Severity: Warning,
				Summary: fmt.Sprintf("The server's certificate expires in %s, on %s.", days(c.NotAfter.Sub(now)), fmtTime(c.NotAfter)),
				Facts:   dates,
				Fix:     o.renewFix("Renew it now")})
		}
	}
	return out
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// checkName checks the certificate covers the name asked for.
func checkName(o *Observation) []Finding {
	h := o.leaf()
	if h == nil {
		return nil
	}
	leaf, name := h.Certs[0], o.Target.VerifyName
	if leaf.VerifyHostname(name) == nil {
		return []Finding{{Code: "name_ok", Severity: Info, Summary: fmt.Sprintf("The certificate covers %s.", name)}}
	}
	covered := names(leaf)
	facts := []Fact{{"name asked for", name}, {"names the certificate covers", orNone(covered)}}
	if len(leaf.DNSNames)+len(leaf.IPAddresses) == 0 && leaf.Subject.CommonName != "" {
		facts = append(facts, Fact{"common name", leaf.Subject.CommonName + " (ignored by clients since 2017: only subjectAltName counts)"})
	}
	kind := "name"
	if net.ParseIP(name) != nil {
		kind = "IP address"
	}
	return []Finding{{Code: "name_mismatch", Severity: Error,
		Summary: fmt.Sprintf("The certificate does not cover the %s %s: clients say 'no alternative certificate subject name matches' or ERR_CERT_COMMON_NAME_INVALID.", kind, name),
		Facts:   facts,
		Fix:     o.nameFix(leaf, name),
	}}
}

// nameFix suggests a covered name to use, or how to reissue with the
// missing one.
func (o *Observation) nameFix(leaf *x509.Certificate, name string) string {
	var use string
	ip := net.ParseIP(name)
	for _, n := range leaf.DNSNames {
		if strings.HasPrefix(n, "*.") {
			continue
		}
		if ip != nil && ip.IsLoopback() && n != "localhost" && !strings.HasSuffix(n, ".localhost") {
			continue
		}
		use = n
		break
	}
	if use == "" && len(leaf.IPAddresses) > 0 {
		use = leaf.IPAddresses[0].String()
	}
	var b strings.Builder
	if use != "" {
		host := use
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		fmt.Fprintf(&b, "Use a name it covers: https://%s:%s%s", host, o.Target.Port, pathOf(o))
		if ip == nil || !ip.IsLoopback() || use != "localhost" {
			fmt.Fprintf(&b, " (or --servername %s)", use)
		}
		b.WriteString("; or reissue")
	} else {
		b.WriteString("Reissue")
	}
	all := append(append([]string{}, names(leaf)...), name)
	if o.Trust != nil && o.Trust.LocalCA {
		fmt.Fprintf(&b, " the certificate with %s too: add it to the site's hosts in the tlsgate config, or `tlsgate ca issue %s --cert-out server.crt --key-out server.key`.", name, strings.Join(all, " "))
	} else {
		fmt.Fprintf(&b, " the certificate with %s as a subjectAltName: `tlsgate csr %s --key server.key --out server.csr` and have the CA sign it.", name, strings.Join(all, " "))
	}
	return b.String()
}

// checkChainOrder reports a chain sent out of order or with duplicates.
func checkChainOrder(o *Observation) []Finding {
	h := o.leaf()
	if h == nil || len(h.Certs) < 2 {
		return nil
	}
	var out []Finding
	for _, p := range pki.ChainProblems(h.Certs) {
		out = append(out, Finding{Code: "chain_order", Severity: Warning,
			Summary: "The chain the server sends is out of order: " + p + ".",
			Fix:     "Put the server's certificate first, then each issuer in turn, in the certificate file."})
	}
	return out
}

// checkKey reports weak keys and signatures.
func checkKey(o *Observation) []Finding {
	h := o.leaf()
	if h == nil {
		return nil
	}
	leaf := h.Certs[0]
	typ, bits := pki.DescribePublicKey(leaf.PublicKey)
	weak := false
	switch k := leaf.PublicKey.(type) {
	case *rsa.PublicKey:
		weak = k.N.BitLen() < 2048
	case *ecdsa.PublicKey:
		weak = k.Curve.Params().BitSize < 256
	}
	var out []Finding
	if weak {
		out = append(out, Finding{Code: "weak_key", Severity: Warning,
			Summary: fmt.Sprintf("The certificate's key is weak (%s, %d bits); CAs no longer sign such keys and some clients refuse them.", typ, bits),
			Fix:     "Make a new key and certificate: `tlsgate key --out server.key` (ECDSA P-256), then a CSR or `tlsgate ca issue`."})
	}
	for _, c := range h.Certs {
		switch c.SignatureAlgorithm {
		case x509.MD5WithRSA, x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1:
			if !isSelfSigned(c) {
				out = append(out, Finding{Code: "weak_signature", Severity: Error,
					Summary: fmt.Sprintf("%s is signed with %s, which clients refuse.", certDesc(c), c.SignatureAlgorithm),
					Fix:     "Reissue it with a SHA-256 signature."})
			}
		}
	}
	return out
}
