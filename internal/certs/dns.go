package certs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libdns/libdns"
	"github.com/mholt/acmez/v3"
	"github.com/mholt/acmez/v3/acme"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/dns"
)

// recordProvider is what the solver needs from a DNS provider: libdns's
// append and delete, as CertMagic's DNSProvider.
type recordProvider interface {
	libdns.RecordAppender
	libdns.RecordDeleter
}

// zoneFinder is implemented by providers that can find a name's zone.
type zoneFinder interface {
	FindZone(ctx context.Context, fqdn string) (string, error)
}

// challengeTTL is the TTL of challenge records: short, so a failed attempt's
// negative or stale answer is not cached for long.
const challengeTTL = 60 * time.Second

// NewRFC2136 is the rfc2136 provider of a dns block (d.Provider rfc2136):
// for dns-01 here, and for the HTTPS records ech.publish writes.
func NewRFC2136(d config.DNS) *dns.RFC2136 {
	return &dns.RFC2136{Server: d.Server, KeyName: d.TSIGKeyName, Algorithm: d.TSIGAlgorithm, Secret: d.TSIGSecret, Zone: d.Zone}
}

// newDNSSolver builds the dns-01 solver for d.
func newDNSSolver(d config.DNS, logger *slog.Logger) (*dnsSolver, error) {
	var p recordProvider
	switch d.Provider {
	case config.DNSRFC2136:
		p = NewRFC2136(d)
	case config.DNSExec:
		p = &dns.Exec{Command: d.Command}
	case config.DNSWebhook:
		p = &dns.Webhook{URL: d.URL, Token: d.Token}
	default:
		// config validated it; this guards callers that did not use config.
		return nil, fmt.Errorf("dns: unknown provider %q", d.Provider)
	}
	return &dnsSolver{conf: d, provider: p, logger: logger, records: make(map[string]presented)}, nil
}

// dnsSolver solves dns-01 challenges with one provider. It is used instead
// of certmagic.DNS01Solver because that one needs an SOA lookup through
// public resolvers before it calls the provider (exec and webhook need no
// zone, and a hidden primary is not in public DNS), has no zone override,
// does not follow a CNAME-delegated _acme-challenge to write the record
// where it must go, and its timeout error does not say which resolver did
// not see the record. Safe for concurrent use.
type dnsSolver struct {
	conf     config.DNS
	provider recordProvider
	logger   *slog.Logger

	// mu guards records.
	mu sync.Mutex
	// records remembers where each presented challenge was written, by
	// challenge name and value: example.com and *.example.com share a name.
	records map[string]presented
}

type presented struct {
	zone   string
	record libdns.TXT
	fqdn   string
}

var _ acmez.Waiter = (*dnsSolver)(nil)

func challengeKey(c acme.Challenge) string {
	return c.DNS01TXTRecordName() + "\x00" + c.DNS01KeyAuthorization()
}

// Present writes the challenge's TXT record.
func (s *dnsSolver) Present(ctx context.Context, c acme.Challenge) error {
	name := c.DNS01TXTRecordName() + "."
	fqdn := dns.FollowCNAME(ctx, name, s.lookupResolvers())
	if fqdn != name {
		s.logger.Info("following CNAME delegation of the challenge record", "name", name, "target", fqdn)
	}
	zone, err := s.zone(ctx, fqdn)
	if err != nil {
		return err
	}
	rec := libdns.TXT{Name: libdns.RelativeName(fqdn, zone), TTL: challengeTTL, Text: c.DNS01KeyAuthorization()}
	if _, err := s.provider.AppendRecords(ctx, zone, []libdns.Record{rec}); err != nil {
		return err
	}
	s.logger.Info("wrote dns-01 challenge record", "fqdn", fqdn, "zone", zone, "provider", s.conf.Provider)
	s.mu.Lock()
	s.records[challengeKey(c)] = presented{zone: zone, record: rec, fqdn: fqdn}
	s.mu.Unlock()
	return nil
}

// zone is the zone to write fqdn in: the configured one, the one the
// provider finds, or (exec, webhook) fqdn itself, so the record is "@".
func (s *dnsSolver) zone(ctx context.Context, fqdn string) (string, error) {
	if s.conf.Zone != "" {
		return dnsFqdn(s.conf.Zone), nil
	}
	if zf, ok := s.provider.(zoneFinder); ok {
		return zf.FindZone(ctx, fqdn)
	}
	return fqdn, nil
}

// Wait blocks until every propagation resolver answers with the record.
func (s *dnsSolver) Wait(ctx context.Context, c acme.Challenge) error {
	s.mu.Lock()
	p, ok := s.records[challengeKey(c)]
	s.mu.Unlock()
	if !ok {
		return errors.New("dns-01: no record was presented for this challenge")
	}
	if d := time.Duration(s.conf.PropagationDelay); d > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
	}
	// config fills in the default (2m); zero or negative skips the check.
	if s.conf.PropagationTimeout <= 0 {
		return nil
	}
	resolvers, err := s.checkResolvers(ctx, p.fqdn)
	if err != nil {
		return err
	}
	s.logger.Debug("waiting for the challenge record to be visible", "fqdn", p.fqdn, "resolvers", resolvers)
	return dns.WaitVisible(ctx, p.fqdn, p.record.Text, resolvers, time.Duration(s.conf.PropagationTimeout), time.Second)
}

// CleanUp deletes the challenge's record. It runs even when the order was
// cancelled, so it does not use the (perhaps cancelled) ctx's deadline.
func (s *dnsSolver) CleanUp(ctx context.Context, c acme.Challenge) error {
	key := challengeKey(c)
	s.mu.Lock()
	p, ok := s.records[key]
	delete(s.records, key)
	s.mu.Unlock()
	if !ok {
		return nil // Present failed: nothing to remove
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if _, err := s.provider.DeleteRecords(ctx, p.zone, []libdns.Record{p.record}); err != nil {
		s.logger.Warn("could not remove a dns-01 challenge record", "fqdn", p.fqdn, "error", err)
		return err
	}
	s.logger.Info("removed dns-01 challenge record", "fqdn", p.fqdn)
	return nil
}

// lookupResolvers are where CNAMEs are followed: the configured resolvers,
// else the system's.
func (s *dnsSolver) lookupResolvers() []string {
	if len(s.conf.Resolvers) > 0 {
		return s.conf.Resolvers
	}
	return dns.SystemResolvers()
}

// checkResolvers are where propagation is checked: the configured
// resolvers, else the rfc2136 server, else the zone's authoritative servers
// as the system's resolvers name them.
func (s *dnsSolver) checkResolvers(ctx context.Context, fqdn string) ([]string, error) {
	switch {
	case len(s.conf.Resolvers) > 0:
		return s.conf.Resolvers, nil
	case s.conf.Provider == config.DNSRFC2136:
		return []string{s.conf.Server}, nil
	}
	auth, err := dns.Authoritative(ctx, fqdn, dns.SystemResolvers())
	if err != nil {
		return nil, fmt.Errorf("dns-01: finding the authoritative servers to check %s on: %w; set resolvers", fqdn, err)
	}
	return auth, nil
}

func dnsFqdn(s string) string {
	if s == "" || s[len(s)-1] == '.' {
		return s
	}
	return s + "."
}
