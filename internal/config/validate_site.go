package config

import (
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

func (v *validator) sites() {
	owner := map[string]string{} // lower-case host → path of the site that has it
	for i := range v.c.Sites {
		s := &v.c.Sites[i]
		path := fmt.Sprintf("sites[%d]", i)
		v.hosts(path, s, owner)
		v.tls(path, s)
		if s.DNS != nil {
			v.dns(path+".dns", s.DNS)
		}
		v.clientAuth(path+".client_auth", s.ClientAuth)
		v.hsts(path+".hsts", s.HSTS)
		v.cors(path+".cors", s.CORS)
		v.compress(path+".compress", s.Compress)
		v.headers(path+".headers", s.Headers)
		v.securityHeaders(path+".security_headers", s.SecurityHeaders)
		v.access(path, s.BasicAuth, s.ForwardAuth, s.AllowIPs, s.DenyIPs, s.RateLimit)
		v.errorPages(path+".error_pages", s.ErrorPages)
		v.routes(path, s.Routes, s.Hosts)
	}
}

// ErrorPageStatuses are the answers tlsgate makes itself that error_pages
// may replace: auth (401, 403), body limits (408, 413), rate limits (429),
// header blocks over limits.max_header_bytes (431, answered once the site
// is chosen) and upstream failures (502, 503, 504). 421 is not one: it
// says no site (or not this connection's) serves the request.
func ErrorPageStatuses() []int { return []int{401, 403, 408, 413, 429, 431, 502, 503, 504} }

func (v *validator) errorPages(path string, pages map[string]string) {
	for _, code := range slices.Sorted(maps.Keys(pages)) {
		file, p := pages[code], path+"."+code
		n, err := strconv.Atoi(code)
		if err != nil || !slices.Contains(ErrorPageStatuses(), n) {
			v.errf(p, "%q is not a status tlsgate answers by itself; use one of %v", code, ErrorPageStatuses())
			continue
		}
		v.file(p, file)
	}
}

func (v *validator) hosts(path string, s *Site, owner map[string]string) {
	if len(s.Hosts) == 0 {
		v.errf(path+".hosts", "a site needs hosts; list the names it serves, e.g. hosts: [app.example.com]")
		return
	}
	for j, h := range s.Hosts {
		hp := fmt.Sprintf("%s.hosts[%d]", path, j)
		if h == CatchAllHost {
			if len(s.Hosts) > 1 {
				v.errf(hp, "\"*\" (the catch-all) serves every name no other site lists, so it stands alone: write hosts: [\"*\"] in a site of its own")
			}
		} else if p := hostProblem(h); p != "" {
			v.errf(hp, "%s", p)
			continue
		}
		key := strings.ToLower(h)
		switch prev, dup := owner[key]; {
		case dup && prev == path:
			v.errf(hp, "%q is listed twice in this site; remove one", h)
		case dup:
			v.errf(hp, "%q is also a host of %s; a name belongs to one site only, so remove it from one of them", h, prev)
		default:
			owner[key] = path
		}
	}
}

// tls checks the certificate source of a site (defaults already applied).
func (v *validator) tls(path string, s *Site) {
	t := s.TLS
	switch t.Mode {
	case TLSLocal, TLSAdhoc:
	case TLSFile:
		if t.CertFile == "" {
			v.errf(path+".tls.cert_file", "tls from files needs cert_file, the PEM certificate chain")
		}
		if t.KeyFile == "" {
			v.errf(path+".tls.key_file", "tls from files needs key_file, the PEM private key")
		}
		v.file(path+".tls.cert_file", t.CertFile)
		v.file(path+".tls.key_file", t.KeyFile)
		v.file(path+".tls.key_passphrase_file", t.KeyPassphraseFile)
	case TLSACME:
		v.acmeSite(path, s)
	case TLSOnDemand:
		v.onDemandSite(path, s)
	default:
		v.errf(path+".tls", "tls %q is unknown; use acme, local, adhoc, on_demand or {cert_file: F, key_file: F}", t.Mode)
	}
	if t.Mode != TLSOnDemand && slices.Contains(s.Hosts, CatchAllHost) {
		v.errf(path+".tls", "hosts: [\"*\"] (the catch-all) needs tls: on_demand: no certificate can be made in advance for every name; set tls: on_demand and an on_demand block with ask")
	}
}

// acmeSite checks that the ACME challenges can work for a site's names.
func (v *validator) acmeSite(path string, s *Site) {
	hasDNS01 := slices.Contains(v.c.ACME.Challenges, ChallengeDNS01)
	hasProvider := s.DNS != nil || v.c.ACME.DNS != nil
	for j, h := range s.Hosts {
		if !strings.HasPrefix(h, "*.") || hostProblem(h) != "" {
			continue // not a wildcard, or already reported
		}
		hp := fmt.Sprintf("%s.hosts[%d]", path, j)
		if !hasDNS01 || !hasProvider {
			v.errf(hp, "wildcard %q with tls acme needs the dns-01 challenge, the only one CAs accept for wildcards; add dns-01 to acme.challenges and set a dns provider in acme.dns or this site's dns", h)
		}
	}
	if hasDNS01 && !hasProvider && len(v.c.ACME.Challenges) == 1 {
		v.errf(path, "acme.challenges is only dns-01 but no dns provider is set; set acme.dns or this site's dns")
	}
	v.acmeIPHosts(path, s)
}

// acmeIPHosts checks the IP-address hosts of an ACME site (RFC 8738): a CA
// validates an IP address only over http-01 (port 80 of that address) or
// tls-alpn-01 (port 443), never dns-01, as no DNS zone belongs to an
// address; and a public CA issues only for public addresses.
func (v *validator) acmeIPHosts(path string, s *Site) {
	a := v.c.ACME
	http01 := slices.Contains(a.Challenges, ChallengeHTTP01) && *v.c.Listen.HTTP != ""
	alpn01 := slices.Contains(a.Challenges, ChallengeTLSALPN01) && *v.c.Listen.HTTPS != ""
	public, ipCerts := publicCA(a.Directory)
	ips := 0
	for j, h := range s.Hosts {
		ip, err := netip.ParseAddr(h)
		if err != nil {
			continue
		}
		ips++
		hp := fmt.Sprintf("%s.hosts[%d]", path, j)
		switch {
		case !http01 && !alpn01:
			v.errf(hp, "%q is an IP address: CAs validate IP addresses only with http-01 or tls-alpn-01 (RFC 8738), never dns-01; add http-01 or tls-alpn-01 to acme.challenges (and keep listen.http on for http-01)", h)
		case public && !ipCerts:
			v.errf(hp, "%q is an IP address and %s does not issue IP-address certificates over ACME; use directory: letsencrypt, or tls: local", h, a.Directory)
		case public && !publicAddr(ip):
			v.errf(hp, "%q is a private, loopback or link-local address: public CAs issue only for public addresses they can reach; use tls: local (or your own ACME CA in acme.directory)", h)
		}
	}
	if s.DNS != nil && ips == len(s.Hosts) {
		v.errf(path+".dns", "this site's hosts are all IP addresses, which dns-01 cannot validate; remove its dns block (they use http-01 or tls-alpn-01)")
	}
}

// publicCA reports whether directory (alias or URL) is a public CA
// tlsgate knows, and whether that CA issues IP-address certificates over
// ACME (Let's Encrypt does since 2025, with the shortlived profile;
// ZeroSSL's ACME endpoint does not).
func publicCA(directory string) (public, ipCerts bool) {
	u := ACMEDirectoryURL(directory)
	switch {
	case strings.Contains(u, "api.letsencrypt.org"):
		return true, true
	case strings.Contains(u, "acme.zerossl.com"):
		return true, false
	}
	return false, false
}

// publicAddr reports whether a public CA could validate ip: not loopback,
// private (RFC 1918, ULA), link-local or unspecified.
func publicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsGlobalUnicast() && !ip.IsPrivate()
}

