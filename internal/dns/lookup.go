package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

// queryTimeout bounds one DNS exchange when the context has no earlier
// deadline: a dead resolver must not eat the whole propagation timeout.
const queryTimeout = 5 * time.Second

// ErrZoneNotFound is returned (wrapped) when no server answered with the
// SOA of a zone holding the name.
var ErrZoneNotFound = errors.New("zone not found")

// WithPort adds DNS's port 53 to a server written without one.
func WithPort(server string) string {
	if _, _, err := net.SplitHostPort(server); err == nil {
		return server
	}
	return net.JoinHostPort(strings.Trim(server, "[]"), "53")
}

// SystemResolvers are the nameservers of /etc/resolv.conf, each with a port;
// nil when there are none.
func SystemResolvers() []string {
	conf, err := mdns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(conf.Servers))
	for _, s := range conf.Servers {
		out = append(out, net.JoinHostPort(s, conf.Port))
	}
	return out
}

// query asks server one question with recursion desired (authoritative
// servers ignore it for their own zones), over UDP and again over TCP when
// the answer was truncated.
func query(ctx context.Context, server, name string, qtype uint16) (*mdns.Msg, error) {
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), qtype)
	m.SetEdns0(4096, false)
	return exchange(ctx, &mdns.Client{}, m, server)
}

func exchange(ctx context.Context, c *mdns.Client, m *mdns.Msg, server string) (*mdns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	r, _, err := c.ExchangeContext(ctx, m, WithPort(server))
	if err == nil && r.Truncated {
		tc := *c
		tc.Net = "tcp"
		r, _, err = tc.ExchangeContext(ctx, m, WithPort(server))
	}
	return r, err
}

// FindZone finds the zone fqdn belongs to by asking server for the SOA of
// fqdn and then of each parent name in turn. The error names every name
// tried and what the server said, and wraps ErrZoneNotFound.
func FindZone(ctx context.Context, server, fqdn string) (string, error) {
	fqdn = mdns.CanonicalName(fqdn)
	var tried []string
	for _, off := range mdns.Split(fqdn) {
		name := fqdn[off:]
		r, err := query(ctx, server, name, mdns.TypeSOA)
		if err != nil {
			if ctx.Err() != nil {
				return "", fmt.Errorf("find zone of %s: %w", fqdn, ctx.Err())
			}
			tried = append(tried, fmt.Sprintf("%s (%v)", name, err))
			continue
		}
		for _, rr := range r.Answer {
			if soa, ok := rr.(*mdns.SOA); ok && strings.EqualFold(soa.Hdr.Name, name) {
				return mdns.CanonicalName(soa.Hdr.Name), nil
			}
		}
		tried = append(tried, fmt.Sprintf("%s (%s)", name, answerSummary(r)))
	}
	return "", fmt.Errorf("%w: %s did not answer with the SOA of any zone holding %s; tried %s; set zone to the zone this server is primary for",
		ErrZoneNotFound, server, fqdn, strings.Join(tried, ", "))
}

// answerSummary says in a few words what an answer held.
func answerSummary(r *mdns.Msg) string {
	if r.Rcode != mdns.RcodeSuccess {
		return mdns.RcodeToString[r.Rcode]
	}
	if len(r.Answer) == 0 {
		return "no records"
	}
	return fmt.Sprintf("%d records, none the one wanted", len(r.Answer))
}

// Authoritative returns the addresses (IP:53) of the nameservers of the
// zone holding fqdn, looked up through the given recursive resolvers.
func Authoritative(ctx context.Context, fqdn string, via []string) ([]string, error) {
	if len(via) == 0 {
		return nil, errors.New("no resolvers to look up the authoritative nameservers with")
	}
	var zone string
	var err error
	for _, v := range via {
		if zone, err = FindZone(ctx, v, fqdn); err == nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	r, err := query(ctx, via[0], zone, mdns.TypeNS)
	if err != nil {
		return nil, fmt.Errorf("nameservers of %s: %w", zone, err)
	}
	var out []string
	for _, rr := range r.Answer {
		ns, ok := rr.(*mdns.NS)
		if !ok {
			continue
		}
		for _, qt := range []uint16{mdns.TypeA, mdns.TypeAAAA} {
			a, err := query(ctx, via[0], ns.Ns, qt)
			if err != nil {
				continue
			}
			for _, rr := range a.Answer {
				switch rr := rr.(type) {
				case *mdns.A:
					out = append(out, net.JoinHostPort(rr.A.String(), "53"))
				case *mdns.AAAA:
					out = append(out, net.JoinHostPort(rr.AAAA.String(), "53"))
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no address for any nameserver of %s", zone)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// FollowCNAME follows CNAME records from fqdn (at most 8, so a loop ends)
// and returns the name at the end of the chain: where a record for fqdn
// must really be written when the owner delegated it, e.g.
// _acme-challenge.example.com CNAME _acme-challenge.acme.example.net.
// It returns fqdn itself when there is no CNAME or no resolver answers.
func FollowCNAME(ctx context.Context, fqdn string, resolvers []string) string {
	name := mdns.Fqdn(fqdn)
	for range 8 {
		next := ""
		for _, server := range resolvers {
			r, err := query(ctx, server, name, mdns.TypeCNAME)
			if err != nil || r.Rcode != mdns.RcodeSuccess {
				continue
			}
			for _, rr := range r.Answer {
				if c, ok := rr.(*mdns.CNAME); ok && strings.EqualFold(c.Hdr.Name, name) {
					next = mdns.Fqdn(c.Target)
				}
			}
			break
		}
		if next == "" {
			return name
		}
		name = next
	}
	return name
}
