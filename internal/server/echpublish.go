package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/tlsgate/tlsgate/internal/certs"
	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/dns"
)

// echRecordTTL is the TTL of published HTTPS records: short, so clients
// follow a rotation long before the previous key is dropped.
const echRecordTTL = 5 * time.Minute

// publishECH writes the HTTPS record carrying list for every site host
// that is a DNS name (not a wildcard, catch-all or IP), through the DNS
// provider the site's names are in (config.SiteDNS: its dns block, else
// acme.dns), when that provider is rfc2136. The hosts, ports and DNS
// settings are the Runtime in service's. Hosts whose record is already
// published as it would be written now are not written again.
func (s *Server) publishECH(ctx context.Context, list []byte) error {
	targets, skipped := echTargets(s.rt.Load().cfg, s.echCfg, list)
	if len(skipped) > 0 {
		s.logger.Info("HTTPS records not published for hosts whose dns provider is not rfc2136; publish them yourself (tlsgate ech config)",
			"component", "ech", "hosts", skipped)
	}
	return s.echPub.publish(ctx, targets)
}

// echTarget is one HTTPS record to write and the provider to write it with.
type echTarget struct {
	rec dns.HTTPSRecord
	dns config.DNS
}

// echTargets lists the HTTPS records of cfg's site hosts for list. The
// hosts of sites whose DNS provider is not rfc2136 are returned as skipped
// (config requires acme.dns to be rfc2136 with ech.publish; a site's own
// dns block may be another).
func echTargets(cfg *config.Config, e *config.ECH, list []byte) (out []echTarget, skipped []string) {
	ttl := max(min(echRecordTTL, time.Duration(e.Rotate)/2), time.Second)
	https := portOf(*cfg.Listen.HTTPS, 443)
	alpn := []string{"h2"}
	// One HTTPS record has one port for every protocol it lists: h3 only
	// when QUIC listens on the https port.
	if h3 := *cfg.Listen.HTTP3; h3 != "" && portOf(h3, 443) == https {
		alpn = append(alpn, "h3")
	}
	for _, sc := range cfg.Sites {
		d := config.SiteDNS(sc, cfg.ACME.DNS)
		for _, h := range sc.Hosts {
			if config.IsHostPattern(h) || config.IsIP(h) {
				continue
			}
			if d == nil || d.Provider != config.DNSRFC2136 {
				skipped = append(skipped, h)
				continue
			}
			out = append(out, echTarget{
				rec: dns.HTTPSRecord{Name: h, TTL: ttl, ALPN: alpn, Port: uint16(https), ECH: list},
				dns: *d,
			})
		}
	}
	return out, skipped
}

// replaceHTTPS writes rec through the rfc2136 provider d.
func replaceHTTPS(ctx context.Context, d config.DNS, rec dns.HTTPSRecord) error {
	return certs.NewRFC2136(d).ReplaceHTTPS(ctx, rec)
}

// echPublisher writes HTTPS records and remembers, per host, what it
// wrote last: a later publish writes only the hosts whose record changed
// or failed, so one failing host neither rewrites every other host nor
// makes them fail again. The ech.Manager retries a failed publish with
// backoff.
type echPublisher struct {
	replace func(ctx context.Context, d config.DNS, rec dns.HTTPSRecord) error
	logger  *slog.Logger

	// mu guards done (publish runs on the ech.Manager's goroutine; the
	// lock keeps that an implementation detail).
	mu sync.Mutex
	// done maps a host to the record (and provider) last written for it.
	done map[string]echTarget
}

func newECHPublisher(replace func(context.Context, config.DNS, dns.HTTPSRecord) error, logger *slog.Logger) *echPublisher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &echPublisher{replace: replace, logger: logger, done: make(map[string]echTarget)}
}

// publish writes the targets not already written as they are; hosts no
// longer among targets are forgotten (a host added back is written again).
func (p *echPublisher) publish(ctx context.Context, targets []echTarget) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	keep := make(map[string]bool, len(targets))
	var errs []error
	for _, t := range targets {
		keep[t.rec.Name] = true
		if last, ok := p.done[t.rec.Name]; ok && reflect.DeepEqual(last, t) {
			continue
		}
		if err := p.replace(ctx, t.dns, t.rec); err != nil {
			delete(p.done, t.rec.Name)
			errs = append(errs, fmt.Errorf("HTTPS record of %s: %w", t.rec.Name, err))
			continue
		}
		p.done[t.rec.Name] = t
		p.logger.Debug("HTTPS record published", "name", t.rec.Name)
	}
	for h := range p.done {
		if !keep[h] {
			delete(p.done, h)
		}
	}
	return errors.Join(errs...)
}