func (v *validator) clientAuth(path string, a *ClientAuth) {
	if a == nil {
		return
	}
	if a.Mode != ClientAuthRequire && a.Mode != ClientAuthOptional {
		v.errf(path+".mode", "mode %q is unknown; use require or optional", a.Mode)
	}
	if len(a.CAFiles) == 0 && !a.LocalCA {
		v.errf(path, "client_auth needs the CAs that sign client certificates; set ca_files: [F] or local_ca: true")
	}
	for i, f := range a.CAFiles {
		v.file(fmt.Sprintf("%s.ca_files[%d]", path, i), f)
	}
}

func (v *validator) hsts(path string, h *HSTS) {
	const year = 365 * 24 * time.Hour
	if h == nil || !h.Preload {
		return
	}
	if !h.IncludeSubdomains || time.Duration(h.MaxAge) < year {
		v.errf(path+".preload", "browsers' preload list requires include_subdomains: true and max_age of at least 365d; set both or drop preload")
	}
}

func (v *validator) cors(path string, c *CORS) {
	if c == nil {
		return
	}
	if len(c.AllowOrigins) == 0 {
		v.errf(path+".allow_origins", "cors needs allow_origins; list origins such as https://app.example.com, or \"*\"")
	}
	for i, o := range c.AllowOrigins {
		op := fmt.Sprintf("%s.allow_origins[%d]", path, i)
		switch {
		case o == "*":
			if c.AllowCredentials {
				v.errf(op, "\"*\" with allow_credentials: browsers refuse credentialed responses for a wildcard origin; list the origins instead")
			}
		case !validOrigin(o):
			v.errf(op, "%q is not an origin; write scheme://host[:port] with no path, e.g. https://app.example.com", o)
		}
	}
	v.tokens(path+".allow_methods", c.AllowMethods, false)
	v.tokens(path+".allow_headers", c.AllowHeaders, true)
	v.tokens(path+".expose_headers", c.ExposeHeaders, true)
}

