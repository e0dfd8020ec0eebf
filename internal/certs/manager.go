// Package certs wires CertMagic to tlsgate: one certificate cache for the
// process, the local-CA issuer, file and ad-hoc certificates, and the Source
// that hands a site's certificate to a TLS handshake.
//
// Start at New, then call Apply with the TLS settings of every site each time
// a config is compiled. Apply returns one Source per site; the caller keeps
// them in its compiled runtime and asks them for certificates during
// handshakes.
package certs

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/events"
	"github.com/tlsgate/tlsgate/internal/pki"
)

// Options configure a Manager. The zero value of each field has the meaning
// its comment gives.
type Options struct {
	// DataDir holds file storage and the local CA (DataDir/ca). Required.
	DataDir string

	// Storage keeps managed certificates and locks. Nil means CertMagic's
	// file storage under DataDir.
	Storage certmagic.Storage

	// Logger receives certificate events. Nil discards them.
	Logger *slog.Logger

	// LocalLeafValidity is how long local-CA leaves live; CertMagic renews
	// them in the last third. Zero means 7 days.
	LocalLeafValidity time.Duration

	// LocalCAName names the local CA when it is created. Zero means pki's default.
	LocalCAName string

	// FilePollInterval is how often file certificates are checked for changes.
	// Zero means 2 seconds.
	FilePollInterval time.Duration

	// RenewInterval is how often managed certificates are checked for
	// renewal. Zero means CertMagic's default (10 minutes).
	RenewInterval time.Duration

	// CacheCapacity caps the certificates held in memory. Zero means
	// defaultCacheCapacity. Past it CertMagic evicts a random managed one;
	// an evicted certificate is loaded again from storage at its next
	// handshake (on-demand names, and every name once the cache is 90%
	// full).
	CacheCapacity int

	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// Events receives cert_obtained, cert_renewed and cert_failed. Nil
	// discards them.
	Events events.Emitter
}

// Source returns the certificate a site presents for one handshake. name is
// the host name (or IP) the certificate must cover.
type Source interface {
	Certificate(hello *tls.ClientHelloInfo, name string) (*tls.Certificate, error)
}

// SiteError is a problem with the certificate of the site at index Site of
// the slice given to Apply.
type SiteError struct {
	Site int
	Err  error
}

func (e *SiteError) Error() string { return fmt.Sprintf("site %d: %v", e.Site, e.Err) }
func (e *SiteError) Unwrap() error { return e.Err }

// defaultCacheCapacity bounds the certificate cache as Caddy does: with
// on-demand TLS, every name a client asks for (and ask allows) adds one,
// and nothing else would ever bound it.
const defaultCacheCapacity = 10_000

// Manager owns the certificate cache and everything that keeps certificates
// fresh. It is safe for concurrent use. Call Stop when done.
type Manager struct {
	opts    Options
	logger  *slog.Logger
	storage certmagic.Storage
	cache   *certmagic.Cache

	// ctx lives as long as the Manager: CertMagic's background obtain and
	// renew retries run under it.
	ctx    context.Context
	cancel context.CancelFunc

	// applyMu serialises Apply, which may wait on storage locks and the
	// local CA; it is never taken on a request or handshake path.
	applyMu sync.Mutex
	// acmes are the ACME configs of the last Apply, one per distinct
	// setting (sites with different dns blocks get different ones); the
	// first is the fallback of configForCert. Guarded by applyMu.
	acmes []*acmeConfig

	// mu guards local, adhoc and files: held only briefly, never across
	// storage or network work.
	mu    sync.Mutex
	local *certmagic.Config // nil until a site uses the local CA
	adhoc map[string]*adhocCert
	files map[fileKey]*fileSource

	// challenges answer ACME challenges; read on every challenge request
	// and acme-tls/1 handshake without a lock.
	challenges atomic.Pointer[challengeState]

	// managed maps each managed name to the CertMagic config that keeps
	// it; replaced whole by Apply and read without mu by the cache's
	// maintenance (which must never wait for an Apply in progress).
	managed atomic.Pointer[managedSet]

	// gate decides on-demand names (nil: no on_demand block); replaced by
	// Apply, read by handshakes.
	gate atomic.Pointer[onDemandGate]

	status *statusBook

	// ocspClient asks OCSP responders for file certificates' staples;
	// ocspKick wakes ocspLoop (files loaded or changed).
	ocspClient *http.Client
	ocspKick   chan struct{}

	stop     chan struct{}
	done     chan struct{} // maintain has returned
	ocspDone chan struct{} // ocspLoop has returned
}

