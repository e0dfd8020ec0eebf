package certs

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/pki"
)

// onDemandObtainTimeout bounds how long a handshake waits for the first
// certificate of a name (ask, order, challenge, download). CertMagic's own
// bound is 3 minutes; a client rarely waits that long.
const onDemandObtainTimeout = 90 * time.Second

// onDemandHosts are the host patterns of one tls: on_demand site and the
// CertMagic config that obtains their certificates.
type onDemandHosts struct {
	hosts []string
	cfg   *certmagic.Config
}

// covers reports whether one of the site's hosts serves name
// (config.HostCovers).
func (o onDemandHosts) covers(name string) bool {
	for _, h := range o.hosts {
		if config.HostCovers(h, name) {
			return true
		}
	}
	return false
}

// prepareOnDemand finds or makes the on-demand CertMagic config for a
// tls: on_demand site. Nothing is ordered now: names are decided at their
// first handshake.
func (m *Manager) prepareOnDemand(p *plan, site config.Site, a ACME) (Source, error) {
	if p.gate == nil {
		return nil, errors.New("tls on_demand needs the on_demand block with ask")
	}
	a.DNS = dnsFor(site, a)
	a.onDemand = true
	ac, err := m.findOrNewACME(p, a)
	if err != nil {
		return nil, err
	}
	p.onDemand = append(p.onDemand, onDemandHosts{hosts: site.Hosts, cfg: ac.cfg})
	return onDemandSource{m: m, cfg: ac.cfg}, nil
}

// planGate keeps the gate in service when the on_demand block is unchanged
// (its window and remembered refusals stay), else makes a new one.
func (m *Manager) planGate(p *plan, conf *config.OnDemand) error {
	if conf == nil {
		return nil
	}
	if g := m.gate.Load(); g != nil && reflect.DeepEqual(g.conf, *conf) {
		p.gate = g
		return nil
	}
	g, err := newOnDemandGate(*conf, m.logger, m.opts.Now)
	if err != nil {
		return err
	}
	p.gate = g
	return nil
}

// decideOnDemand is CertMagic's OnDemand.DecisionFunc: it runs when a
// handshake needs a certificate the cache does not have, and before an
// on-demand certificate is renewed. CertMagic renews on its own schedule
// (ARI window, a random time in it, emergencies), earlier than tlsgate's
// renewalTime, so a name the cache already holds is always a renewal:
// ask is called (the burst is for new names). Only when nothing is cached
// (after a restart) is a stored certificate that is not due loaded without
// asking; one that is due is renewed only if ask still says yes; a new
// name must pass the gate. A name refused recently is refused before
// storage is read.
func (m *Manager) decideOnDemand(ctx context.Context, name string, issuers []*certmagic.ACMEIssuer) error {
	g := m.gate.Load()
	if g == nil {
		return fmt.Errorf("%w: on_demand is not configured", errRefused)
	}
	if reason := onDemandNameProblem(name); reason != "" {
		g.refuseName(name, reason)
		return fmt.Errorf("%w: %s", errRefused, reason)
	}
	if err := g.checkRemembered(name); err != nil {
		return err
	}
	if m.cachedFor(name) {
		return g.decideNew(ctx, name, true)
	}
	stored, due := m.storedOnDemand(ctx, name, issuers)
	if stored && !due {
		return nil
	}
	return g.decideNew(ctx, name, stored)
}

// cachedFor reports whether the cache holds a certificate naming name
// itself (a wildcard of another site does not make this a renewal).
func (m *Manager) cachedFor(name string) bool {
	for _, c := range m.cache.AllMatchingCertificates(name) {
		for _, n := range c.Names {
			if strings.EqualFold(n, name) {
				return true
			}
		}
	}
	return false
}

// storedOnDemand reports whether storage has a certificate for name from
// one of issuers, and whether it is due for renewal.
func (m *Manager) storedOnDemand(ctx context.Context, name string, issuers []*certmagic.ACMEIssuer) (stored, due bool) {
	for _, iss := range issuers {
		data, err := m.storage.Load(ctx, certmagic.StorageKeys.SiteCert(iss.IssuerKey(), name))
		if err != nil {
			continue
		}
		chain, err := pki.ParseCertificatesPEM(data)
		if err != nil || len(chain) == 0 {
			continue
		}
		key := certmagic.StorageKeys.SiteMeta(iss.IssuerKey(), name)
		due := !m.opts.Now().Before(renewalTime(chain[0], storedARI(ctx, m.storage, key)))
		return true, due
	}
	return false, false
}

// onDemandNameProblem says why a TLS server name must not get an on-demand
// certificate, or "" when it is a DNS name with at least two labels or an
// IP address. It runs before anything is asked or stored.
func onDemandNameProblem(name string) string {
	switch {
	case name == "":
		return "the client sent no server name (SNI)"
	case len(name) > 253:
		return "the server name is longer than 253 characters"
	}
	if a, err := netip.ParseAddr(name); err == nil {
		if a.Zone() != "" {
			return "an IP address with a zone"
		}
		return ""
	}
	if p := config.DNSNameProblem(name); p != "" {
		return "not a DNS name: " + p
	}
	if !strings.Contains(name, ".") {
		return "a single-label name (no CA issues for those)"
	}
	return ""
}

// onDemandSource serves a tls: on_demand site: from the cache, else from
// storage, else by obtaining a certificate while the handshake waits.
type onDemandSource struct {
	m   *Manager
	cfg *certmagic.Config
}

func (s onDemandSource) Certificate(hello *tls.ClientHelloInfo, name string) (*tls.Certificate, error) {
	// Names compare lower-case without the trailing dot, as SNI is matched.
	norm := strings.ToLower(strings.TrimSuffix(name, "."))
	reason := onDemandNameProblem(norm)
	if hello.ServerName == "" && strings.Contains(name, "*") {
		// No SNI, and the site's first host is a pattern ("*", "*.x").
		reason = "the client sent no server name (SNI), and this site's hosts are patterns"
	}
	if reason != "" {
		if g := s.m.gate.Load(); g != nil {
			g.refuseName(name, reason)
		}
		return nil, nil // unrecognized_name, before ask or storage is touched
	}
	h := *hello
	h.ServerName = norm
	// The order runs under the Manager's lifetime, not the connection's:
	// a client that gives up still leaves a certificate for its retry.
	ctx, cancel := context.WithTimeout(s.m.ctx, onDemandObtainTimeout)
	defer cancel()
	cert, err := s.cfg.GetCertificateWithContext(ctx, &h)
	if errors.Is(err, errRefused) {
		return nil, nil // logged by the gate; unrecognized_name
	}
	if err != nil {
		s.m.logger.Warn("on-demand certificate not available", "name", norm, "error", err, "hint", Hint(err))
		return nil, err // internal_error, as Caddy answers
	}
	return cert, nil
}
