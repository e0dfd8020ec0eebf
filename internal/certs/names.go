package certs

import (
	"crypto"
	"crypto/tls"
	"net"
)

// certNames lists the DNS names and IP addresses a certificate covers.
func certNames(c *tls.Certificate) []string {
	names := append([]string(nil), c.Leaf.DNSNames...)
	for _, ip := range c.Leaf.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}

// uncovered returns the hosts the certificate is not valid for.
func uncovered(c *tls.Certificate, hosts []string) []string {
	var missing []string
	for _, h := range hosts {
		name := h
		if ip := net.ParseIP(h); ip == nil && len(h) > 2 && h[:2] == "*." {
			// A wildcard host needs a wildcard certificate; check a sample name.
			name = "x" + h[1:]
		}
		if c.Leaf.VerifyHostname(name) != nil {
			missing = append(missing, h)
		}
	}
	return missing
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}
