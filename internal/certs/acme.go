package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strconv"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3/acme"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/pki"
)

// ACME is how certificates are obtained from an ACME CA. One account per
// directory URL is shared by every site.
type ACME struct {
	// Directory is the CA's directory URL. Required when a site uses ACME.
	Directory string
	// Fallback is a second directory URL tried when Directory fails; "" for none.
	Fallback string
	// Email is the account contact.
	Email string
	// TrustedRoots are PEM files of extra roots for the CA's own HTTPS.
	TrustedRoots []string
	// Challenges lists the challenge types to use (config.ChallengeHTTP01,
	// ChallengeTLSALPN01, ChallengeDNS01). With dns-01 and a DNS provider
	// (DNS, or a site's own), that site's certificates use dns-01 alone, as
	// CertMagic does.
	Challenges []string
	// DNS is the dns-01 provider for sites without their own; nil for none.
	DNS *config.DNS
	// EAB binds the account to one at the CA (ZeroSSL); nil for none.
	EAB *EAB
	// Profile is the ACME profile to ask for; "" for the CA's default.
	Profile string
	// HTTPAddr and HTTPSAddr are where our own listeners answer http-01 and
	// tls-alpn-01; "" when that listener is off (the challenge is then not
	// used). CertMagic's solvers find these addresses taken and leave the
	// answering to us.
	HTTPAddr, HTTPSAddr string
	// OnDemand is the on_demand block (defaults applied); nil when absent.
	// Required by tls: on_demand sites.
	OnDemand *config.OnDemand

	// onDemand marks the settings of tls: on_demand sites, whose CertMagic
	// config obtains at handshakes (set by Apply, never by callers).
	onDemand bool
}

// EAB is an External Account Binding.
type EAB struct{ KeyID, MACKey string }

// newACMEConfig builds the CertMagic config that obtains and renews ACME
// certificates for a, with the primary issuer first and the fallback second.
func (m *Manager) newACMEConfig(a ACME) (*certmagic.Config, []*certmagic.ACMEIssuer, error) {
	roots, err := loadRoots(a.TrustedRoots)
	if err != nil {
		return nil, nil, err
	}
	var solver *dnsSolver
	if a.DNS != nil {
		// One solver for both issuers: it remembers what it presented.
		if solver, err = newDNSSolver(*a.DNS, m.logger.With("component", "dns-01")); err != nil {
			return nil, nil, err
		}
	}
	tmplCfg := certmagic.Config{
		Storage: m.storage,
		Logger:  newZapLogger(m.logger),
		OnEvent: m.onEvent,
	}
	var issuers []*certmagic.ACMEIssuer
	if a.onDemand {
		tmplCfg.OnDemand = &certmagic.OnDemandConfig{DecisionFunc: func(ctx context.Context, name string) error {
			return m.decideOnDemand(ctx, name, issuers)
		}}
	}
	cfg := certmagic.New(m.cache, tmplCfg)
	for _, dir := range []string{a.Directory, a.Fallback} {
		if dir == "" {
			continue
		}
		tmpl := certmagic.ACMEIssuer{
			CA:                      dir,
			Email:                   a.Email,
			Agreed:                  true,
			TrustedRoots:            roots,
			Profile:                 a.Profile,
			DisableHTTPChallenge:    a.HTTPAddr == "" || !slices.Contains(a.Challenges, config.ChallengeHTTP01),
			DisableTLSALPNChallenge: a.HTTPSAddr == "" || !slices.Contains(a.Challenges, config.ChallengeTLSALPN01),
			Logger:                  newZapLogger(m.logger),
		}
		if a.EAB != nil && dir == a.Directory {
			tmpl.ExternalAccount = &acme.EAB{KeyID: a.EAB.KeyID, MACKey: a.EAB.MACKey}
		}
		if err := setChallengeAddrs(&tmpl, a); err != nil {
			return nil, nil, err
		}
		if solver != nil {
			tmpl.DNS01Solver = solver
		}
		issuers = append(issuers, certmagic.NewACMEIssuer(cfg, tmpl))
	}
	// certmagic.New put a default Let's Encrypt issuer in; ours replace it.
	cfg.Issuers = nil
	for _, iss := range issuers {
		cfg.Issuers = append(cfg.Issuers, &backoffIssuer{ACMEIssuer: iss, storage: m.storage, now: m.opts.Now, logger: m.logger})
	}
	return cfg, issuers, nil
}

