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
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/tlsgate/tlsgate/internal/pki"
)

// Modes a site's certificate can come from; they match the config's tls values.
const (
	ModeLocal = "local"
	ModeAdhoc = "adhoc"
	ModeFile  = "file"
	ModeACME  = "acme"
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

	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// SiteTLS is what the Manager needs to know about one site.
type SiteTLS struct {
	Hosts []string
	Mode  string // ModeLocal, ModeAdhoc, ModeFile or ModeACME

	// File mode only.
	CertFile, KeyFile, KeyPassphraseFile string

	// DNS is this site's own dns-01 provider, overriding ACME.DNS; nil
	// means ACME.DNS. Used only when ACME.Challenges has dns-01.
	DNS *DNS
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

	// mu guards everything below.
	mu    sync.Mutex
	local *certmagic.Config // nil until a site uses the local CA
	// acmes are the ACME configs of the last Apply, one per distinct
	// setting (sites with different dns blocks get different ones); the
	// first is the fallback of configForCert.
	acmes       []*acmeConfig
	acmeIssuers []*certmagic.ACMEIssuer // of every config in acmes
	acmeTLS     *tls.Config             // answers tls-alpn-01 handshakes
	adhoc       map[string]*staticSource
	files       map[fileKey]*fileSource

	// managed maps each managed name to the CertMagic config that keeps
	// it; replaced whole by Apply and read without mu by the cache's
	// maintenance (which must never wait for an Apply in progress).
	managed atomic.Pointer[managedSet]

	status *statusBook

	stop chan struct{}
	done chan struct{}
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
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{
		opts:    opts,
		logger:  logger,
		storage: opts.Storage,
		adhoc:   make(map[string]*staticSource),
		files:   make(map[fileKey]*fileSource),
		status:  newStatusBook(),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if m.storage == nil {
		m.storage = &certmagic.FileStorage{Path: opts.DataDir}
	}
	m.managed.Store(&managedSet{})
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   m.configForCert,
		RenewCheckInterval: opts.RenewInterval,
		Logger:             newZapLogger(logger),
	})
	go m.maintain()
	return m, nil
}

// Stop ends maintenance and the file watcher. The Manager must not be used after.
func (m *Manager) Stop() {
	m.cancel()
	close(m.stop)
	<-m.done
	m.cache.Stop()
}

// LocalCADir is where the local CA lives.
func (m *Manager) LocalCADir() string { return filepath.Join(m.opts.DataDir, "ca") }

// Apply makes sure every site has a certificate and returns one Source per
// site, in order. It blocks until local-CA certificates are in the cache, so
// the first handshake after Apply succeeds; ACME certificates are obtained in
// the background (their progress is logged). Sites no longer present stop
// being watched and renewed; certificates that are still needed are reused.
func (m *Manager) Apply(ctx context.Context, sites []SiteTLS, acmeConf ACME) ([]Source, error) {
	m.mu.Lock()
	defer m.mu.Unlock()

	sources := make([]Source, len(sites))
	adhoc := make(map[string]*staticSource)
	files := make(map[fileKey]*fileSource)
	managed := make(map[string]*certmagic.Config)
	var acmes []*acmeConfig
	var errs []error
	for i, site := range sites {
		var err error
		switch site.Mode {
		case ModeLocal:
			sources[i], err = m.applyLocalLocked(ctx, site.Hosts, managed)
		case ModeACME:
			sources[i], err = m.applyACMELocked(site, acmeConf, managed, &acmes)
		case ModeAdhoc:
			sources[i], err = m.applyAdhocLocked(site.Hosts, adhoc)
		case ModeFile:
			sources[i], err = m.applyFileLocked(site, files)
		default:
			err = fmt.Errorf("unknown tls mode %q", site.Mode)
		}
		if err != nil {
			errs = append(errs, &SiteError{Site: i, Err: err})
		}
	}
	if err := errors.Join(errs...); err != nil {
		// Obtains already started under the new configs keep running in
		// the background: keep answering their challenges too.
		m.setACMELocked(append(slices.Clone(m.acmes), acmes...))
		return nil, err
	}
	m.unmanageLocked(managed)
	m.adhoc, m.files = adhoc, files
	m.setACMELocked(acmes)
	var fallback *certmagic.Config
	if len(acmes) > 0 {
		fallback = acmes[0].cfg
	}
	m.managed.Store(&managedSet{byName: managed, fallback: cmp.Or(fallback, m.local)})
	return sources, nil
}

