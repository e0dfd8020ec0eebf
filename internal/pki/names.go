package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// sans are subject alternative names sorted by kind.
type sans struct {
	DNS    []string
	IPs    []net.IP
	Emails []string
	URIs   []*url.URL
}

func (s sans) empty() bool {
	return len(s.DNS)+len(s.IPs)+len(s.Emails)+len(s.URIs) == 0
}

// strings lists the names in the form users typed them.
func (s sans) strings() []string {
	return sanStrings(s.DNS, s.IPs, s.Emails, s.URIs)
}

func sanStrings(dns []string, ips []net.IP, emails []string, uris []*url.URL) []string {
	out := make([]string, 0, len(dns)+len(ips)+len(emails)+len(uris))
	out = append(out, dns...)
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	out = append(out, emails...)
	for _, u := range uris {
		out = append(out, u.String())
	}
	return out
}

// ParseNames sorts names into subject alternative names: an IP address
// (v4 or v6, brackets allowed), a URI (has "://" or starts with "urn:"), an
// e-mail address (has "@"), else a DNS name (lower-cased, trailing dot
// dropped, internationalized names converted to their xn-- form, "*." only as
// the whole first label). It returns the normalized names in input order and
// refuses anything else, such as "localhost:8443" or names with spaces.
func ParseNames(names []string) ([]string, error) {
	s, err := parseNames(names)
	if err != nil {
		return nil, err
	}
	return s.strings(), nil
}

func parseNames(names []string) (sans, error) {
	var s sans
	var errs []error
	for _, raw := range names {
		if err := s.add(strings.TrimSpace(raw)); err != nil {
			errs = append(errs, err)
		}
	}
	return s, errors.Join(errs...)
}

func (s *sans) add(name string) error {
	if name == "" {
		return errors.New("empty name")
	}
	if ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")); err == nil {
		if ip.Zone() != "" {
			return fmt.Errorf("%q: an IP address with a zone cannot go in a certificate", name)
		}
		s.IPs = append(s.IPs, net.IP(ip.AsSlice()))
		return nil
	}
	lower := strings.ToLower(name)
	if strings.Contains(name, "://") || strings.HasPrefix(lower, "urn:") {
		u, err := url.Parse(name)
		if err != nil || u.Scheme == "" {
			return fmt.Errorf("%q is not a valid URI", name)
		}
		s.URIs = append(s.URIs, u)
		return nil
	}
	if strings.Contains(name, "@") {
		if err := checkEmail(name); err != nil {
			return err
		}
		s.Emails = append(s.Emails, name)
		return nil
	}
	dns, err := normalizeDNSName(name)
	if err != nil {
		return err
	}
	s.DNS = append(s.DNS, dns)
	return nil
}

func normalizeDNSName(name string) (string, error) {
	if _, _, err := net.SplitHostPort(name); err == nil {
		return "", fmt.Errorf("%q looks like host:port; give the name without the port", name)
	}
	n := strings.TrimSuffix(strings.ToLower(name), ".")
	wildcard := strings.HasPrefix(n, "*.")
	rest := strings.TrimPrefix(n, "*.")
	ascii, err := idna.ToASCII(rest)
	if err != nil {
		return "", fmt.Errorf("%q is not a valid DNS name: %w", name, err)
	}
	if ascii == "" || len(ascii) > 253 {
		return "", fmt.Errorf("%q is not a valid DNS name", name)
	}
	for _, label := range strings.Split(ascii, ".") {
		if !validLabel(label) {
			return "", fmt.Errorf("%q is not a valid DNS name (bad label %q)", name, label)
		}
	}
	if wildcard {
		// A wildcard over a public suffix (*.com, *.co.uk, *.github.io)
		// covers other people's domains; browsers refuse it, and so do we.
		// Single-label names not on the list (*.test, *.internal) are fine.
		if ps, icann := publicsuffix.PublicSuffix(ascii); ps == ascii && (icann || strings.Contains(ascii, ".")) {
			return "", fmt.Errorf("%q is a wildcard over the public suffix %q; name a domain under it (*.example.%s)", name, ascii, ascii)
		}
		return "*." + ascii, nil
	}
	return ascii, nil
}

// checkEmail accepts local@domain in printable ASCII without spaces: an
// rfc822Name SAN is an IA5String, and a tab or line break in one (found
// by FuzzParseNames) would reach the certificate and every log showing it.
func checkEmail(name string) error {
	local, domain, _ := strings.Cut(name, "@")
	if local == "" || domain == "" || strings.ContainsRune(domain, '@') || !printableASCII(name) {
		return fmt.Errorf("%q is not a valid e-mail address", name)
	}
	return nil
}

// printableASCII reports whether s holds only '!' through '~'.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// checkCSRNames validates the names a CSR carries as ParseNames validates
// typed ones, kind by kind, and returns them normalized.
func checkCSRNames(csr *x509.CertificateRequest) (sans, error) {
	s := sans{IPs: csr.IPAddresses, URIs: csr.URIs}
	var errs []error
	for _, d := range csr.DNSNames {
		if _, err := netip.ParseAddr(d); err == nil {
			errs = append(errs, fmt.Errorf("DNS name %q is an IP address; put it in an IP SAN", d))
			continue
		}
		n, err := normalizeDNSName(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.DNS = append(s.DNS, n)
	}
	for _, e := range csr.EmailAddresses {
		if err := checkEmail(e); err != nil {
			errs = append(errs, err)
			continue
		}
		s.Emails = append(s.Emails, e)
	}
	for _, ip := range csr.IPAddresses {
		if len(ip) != net.IPv4len && len(ip) != net.IPv6len {
			errs = append(errs, fmt.Errorf("IP SAN %x is not an IP address", []byte(ip)))
		}
	}
	for _, u := range csr.URIs {
		if u.Scheme == "" {
			errs = append(errs, fmt.Errorf("%q is not a valid URI", u.String()))
		}
	}
	return s, errors.Join(errs...)
}

// validLabel accepts letters, digits, '-' and '_' (seen in internal names),
// not starting or ending with '-'.
func validLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for _, c := range []byte(l) {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
		if !ok {
			return false
		}
	}
	return true
}

// NamesKey is one string for a set of host names, the same whatever their
// order: the key of per-site state (ad-hoc certificates, ticket keys).
func NamesKey(names []string) string {
	return strings.Join(slices.Sorted(slices.Values(names)), ",")
}