// acmeConfig is one CertMagic config for ACME sites and the settings it
// was built from.
type acmeConfig struct {
	conf    ACME // with DNS set to the provider its sites use, or nil
	cfg     *certmagic.Config
	issuers []*certmagic.ACMEIssuer
}

// findACME returns the config in list built from settings a, or nil.
func findACME(list []*acmeConfig, a ACME) *acmeConfig {
	for _, ac := range list {
		if reflect.DeepEqual(ac.conf, a) {
			return ac
		}
	}
	return nil
}

// dnsFor is the dns-01 provider of a site: its own, else acme.dns, and
// none when dns-01 is not among the challenges.
func dnsFor(site config.Site, a ACME) *config.DNS {
	if !slices.Contains(a.Challenges, config.ChallengeDNS01) {
		return nil
	}
	return config.SiteDNS(site, a.DNS)
}

// dnsForHost is dnsFor for one host of a site: none for an IP address,
// which no DNS zone can prove (RFC 8738 allows http-01 and tls-alpn-01).
func dnsForHost(site config.Site, host string, a ACME) *config.DNS {
	if certmagic.SubjectIsIP(host) {
		return nil
	}
	return dnsFor(site, a)
}

// challengeState is what answers ACME challenges: the issuers of every
// active config answer http-01, and tls answers tls-alpn-01 (CertMagic keeps
// challenge data per process and in storage, so any config would do; one
// that does not use dns-01 is preferred).
type challengeState struct {
	issuers []*certmagic.ACMEIssuer
	tls     *tls.Config
}

func newChallengeState(list []*acmeConfig) *challengeState {
	st := &challengeState{}
	viaDNS := false // st.tls is from a dns-01 config
	for _, ac := range list {
		st.issuers = append(st.issuers, ac.issuers...)
		if st.tls == nil || (viaDNS && ac.conf.DNS == nil) {
			viaDNS = ac.conf.DNS != nil
			st.tls = &tls.Config{
				MinVersion:     tls.VersionTLS12,
				NextProtos:     []string{"acme-tls/1"},
				GetCertificate: ac.cfg.GetCertificate,
			}
		}
	}
	return st
}

// setChallengeAddrs points CertMagic's challenge solvers at our listeners'
// exact addresses: binding them fails with "address in use", which CertMagic
// takes to mean the owner of the port answers the challenge — we do.
func setChallengeAddrs(tmpl *certmagic.ACMEIssuer, a ACME) error {
	for _, addr := range []string{a.HTTPAddr, a.HTTPSAddr} {
		if addr == "" {
			continue
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("listen address %q: %w", addr, err)
		}
		n, err := strconv.Atoi(port)
		if err != nil {
			return fmt.Errorf("listen address %q: port is not a number", addr)
		}
		tmpl.ListenHost = host
		if addr == a.HTTPAddr {
			tmpl.AltHTTPPort = n
		} else {
			tmpl.AltTLSALPNPort = n
		}
	}
	return nil
}

func loadRoots(files []string) (*x509.CertPool, error) {
	if len(files) == 0 {
		return nil, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	for _, f := range files {
		if err := pki.AppendCertFile(pool, f, pki.PoolLenient); err != nil {
			return nil, fmt.Errorf("acme.trusted_roots: %w", err)
		}
	}
	return pool, nil
}

// HandleHTTPChallenge answers an ACME http-01 challenge request and reports
// whether it did. Call it on the plain-HTTP listener before anything else.
func (m *Manager) HandleHTTPChallenge(w http.ResponseWriter, r *http.Request) bool {
	if !certmagic.LooksLikeHTTPChallenge(r) {
		return false
	}
	st := m.challenges.Load()
	if st == nil {
		return false
	}
	for _, iss := range st.issuers {
		if iss.HandleHTTPChallenge(w, r) {
			return true
		}
	}
	return false
}

// ChallengeTLSConfig returns the TLS config that answers tls-alpn-01
// challenges (ALPN acme-tls/1), or nil when no ACME config is active.
func (m *Manager) ChallengeTLSConfig() *tls.Config {
	if st := m.challenges.Load(); st != nil {
		return st.tls
	}
	return nil
}