// unmanageLocked stops renewing certificates of names no site has any more.
func (m *Manager) unmanageLocked(next map[string]*certmagic.Config) {
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

func (m *Manager) applyLocalLocked(ctx context.Context, hosts []string, managed map[string]*certmagic.Config) (Source, error) {
	if m.local == nil {
		ca, created, err := pki.InitLocalCA(m.LocalCADir(), m.opts.LocalCAName)
		if err != nil {
			return nil, fmt.Errorf("local CA: %w", err)
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
	}
	if err := m.local.ManageSync(ctx, hosts); err != nil {
		return nil, fmt.Errorf("local certificate: %w", err)
	}
	for _, h := range hosts {
		managed[h] = m.local
	}
	return managedSource{cfg: m.local}, nil
}

// applyACMELocked hands a site's names to the ACME config for its
// settings, reusing one from this Apply (acmes) or the last before making
// a new one.
func (m *Manager) applyACMELocked(site SiteTLS, a ACME, managed map[string]*certmagic.Config, acmes *[]*acmeConfig) (Source, error) {
	a.DNS = dnsFor(site, a)
	ac := findACME(*acmes, a)
	if ac == nil {
		if ac = findACME(m.acmes, a); ac == nil {
			cfg, issuers, err := m.newACMEConfig(a)
			if err != nil {
				return nil, err
			}
			ac = &acmeConfig{conf: a, cfg: cfg, issuers: issuers}
		}
		*acmes = append(*acmes, ac)
	}
	// Names already managed by this config are not handed over again: a
	// reload must not restart their obtain loops.
	var fresh []string
	for _, h := range site.Hosts {
		if m.managed.Load().byName[h] != ac.cfg {
			fresh = append(fresh, h)
		}
		managed[h] = ac.cfg
	}
	if len(fresh) > 0 {
		// Obtaining can take minutes (and retries for days): it runs in the
		// background, under the Manager's lifetime, not the caller's.
		if err := ac.cfg.ManageAsync(m.ctx, fresh); err != nil {
			return nil, fmt.Errorf("acme: %w", err)
		}
	}
	return managedSource{cfg: ac.cfg}, nil
}

func (m *Manager) applyAdhocLocked(hosts []string, next map[string]*staticSource) (Source, error) {
	key := strings.Join(slices.Sorted(slices.Values(hosts)), ",")
	src := m.adhoc[key]
	// Regenerate when missing or within a month of expiry: ad-hoc certificates
	// are never stored, and a long-running instance must not serve an expired one.
	if src == nil || time.Until(src.cert.Leaf.NotAfter) < 30*24*time.Hour {
		cert, err := pki.SelfSigned(hosts, 365*24*time.Hour)
		if err != nil {
			return nil, fmt.Errorf("ad-hoc certificate: %w", err)
		}
		src = &staticSource{cert: &cert}
	}
	next[key] = src
	return src, nil
}

// configForCert tells the cache which CertMagic config maintains a
// certificate: the one that manages its names.
func (m *Manager) configForCert(c certmagic.Certificate) (*certmagic.Config, error) {
	set := m.managed.Load()
	for _, name := range c.Names {
		if cfg := set.byName[name]; cfg != nil {
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
	fallback *certmagic.Config
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

// staticSource serves one certificate made in memory.
type staticSource struct{ cert *tls.Certificate }

func (s *staticSource) Certificate(*tls.ClientHelloInfo, string) (*tls.Certificate, error) {
	return s.cert, nil
}