// New starts a Manager: the certificate cache with its renewal maintenance
// and the file-certificate watcher.
func New(opts Options) (*Manager, error) {
	if opts.DataDir == "" {
		return nil, errors.New("certs: no data directory")
	}
	if opts.LocalLeafValidity == 0 {
		opts.LocalLeafValidity = 7 * 24 * time.Hour
	}
	if opts.FilePollInterval == 0 {
		opts.FilePollInterval = 2 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CacheCapacity == 0 {
		opts.CacheCapacity = defaultCacheCapacity
	}
	if opts.Events == nil {
		opts.Events = events.Discard{}
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{
		opts:    opts,
		logger:  logger,
		storage: opts.Storage,
		adhoc:   make(map[string]*adhocCert),
		files:   make(map[fileKey]*fileSource),
		status:  newStatusBook(),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),

		ocspClient: &http.Client{Timeout: ocspTimeout},
		ocspKick:   make(chan struct{}, 1),
		ocspDone:   make(chan struct{}),
	}
	if m.storage == nil {
		m.storage = &certmagic.FileStorage{Path: opts.DataDir}
	}
	m.managed.Store(&managedSet{})
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   m.configForCert,
		RenewCheckInterval: opts.RenewInterval,
		Capacity:           opts.CacheCapacity,
		Logger:             newZapLogger(logger),
	})
	go m.maintain()
	go m.ocspLoop()
	return m, nil
}

// Stop ends maintenance and the file watcher. The Manager must not be used after.
func (m *Manager) Stop() {
	m.cancel()
	close(m.stop)
	<-m.done
	<-m.ocspDone
	m.cache.Stop()
}

// LocalCADir is where the local CA lives.
func (m *Manager) LocalCADir() string { return pki.LocalCADir(m.opts.DataDir) }

