package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// hostProblem says what is wrong with a site host, or "" when it is a valid
// DNS name, a "*.example.com" wildcard or an IP address.
func hostProblem(h string) string {
	switch {
	case h == "":
		return "empty host; write a name such as app.example.com"
	case strings.HasPrefix(h, "[") || strings.Contains(h, "%"):
		return fmt.Sprintf("%q: write IP addresses bare, without brackets or zone, e.g. ::1", h)
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return ""
	}
	if strings.Contains(h, "://") || strings.Contains(h, "/") {
		return fmt.Sprintf("%q is a URL; write only the name, e.g. app.example.com", h)
	}
	if _, port, err := net.SplitHostPort(h); err == nil && port != "" {
		return fmt.Sprintf("%q has a port; hosts are names only, the port comes from listen.https", h)
	}
	name, wildcard := strings.CutPrefix(h, "*.")
	if strings.Contains(name, "*") {
		return fmt.Sprintf("%q: a wildcard is one leading label, as in *.example.com", h)
	}
	if p := dnsNameProblem(name); p != "" {
		return fmt.Sprintf("%q is not a valid host name: %s", h, p)
	}
	if wildcard && !strings.Contains(name, ".") && !IsLocalName(name) {
		return fmt.Sprintf("%q covers a whole top-level domain; use a wildcard under a domain, e.g. *.example.com", h)
	}
	return ""
}

// DNSNameProblem says why name (no trailing dot, no wildcard) is not a
// letters-digits-hyphens host name, or "" when it is one. It is the rule
// for site hosts, and the one on-demand certificates apply to SNI names.
func DNSNameProblem(name string) string { return dnsNameProblem(name) }

// dnsNameProblem checks the letters-digits-hyphen rules for a host name.
func dnsNameProblem(name string) string {
	if strings.HasSuffix(name, ".") {
		return "drop the trailing dot"
	}
	if len(name) > 253 {
		return "longer than 253 characters"
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" {
			return "empty label (two dots in a row?)"
		}
		if len(l) > 63 {
			return fmt.Sprintf("label %q is longer than 63 characters", l)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Sprintf("label %q starts or ends with a hyphen", l)
		}
		for _, r := range l {
			if !(r == '-' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
				return fmt.Sprintf("%q is not allowed; use letters, digits and hyphens (punycode xn--... for other scripts)", r)
			}
		}
	}
	if _, err := strconv.Atoi(labels[len(labels)-1]); err == nil {
		return "the last label is a number, and it is not an IP address either"
	}
	return ""
}

// addrProblem checks a "host:port" listen address; an empty host means every
// interface. Port 0 (pick a free port) is allowed.
func addrProblem(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("%q is not HOST:PORT; write e.g. \":443\" or \"127.0.0.1:8443\"", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Sprintf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	if host == "" {
		return ""
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return ""
	}
	if p := dnsNameProblem(host); p != "" {
		return fmt.Sprintf("%q: host %q is not an IP address or name: %s", addr, host, p)
	}
	return ""
}

// isLoopback reports whether host names only this machine: localhost or an
// address in 127.0.0.0/8 or ::1.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// fileProblem says why path cannot be read as a file, or "".
func fileProblem(path string) string {
	const where = "a relative path is taken from the config file's directory"
	f, err := os.Open(path)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Sprintf("%s does not exist; check the path (%s)", path, where)
		case errors.Is(err, fs.ErrPermission):
			return fmt.Sprintf("%s is not readable; make it readable by the user tlsgate runs as", path)
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Sprintf("cannot open %s: %v; check the path (%s)", path, err, where)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return fmt.Sprintf("%s is a directory; name a file", path)
	}
	return ""
}

// HostCovers reports whether site host h serves name: h is the name
// itself, a "*.x" wildcard matching exactly one label before x, or the "*"
// catch-all. Case does not matter. This is the one statement of the rule;
// route.Hosts indexes many hosts by it, and its tests check they agree.
func HostCovers(h, name string) bool {
	h, name = strings.ToLower(h), strings.ToLower(name)
	if h == name || h == CatchAllHost {
		return true
	}
	base, ok := WildcardBase(h)
	if !ok {
		return false
	}
	label, rest, found := strings.Cut(name, ".")
	return found && label != "" && rest == base
}

// WildcardBase returns what follows "*." in a one-label wildcard host
// ("example.com" for "*.example.com"), and whether h is one.
func WildcardBase(h string) (string, bool) {
	return strings.CutPrefix(h, "*.")
}

// IsIP reports whether host is an IP address (IPv6 brackets allowed), not
// a DNS name.
func IsIP(host string) bool {
	_, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil
}

// IsHostPattern reports whether site host h is a pattern (the "*"
// catch-all or a "*.x" wildcard) rather than one name.
func IsHostPattern(h string) bool {
	return h == CatchAllHost || strings.HasPrefix(h, "*.")
}

// SiteDNS is the DNS provider a site's names are in: the site's own dns
// block, else acme.dns (acmeDNS); nil when neither is set. ACME dns-01 and
// ech.publish both follow this rule.
func SiteDNS(s Site, acmeDNS *DNS) *DNS {
	if s.DNS != nil {
		return s.DNS
	}
	return acmeDNS
}
