package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// access checks the access-control keys of a site or route at path.
// htpasswd files are only checked to exist here; their lines are parsed
// when the config is compiled, and errors there name FILE:LINE.
func (v *validator) access(path string, b *BasicAuth, f *ForwardAuth, allow, deny []string, r *RateLimit) {
	if b != nil {
		bp := path + ".basic_auth"
		if len(b.Users) == 0 && b.UsersFile == "" {
			v.errf(bp, "basic_auth needs users; set users: {NAME: HASH} (hashes from `tlsgate hash-password`) or users_file: ./htpasswd")
		}
		if strings.ContainsAny(b.Realm, "\"\\\r\n") {
			v.errf(bp+".realm", "realm %q has a quote, backslash or line break; use plain text", b.Realm)
		}
		for name, hash := range b.Users {
			if name == "" || strings.ContainsAny(name, ":\r\n") {
				v.errf(bp+".users", "user name %q is empty or has a colon or line break; RFC 7617 names cannot", name)
			}
			if !IsBcryptHash(hash) {
				v.errf(bp+".users."+name, "the hash of %q is not a bcrypt hash ($2a$, $2b$ or $2y$); make one with `tlsgate hash-password`", name)
			}
		}
		v.file(bp+".users_file", b.UsersFile)
	}
	if f != nil {
		fp := path + ".forward_auth"
		u, err := url.Parse(f.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.errf(fp+".url", "%q is not an http:// or https:// URL; write e.g. http://127.0.0.1:4180/oauth2/auth", f.URL)
		}
		for i, h := range f.CopyHeaders {
			if !isToken(h) {
				v.errf(fmt.Sprintf("%s.copy_headers[%d]", fp, i), "%q is not a header name", h)
			}
		}
	}
	v.ipList(path+".allow_ips", allow)
	v.ipList(path+".deny_ips", deny)
	if r != nil {
		rp := path + ".rate_limit"
		if r.Requests <= 0 {
			v.errf(rp+".requests", "requests must be 1 or more; write e.g. rate_limit: {requests: 100, per: 1m}")
		}
		if r.Per <= 0 {
			v.errf(rp+".per", "per must be a positive duration such as 1s or 1m")
		}
		if r.Burst < 0 {
			v.errf(rp+".burst", "burst must be 0 (same as requests) or more")
		}
		if name, ok := strings.CutPrefix(r.Key, RateKeyHeaderPrefix); r.Key != RateKeyClientIP && (!ok || !isToken(name)) {
			v.errf(rp+".key", "key %q is unknown; use client_ip or header:NAME", r.Key)
		}
	}
}

func (v *validator) ipList(path string, list []string) {
	for i, s := range list {
		if _, err := ParseIPPrefix(s); err != nil {
			v.errf(fmt.Sprintf("%s[%d]", path, i), "%q is not an IP address or CIDR; write e.g. 10.0.0.0/8, 192.0.2.7 or 2001:db8::/32", s)
		}
	}
}

// ParseIPPrefix parses a CIDR or a single address (a /32 or /128) into a
// masked prefix; IPv4-mapped IPv6 addresses become IPv4.
func ParseIPPrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		if a := p.Addr(); a.Is4In6() {
			if p.Bits() < 96 {
				return netip.Prefix{}, fmt.Errorf("%q: an IPv4-mapped prefix needs /96 or more", s)
			}
			return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked(), nil
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// IsBcryptHash reports whether s looks like a bcrypt hash in modular crypt
// form: $2a$, $2b$ or $2y$, a two-digit cost, and 53 more characters.
func IsBcryptHash(s string) bool {
	if len(s) != 60 || s[0] != '$' || s[1] != '2' || s[3] != '$' || s[6] != '$' {
		return false
	}
	switch s[2] {
	case 'a', 'b', 'y':
	default:
		return false
	}
	return s[4] >= '0' && s[4] <= '9' && s[5] >= '0' && s[5] <= '9'
}