// Apply makes sure every site has a certificate and returns one Source per
// site, in order. It blocks until local-CA certificates are in the cache, so
// the first handshake after Apply succeeds; ACME certificates are obtained in
// the background (their progress is logged). Sites no longer present stop
// being watched and renewed; certificates that are still needed are reused.
//
// Everything that can fail for one site is checked for all sites before any
// certificate is ordered, so a rejected config starts no orders.
func (m *Manager) Apply(ctx context.Context, sites []config.Site, acmeConf ACME) ([]Source, error) {
	m.applyMu.Lock()
	defer m.applyMu.Unlock()

	p := &plan{
		sources: make([]Source, len(sites)),
		adhoc:   make(map[string]*adhocCert),
		files:   make(map[fileKey]*fileSource),
		managed: make(map[string]*certmagic.Config),
		fresh:   make(map[*certmagic.Config][]string),
	}
	if err := m.planGate(p, acmeConf.OnDemand); err != nil {
		return nil, err
	}
	// The gate is apart from the ACME configs: a changed ask must not
	// remake them (and restart every name's obtain loop).
	acmeConf.OnDemand = nil
	var errs []error
	for i, site := range sites {
		if err := m.prepare(p, i, site, acmeConf); err != nil {
			errs = append(errs, &SiteError{Site: i, Err: err})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := m.manage(ctx, p); err != nil {
		return nil, err
	}
	m.unmanage(p.managed)
	m.mu.Lock()
	m.adhoc, m.files = p.adhoc, p.files
	m.mu.Unlock()
	m.kickOCSP()
	m.acmes = p.acmes
	m.challenges.Store(newChallengeState(p.acmes))
	var fallback *certmagic.Config
	if len(p.acmes) > 0 {
		fallback = p.acmes[0].cfg
	}
	m.gate.Store(p.gate)
	m.managed.Store(&managedSet{byName: p.managed, onDemand: p.onDemand, fallback: cmp.Or(fallback, m.localConfig())})
	return p.sources, nil
}

// plan is what one Apply will put in service.
type plan struct {
	sources  []Source
	adhoc    map[string]*adhocCert
	files    map[fileKey]*fileSource
	managed  map[string]*certmagic.Config // name → the config that keeps it
	acmes    []*acmeConfig
	local    []string                       // names for the local CA, obtained synchronously
	fresh    map[*certmagic.Config][]string // ACME names new to their config
	gate     *onDemandGate                  // nil without an on_demand block
	onDemand []onDemandHosts                // the tls: on_demand sites
}

// prepare checks one site and adds it to p, without ordering anything.
func (m *Manager) prepare(p *plan, i int, site config.Site, acmeConf ACME) error {
	if site.TLS == nil {
		return errors.New("no tls mode (the config's defaults were not applied)")
	}
	var err error
	switch site.TLS.Mode {
	case config.TLSLocal:
		var cfg *certmagic.Config
		if cfg, err = m.localCA(); err == nil {
			p.local = append(p.local, site.Hosts...)
			for _, h := range site.Hosts {
				p.managed[h] = cfg
			}
			p.sources[i] = managedSource{cfg: cfg}
		}
	case config.TLSACME:
		p.sources[i], err = m.prepareACME(p, site, acmeConf)
	case config.TLSOnDemand:
		p.sources[i], err = m.prepareOnDemand(p, site, acmeConf)
	case config.TLSAdhoc:
		p.sources[i], err = m.adhocSource(site.Hosts, p.adhoc)
	case config.TLSFile:
		p.sources[i], err = m.fileCert(site, p.files)
	default:
		err = fmt.Errorf("unknown tls mode %q", site.TLS.Mode)
	}
	return err
}

// manage hands the plan's names to CertMagic: local ones synchronously,
// ACME ones in the background.
func (m *Manager) manage(ctx context.Context, p *plan) error {
	if len(p.local) > 0 {
		if err := m.localConfig().ManageSync(ctx, p.local); err != nil {
			return fmt.Errorf("local certificate: %w", err)
		}
	}
	for _, ac := range p.acmes {
		names := p.fresh[ac.cfg]
		if len(names) == 0 {
			continue
		}
		// Obtaining can take minutes (and retries for days): it runs in the
		// background, under the Manager's lifetime, not the caller's.
		if err := ac.cfg.ManageAsync(m.ctx, names); err != nil {
			return fmt.Errorf("acme: %w", err)
		}
	}
	return nil
}

// unmanage stops renewing certificates of names no site has any more.
func (m *Manager) unmanage(next map[string]*certmagic.Config) {
	var gone []certmagic.SubjectIssuer
	for name := range m.managed.Load().byName {
		if next[name] == nil {
			gone = append(gone, certmagic.SubjectIssuer{Subject: name})
		}
	}
	if len(gone) > 0 {
		m.cache.RemoveManaged(gone)
	}
}

// localCA returns the CertMagic config of the local CA, creating the CA on
// first use.
func (m *Manager) localCA() (*certmagic.Config, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.local != nil {
		return m.local, nil
	}
	ca, created, err := pki.InitLocalCA(m.LocalCADir(), m.opts.LocalCAName)
	if err != nil {
		return nil, err
	}
	if created {
		m.logger.Info("created local CA", "root", pki.RootCertPath(m.LocalCADir()))
	}
	m.local = certmagic.New(m.cache, certmagic.Config{
		Storage: m.storage,
		Issuers: []certmagic.Issuer{&localIssuer{ca: ca, validity: m.opts.LocalLeafValidity}},
		Logger:  newZapLogger(m.logger),
		OnEvent: m.onEvent,
	})
	return m.local, nil
}

// prepareACME finds the ACME config for each of a site's names, reusing
// one from this Apply or the last before making a new one, and notes which
// names their config does not manage yet. A site's names may need two
// configs: IP addresses never use its dns-01 provider (RFC 8738 allows only
// http-01 and tls-alpn-01 for them, and CertMagic would try dns-01 alone).
func (m *Manager) prepareACME(p *plan, site config.Site, a ACME) (Source, error) {
	src := acmeSource{byName: make(map[string]*certmagic.Config, len(site.Hosts))}
	fallbackIP := false // src.fallback is the config of an IP address
	for _, h := range site.Hosts {
		ha := a
		ha.DNS = dnsForHost(site, h, a)
		ac, err := m.findOrNewACME(p, ha)
		if err != nil {
			return nil, err
		}
		// Names already managed by this config are not handed over again: a
		// reload must not restart their obtain loops.
		if m.managed.Load().byName[h] != ac.cfg {
			p.fresh[ac.cfg] = append(p.fresh[ac.cfg], h)
		}
		p.managed[h] = ac.cfg
		src.byName[h] = ac.cfg
		if src.fallback == nil || fallbackIP && !certmagic.SubjectIsIP(h) {
			src.fallback, fallbackIP = ac.cfg, certmagic.SubjectIsIP(h)
		}
	}
	return src, nil
}

// acmeSource serves an ACME site's certificates from the config that keeps
// each name; a name the site does not list (a wildcard's match) asks the
// config of its first host that is not an IP address.
type acmeSource struct {
	byName   map[string]*certmagic.Config
	fallback *certmagic.Config
}

func (s acmeSource) Certificate(hello *tls.ClientHelloInfo, name string) (*tls.Certificate, error) {
	cfg := s.byName[name]
	if cfg == nil {
		cfg = s.fallback
	}
	return managedSource{cfg: cfg}.Certificate(hello, name)
}

// findOrNewACME returns the ACME config built from settings a: one from
// this Apply, else from the last, else a new one.
func (m *Manager) findOrNewACME(p *plan, a ACME) (*acmeConfig, error) {
	if ac := findACME(p.acmes, a); ac != nil {
		return ac, nil
	}
	ac := findACME(m.acmes, a)
	if ac == nil {
		cfg, issuers, err := m.newACMEConfig(a)
		if err != nil {
			return nil, err
		}
		ac = &acmeConfig{conf: a, cfg: cfg, issuers: issuers}
	}
	p.acmes = append(p.acmes, ac)
	return ac, nil
}

// adhocSource returns the ad-hoc certificate for hosts, reusing the one in
// service while it has more than a month left.
func (m *Manager) adhocSource(hosts []string, next map[string]*adhocCert) (Source, error) {
	key := pki.NamesKey(hosts)
	m.mu.Lock()
	src := m.adhoc[key]
	m.mu.Unlock()
	if src == nil {
		src = &adhocCert{hosts: hosts}
	}
	if err := src.refresh(m.opts.Now()); err != nil {
		return nil, err
	}
	next[key] = src
	return src, nil
}

// refreshAdhoc makes new ad-hoc certificates for those in their last month,
// so an instance that runs for a year without a reload never serves an
// expired one.
func (m *Manager) refreshAdhoc() {
	m.mu.Lock()
	list := slices.Collect(maps.Values(m.adhoc))
	m.mu.Unlock()
	for _, a := range list {
		if err := a.refresh(m.opts.Now()); err != nil {
			m.logger.Error("could not renew an ad-hoc certificate", "hosts", a.hosts, "error", err)
		}
	}
}

// Ad-hoc certificates live a year and are made anew in their last month,
// on reload or by the daily maintenance.
const (
	adhocValidity    = 365 * 24 * time.Hour
	adhocRenewBefore = 30 * 24 * time.Hour
)

// configForCert tells the cache which CertMagic config maintains a
// certificate: the one that manages its names.
func (m *Manager) configForCert(c certmagic.Certificate) (*certmagic.Config, error) {
	set := m.managed.Load()
	for _, name := range c.Names {
		if cfg := set.configFor(name); cfg != nil {
			return cfg, nil
		}
	}
	// A certificate for names no site has any more: any config can look
	// after it until the cache drops it.
	if set.fallback != nil {
		return set.fallback, nil
	}
	return nil, errors.New("no managed certificate configuration")
}

// managedSet is one Apply's view of managed names.
type managedSet struct {
	byName   map[string]*certmagic.Config
	onDemand []onDemandHosts
	fallback *certmagic.Config
}

// configFor is the config that manages name: the one it is listed with,
// else that of an on-demand site covering it; nil for neither.
func (s *managedSet) configFor(name string) *certmagic.Config {
	if cfg := s.byName[name]; cfg != nil {
		return cfg
	}
	for _, o := range s.onDemand {
		if o.covers(name) {
			return o.cfg
		}
	}
	return nil
}

// managedSource serves certificates CertMagic manages.
type managedSource struct{ cfg *certmagic.Config }

func (s managedSource) Certificate(hello *tls.ClientHelloInfo, name string) (*tls.Certificate, error) {
	if hello.ServerName != name {
		// Clients that send no SNI (https://127.0.0.1/) still get the
		// certificate chosen for them.
		h := *hello
		h.ServerName = name
		hello = &h
	}
	return s.cfg.GetCertificate(hello)
}

// adhocCert serves a self-signed certificate made in memory (tls: adhoc),
// never stored.
type adhocCert struct {
	hosts []string
	cert  atomic.Pointer[tls.Certificate]
}

func (a *adhocCert) Certificate(*tls.ClientHelloInfo, string) (*tls.Certificate, error) {
	return a.cert.Load(), nil
}

// refresh makes a new certificate when there is none or it has less than
// adhocRenewBefore left.
func (a *adhocCert) refresh(now time.Time) error {
	if c := a.cert.Load(); c != nil && c.Leaf.NotAfter.Sub(now) >= adhocRenewBefore {
		return nil
	}
	cert, err := pki.SelfSigned(a.hosts, adhocValidity)
	if err != nil {
		return fmt.Errorf("ad-hoc certificate: %w", err)
	}
	a.cert.Store(&cert)
	return nil
}
