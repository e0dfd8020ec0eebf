package dns

import (
	"context"
	"fmt"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

// NotVisibleError says which resolver had not seen a TXT record when the
// propagation timeout ran out, and what it last answered.
type NotVisibleError struct {
	FQDN     string
	Resolver string
	Last     string // what the resolver last answered, in words
	Timeout  time.Duration
}

func (e *NotVisibleError) Error() string {
	return fmt.Sprintf("the TXT record %s was not visible at resolver %s after %s (it last answered: %s); "+
		"check that the record is written in the zone this resolver serves (zone, CNAME delegation), list the right servers in resolvers, or raise propagation_timeout",
		e.FQDN, e.Resolver, e.Timeout, e.Last)
}

// WaitVisible asks every resolver for fqdn's TXT records, every interval,
// until each of them answers with value. It returns a *NotVisibleError
// naming the first resolver still missing it when timeout has passed.
// Zero interval means one second.
func WaitVisible(ctx context.Context, fqdn, value string, resolvers []string, timeout, interval time.Duration) error {
	if len(resolvers) == 0 {
		return fmt.Errorf("no resolvers to check %s with; set resolvers", fqdn)
	}
	if interval <= 0 {
		interval = time.Second
	}
	fqdn = mdns.Fqdn(fqdn)
	pending := make(map[string]string, len(resolvers)) // resolver → last answer
	for _, r := range resolvers {
		pending[WithPort(r)] = "nothing yet"
	}
	deadline := time.Now().Add(timeout)
	for {
		for server := range pending {
			seen, last := hasTXT(ctx, server, fqdn, value)
			if seen {
				delete(pending, server)
				continue
			}
			pending[server] = last
		}
		if len(pending) == 0 {
			return nil
		}
		if !time.Now().Add(interval).Before(deadline) {
			for _, r := range resolvers { // report in the user's order
				if last, ok := pending[WithPort(r)]; ok {
					return &NotVisibleError{FQDN: fqdn, Resolver: WithPort(r), Last: last, Timeout: timeout}
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s to be visible: %w", fqdn, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// hasTXT reports whether server answers fqdn TXT with value, and otherwise
// what it answered.
func hasTXT(ctx context.Context, server, fqdn, value string) (bool, string) {
	r, err := query(ctx, server, fqdn, mdns.TypeTXT)
	if err != nil {
		return false, err.Error()
	}
	if r.Rcode != mdns.RcodeSuccess {
		return false, mdns.RcodeToString[r.Rcode]
	}
	var others int
	for _, rr := range r.Answer {
		if txt, ok := rr.(*mdns.TXT); ok {
			if strings.Join(txt.Txt, "") == value {
				return true, ""
			}
			others++
		}
	}
	if others > 0 {
		return false, fmt.Sprintf("%d other TXT records", others)
	}
	return false, "no TXT record"
}
