package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

func (v *validator) acme() {
	a := v.c.ACME
	v.directory("acme.directory", a.Directory)
	if a.Fallback != "" {
		v.directory("acme.fallback", a.Fallback)
	}
	for i, f := range a.TrustedRoots {
		v.file(fmt.Sprintf("acme.trusted_roots[%d]", i), f)
	}
	for i, ch := range a.Challenges {
		switch ch {
		case ChallengeHTTP01, ChallengeTLSALPN01, ChallengeDNS01:
		default:
			v.errf(fmt.Sprintf("acme.challenges[%d]", i), "challenge %q is unknown; use http-01, tls-alpn-01 or dns-01", ch)
		}
	}
	if a.DNS != nil {
		v.dns("acme.dns", a.DNS)
	}
	if e := a.EAB; e != nil && (e.KeyID == "" || e.MACKey == "") {
		v.errf("acme.eab", "eab needs both key_id and mac_key; copy them from your CA's account page")
	}
}

// directory checks an ACME CA: an alias or a directory URL.
func (v *validator) directory(path, d string) {
	if ACMEDirectoryURL(d) != d {
		return // a known alias
	}
	u, err := url.Parse(d)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		v.errf(path, "%q is not an ACME CA; use letsencrypt, letsencrypt-staging, zerossl or the CA's https:// directory URL", d)
	}
}

// dnsKeyOwner names the provider a provider-specific key belongs to, so a
// key meant for another provider is reported instead of silently ignored.
func dnsKeyOwner(key string) string {
	switch key {
	case "server", "tsig_key_name", "tsig_algorithm", "tsig_secret":
		return DNSRFC2136
	case "command":
		return DNSExec
	case "url", "token":
		return DNSWebhook
	}
	return ""
}

// dns checks a dns-01 provider block at path ("acme.dns", "sites[0].dns").
func (v *validator) dns(path string, d *DNS) {
	switch d.Provider {
	case DNSRFC2136, DNSExec, DNSWebhook:
	case "":
		v.errf(path+".provider", "a dns block needs a provider; use rfc2136, exec or webhook")
		return
	default:
		v.errf(path+".provider", "provider %q is unknown; use rfc2136, exec or webhook", d.Provider)
		return
	}
	for _, k := range []struct {
		key string
		set bool
	}{
		{"server", d.Server != ""}, {"tsig_key_name", d.TSIGKeyName != ""},
		{"tsig_algorithm", d.TSIGAlgorithm != ""}, {"tsig_secret", d.TSIGSecret != ""},
		{"command", d.Command != ""}, {"url", d.URL != ""}, {"token", d.Token != ""},
	} {
		if owner := dnsKeyOwner(k.key); k.set && owner != d.Provider {
			v.errf(path+"."+k.key, "%s is for the %s provider, not %s; remove it", k.key, owner, d.Provider)
		}
	}
	switch d.Provider {
	case DNSRFC2136:
		v.rfc2136(path, d)
	case DNSExec:
		if d.Command == "" {
			v.errf(path+".command", "the exec provider needs a command; it is called as: command present|cleanup FQDN VALUE")
		}
	case DNSWebhook:
		u, err := url.Parse(d.URL)
		if d.URL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			v.errf(path+".url", "the webhook provider needs an http:// or https:// url; got %q", d.URL)
		}
	}
	for i, r := range d.Resolvers {
		if !validResolver(r) {
			v.errf(fmt.Sprintf("%s.resolvers[%d]", path, i), "%q is not a resolver; write an IP address or IP:PORT, e.g. 1.1.1.1:53", r)
		}
	}
}

func (v *validator) rfc2136(path string, d *DNS) {
	if d.Server == "" {
		v.errf(path+".server", "the rfc2136 provider needs the server that takes updates; write e.g. server: 127.0.0.1:53")
	} else if _, _, err := net.SplitHostPort(d.Server); err != nil && hostProblem(d.Server) != "" {
		v.errf(path+".server", "%q is not HOST or HOST:PORT", d.Server)
	}
	switch d.TSIGAlgorithm {
	case "hmac-sha256", "hmac-sha512":
	default:
		v.errf(path+".tsig_algorithm", "%q is not supported; use hmac-sha256 or hmac-sha512", d.TSIGAlgorithm)
	}
	if (d.TSIGKeyName == "") != (d.TSIGSecret == "") {
		v.errf(path, "tsig_key_name and tsig_secret go together; set both (from BIND's key file) or neither")
	}
	if d.TSIGSecret != "" {
		if _, err := base64.StdEncoding.DecodeString(d.TSIGSecret); err != nil {
			v.errf(path+".tsig_secret", "not valid base64; copy the secret from BIND's key file as it is")
		}
	}
}

func validResolver(r string) bool {
	if _, err := netip.ParseAddr(r); err == nil {
		return true
	}
	_, err := netip.ParseAddrPort(r)
	return err == nil || (addrProblem(r) == "" && !strings.HasPrefix(r, ":"))
}