func validOrigin(o string) bool {
	u, err := url.Parse(o)
	return err == nil && u.Scheme != "" && u.Host != "" && (u.Path == "" || u.Path == "/") &&
		u.RawQuery == "" && u.Fragment == "" && u.User == nil
}

// tokens checks a list of HTTP methods or header names.
func (v *validator) tokens(path string, list []string, star bool) {
	for i, t := range list {
		if (star && t == "*") || isToken(t) {
			continue
		}
		v.errf(fmt.Sprintf("%s[%d]", path, i), "%q is not a valid HTTP token; use letters, digits and -", t)
	}
}

// isToken reports whether s is an RFC 9110 token (header names, methods).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r < 0x7f && (r == '-' || r == '_' || r == '.' || r == '!' || r == '#' || r == '$' || r == '%' ||
			r == '&' || r == '\'' || r == '*' || r == '+' || r == '^' || r == '`' || r == '|' || r == '~' ||
			'0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z')) {
			return false
		}
	}
	return true
}

func (v *validator) headers(path string, h *Headers) {
	if h == nil {
		return
	}
	for _, ops := range []struct {
		path string
		ops  *HeaderOps
	}{{path + ".request", h.Request}, {path + ".response", h.Response}} {
		if ops.ops == nil {
			continue
		}
		v.headerMap(ops.path+".set", ops.ops.Set)
		v.tokens(ops.path+".remove", ops.ops.Remove, false)
	}
}

// headerMap checks header names used as keys, in sorted order so the
// messages come out the same every time.
func (v *validator) headerMap(path string, m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !isToken(k) {
			v.errf(path+"."+k, "%q is not a valid header name; use letters, digits and -", k)
		}
	}
}

func (v *validator) securityHeaders(path string, s *SecurityHeaders) {
	if s == nil {
		return
	}
	switch strings.ToUpper(s.FrameOptions) {
	case "", "DENY", "SAMEORIGIN":
	default:
		v.errf(path+".frame_options", "%q is not a frame option; use DENY or SAMEORIGIN", s.FrameOptions)
	}
	switch s.ReferrerPolicy {
	case "", "no-referrer", "no-referrer-when-downgrade", "origin", "origin-when-cross-origin",
		"same-origin", "strict-origin", "strict-origin-when-cross-origin", "unsafe-url":
	default:
		v.errf(path+".referrer_policy", "%q is not a referrer policy; use e.g. strict-origin-when-cross-origin or no-referrer", s.ReferrerPolicy)
	}
}
