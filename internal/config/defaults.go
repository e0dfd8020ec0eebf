package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Every default value lives in this file, so they can be read (and patched)
// in one place.
const (
	defaultHTTPAddr          = ":80"
	defaultHTTPSAddr         = ":443"
	defaultAdminAddr         = "127.0.0.1:2019"
	defaultRootDataDir       = "/var/lib/tlsgate"
	defaultShutdownTimeout   = 30 * time.Second
	defaultRenewInterval     = 10 * time.Minute
	defaultMaxHeaderBytes    = 1 << 20
	defaultReadHeaderTimeout = 10 * time.Second
	defaultIdleTimeout       = 2 * time.Minute
	defaultACMEDirectory     = "letsencrypt"
	defaultStorageBackend    = StorageFile
	defaultEtcdPrefix        = "tlsgate/"
	defaultEtcdDialTimeout   = 5 * time.Second
	defaultTSIGAlgorithm     = "hmac-sha256"
	defaultPropagation       = 2 * time.Minute
	defaultClientAuthMode    = ClientAuthRequire
	defaultRoutePath         = "/"
	defaultLB                = LBRoundRobin
	defaultRouteTimeout      = 60 * time.Second
	defaultDialTimeout       = 5 * time.Second
	defaultRespondStatus     = 200
	defaultStaticIndex       = "index.html"
	defaultRedirectStatus    = 308
	defaultMaxBodyBytes      = 100 << 20
	defaultCompressMinLength = 512
	defaultBodyReadTimeout   = 60 * time.Second
	// defaultResponseWriteTimeout is nginx's send_timeout.
	defaultResponseWriteTimeout = 60 * time.Second
	defaultMaxConnections       = 10000
	defaultMaxStreams           = 250
	defaultRealm                = "restricted"
	defaultForwardTimeout       = 5 * time.Second
	defaultRatePer              = time.Second
	defaultRateKey              = RateKeyClientIP
	defaultAccessLogOutput      = "stdout"
	defaultAccessLogFormat      = AccessLogJSON
	defaultStrictHost           = true
	defaultLeanH1               = true
	defaultEngine               = EngineTLSGate
	defaultAlertTimeout         = 10 * time.Second
	defaultAlertFormat          = AlertFormatJSON
	defaultAlertAttempts        = 5
	defaultAlertExecTimeout     = 30 * time.Second
	defaultHealthPath           = "/"
	defaultHealthInterval       = 5 * time.Second
	defaultHealthTimeout        = 2 * time.Second
	defaultHealthStatus         = 200
	defaultUnhealthyAfter       = 2
	// Caddy's on-demand rate limit was per-minute too; 10 new names a
	// minute is more than a SaaS signup flow needs and far below any CA's
	// rate limits.
	defaultOnDemandBurst    = 10
	defaultOnDemandInterval = time.Minute
	defaultHealthyAfter     = 2
	defaultPassiveFailAfter = 3
	defaultPassiveWindow    = 30 * time.Second
	defaultPassiveCooldown  = 30 * time.Second
	// defaultECHRotate is a month: far longer than any DNS TTL, so clients
	// holding the published config keep up, and an old key still goes.
	defaultECHRotate = 720 * time.Hour
)

// defaultExpiryWarnings are when cert_expiring fires: two weeks leaves
// time to fix a renewal by hand, three days is the last call.
func defaultExpiryWarnings() []Duration {
	return []Duration{Duration(14 * 24 * time.Hour), Duration(3 * 24 * time.Hour)}
}

// alertDefaults fills in a, which WithDefaults makes when the key is
// absent: events are kept and expiry is checked even with no sink.
func alertDefaults(a *Alerts) {
	if len(a.ExpiryWarnings) == 0 {
		a.ExpiryWarnings = defaultExpiryWarnings()
	}
	if w := a.Webhook; w != nil {
		setString(&w.Format, defaultAlertFormat)
		setDuration(&w.Timeout, defaultAlertTimeout)
		if w.Attempts == 0 {
			w.Attempts = defaultAlertAttempts
		}
	}
	if x := a.Exec; x != nil {
		setDuration(&x.Timeout, defaultAlertExecTimeout)
	}
}

// defaultCompressEncodings are offered in this order of preference: zstd
// is fastest for its ratio, br next, gzip is understood everywhere.
func defaultCompressEncodings() []string { return []string{EncodingZstd, EncodingBr, EncodingGzip} }

// defaultCompressTypes are the media types worth compressing; images,
// video and archives are compressed already.
func defaultCompressTypes() []string {
	return []string{"text/*", "application/json", "application/javascript", "application/xml",
		"application/wasm", "image/svg+xml", "application/manifest+json", "application/x-ndjson"}
}

func compressDefaults(c *Compress) {
	if c == nil || !c.Enabled {
		return
	}
	if len(c.Encodings) == 0 {
		c.Encodings = defaultCompressEncodings()
	}
	if c.MinLength == 0 {
		c.MinLength = defaultCompressMinLength
	}
	if len(c.Types) == 0 {
		c.Types = defaultCompressTypes()
	}
}

// defaultCORSMethods are the CORS "simple" methods, allowed when a cors
// block names none.
func defaultCORSMethods() []string { return []string{"GET", "HEAD", "POST"} }

func corsDefaults(c *CORS) {
	if c != nil && len(c.AllowMethods) == 0 {
		c.AllowMethods = defaultCORSMethods()
	}
}

// defaultChallenges are the ACME challenges tried when none are configured:
// both work without DNS credentials.
func defaultChallenges() []string {
	return []string{ChallengeHTTP01, ChallengeTLSALPN01}
}

// ACMEDirectoryURL returns the directory URL for a CA alias (letsencrypt,
// letsencrypt-staging, zerossl); anything else, such as a URL, is returned
// unchanged.
func ACMEDirectoryURL(alias string) string {
	switch alias {
	case "letsencrypt":
		return "https://acme-v02.api.letsencrypt.org/directory"
	case "letsencrypt-staging":
		return "https://acme-staging-v02.api.letsencrypt.org/directory"
	case "zerossl":
		return "https://acme.zerossl.com/v2/DV90"
	}
	return alias
}

// IsLocalName reports whether host is localhost or a name reserved for
// private use — test, internal, local, home.arpa — or any name under them
// ("api.localhost", "app.test", "*.internal"). No public CA issues for these.
// IP addresses are not names; see DefaultTLSMode.
func IsLocalName(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	h = strings.TrimPrefix(h, "*.")
	for _, suffix := range [...]string{"localhost", "test", "internal", "local", "home.arpa"} {
		if h == suffix || strings.HasSuffix(h, "."+suffix) {
			return true
		}
	}
	return false
}

// DefaultTLSMode is the tls mode of a site that sets none: "local" when
// every host is a local name (see IsLocalName) or an IP address, "acme"
// otherwise. An empty list gives "local": there is no public name to ask a
// CA for.
func DefaultTLSMode(hosts []string) string {
	for _, h := range hosts {
		if _, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
			continue
		}
		if !IsLocalName(h) {
			return TLSACME
		}
	}
	return TLSLocal
}

// DefaultsEnv is what defaults read from outside the config file. The zero
// value reads the real process.
type DefaultsEnv struct {
	// LookupEnv reads XDG_DATA_HOME, HOME and TLSGATE_ENGINE. Nil means
	// os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// IsRoot reports whether tlsgate runs as root. Nil means euid == 0.
	IsRoot func() bool
}

// defaultEngineFrom is server.engine when the config does not set it:
// TLSGATE_ENGINE, else tlsgate.
func defaultEngineFrom(env DefaultsEnv) string {
	lookup := env.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if v, ok := lookup(EngineEnv); ok && v != "" {
		return v
	}
	return defaultEngine
}

// DefaultDataDir is the data directory when none is configured:
// /var/lib/tlsgate as root, else $XDG_DATA_HOME/tlsgate, else
// $HOME/.local/share/tlsgate (and /var/lib/tlsgate when HOME is unset too).
func DefaultDataDir(env DefaultsEnv) string {
	isRoot := env.IsRoot
	if isRoot == nil {
		isRoot = func() bool { return os.Geteuid() == 0 }
	}
	lookup := env.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if isRoot() {
		return defaultRootDataDir
	}
	// The XDG spec says a relative XDG_DATA_HOME is invalid and ignored.
	if x, ok := lookup("XDG_DATA_HOME"); ok && filepath.IsAbs(x) {
		return filepath.Join(x, "tlsgate")
	}
	if h, ok := lookup("HOME"); ok && h != "" {
		return filepath.Join(h, ".local", "share", "tlsgate")
	}
	return defaultRootDataDir
}

// WithDefaults returns a copy of c with every unset value filled in from the
// real environment. It never changes c. See WithDefaultsFrom.
func (c *Config) WithDefaults() *Config {
	return c.WithDefaultsFrom(DefaultsEnv{})
}

// WithDefaultsFrom returns a deep copy of c with every unset value filled
// in; env supplies what the data_dir default depends on. It never changes c.
// Listen and Admin addresses set to "" stay "" (turned off).
func (c *Config) WithDefaultsFrom(env DefaultsEnv) *Config {
	d := clone(c)
	if d.DataDir == "" {
		d.DataDir = DefaultDataDir(env)
	}
	orDefault(&d.Listen.HTTP, defaultHTTPAddr)
	orDefault(&d.Listen.HTTPS, defaultHTTPSAddr)
	// HTTP/3 follows the https address: same port, UDP. A unix socket has
	// no UDP twin, so HTTP/3 is off then unless set.
	if h := *d.Listen.HTTPS; strings.HasPrefix(h, "unix:") {
		orDefault(&d.Listen.HTTP3, "")
	} else {
		orDefault(&d.Listen.HTTP3, h)
	}
	orDefault(&d.Admin, defaultAdminAddr)
	setDuration(&d.ShutdownTimeout, defaultShutdownTimeout)
	setDuration(&d.RenewInterval, defaultRenewInterval)
	if d.Limits.MaxHeaderBytes == 0 {
		d.Limits.MaxHeaderBytes = defaultMaxHeaderBytes
	}
	setDuration(&d.Limits.ReadHeaderTimeout, defaultReadHeaderTimeout)
	setDuration(&d.Limits.IdleTimeout, defaultIdleTimeout)
	if d.Limits.MaxBodyBytes == nil {
		n := ByteSize(defaultMaxBodyBytes)
		d.Limits.MaxBodyBytes = &n
	}
	setDuration(&d.Limits.BodyReadTimeout, defaultBodyReadTimeout)
	setDuration(&d.Limits.ResponseWriteTimeout, defaultResponseWriteTimeout)
	if d.Server.Engine == "" {
		d.Server.Engine = defaultEngineFrom(env)
	}
	if d.LeanH1 == nil {
		v := defaultLeanH1
		d.LeanH1 = &v
	}
	if d.Limits.MaxConnections == 0 {
		d.Limits.MaxConnections = defaultMaxConnections
	}
	if d.Limits.MaxConcurrentStreams == 0 {
		d.Limits.MaxConcurrentStreams = defaultMaxStreams
	}
	setString(&d.ACME.Directory, defaultACMEDirectory)
	if len(d.ACME.Challenges) == 0 {
		d.ACME.Challenges = defaultChallenges()
	}
	dnsDefaults(d.ACME.DNS)
	setString(&d.Storage.Backend, defaultStorageBackend)
	if d.Storage.RequireSealed == nil {
		v := d.Storage.EncryptionKeyFile != "" // only a key can seal
		d.Storage.RequireSealed = &v
	}
	if e := d.Storage.Etcd; e != nil {
		setString(&e.Prefix, defaultEtcdPrefix)
		setDuration(&e.DialTimeout, defaultEtcdDialTimeout)
	}
	if a := d.AccessLog; a != nil {
		setString(&a.Output, defaultAccessLogOutput)
		setString(&a.Format, defaultAccessLogFormat)
	}
	if o := d.OnDemand; o != nil {
		if o.Burst == 0 {
			o.Burst = defaultOnDemandBurst
		}
		setDuration(&o.Interval, defaultOnDemandInterval)
	}
	if d.Alerts == nil {
		d.Alerts = &Alerts{}
	}
	alertDefaults(d.Alerts)
	if d.ECH != nil {
		setDuration(&d.ECH.Rotate, defaultECHRotate)
	}
	for i := range d.Sites {
		siteDefaults(&d.Sites[i])
	}
	return d
}

func siteDefaults(s *Site) {
	switch {
	case s.TLS == nil:
		s.TLS = &TLS{Mode: DefaultTLSMode(s.Hosts)}
	case s.TLS.Mode == "" && (s.TLS.CertFile != "" || s.TLS.KeyFile != ""):
		s.TLS.Mode = TLSFile
	case s.TLS.Mode == "":
		s.TLS.Mode = DefaultTLSMode(s.Hosts)
	}
	dnsDefaults(s.DNS)
	if s.StrictHost == nil {
		v := defaultStrictHost
		s.StrictHost = &v
	}
	if s.ClientAuth != nil {
		setString(&s.ClientAuth.Mode, defaultClientAuthMode)
	}
	accessDefaults(s.BasicAuth, s.ForwardAuth, s.RateLimit)
	compressDefaults(s.Compress)
	corsDefaults(s.CORS)
	for i := range s.Routes {
		r := &s.Routes[i]
		accessDefaults(r.BasicAuth, r.ForwardAuth, r.RateLimit)
		compressDefaults(r.Compress)
		corsDefaults(r.CORS)
		setString(&r.Path, defaultRoutePath)
		if len(r.To) > 0 {
			setString(&r.LB, defaultLB)
			setDuration(&r.Timeout, defaultRouteTimeout)
			setDuration(&r.DialTimeout, defaultDialTimeout)
			upstreamDefaults(r.HealthCheck, r.PassiveHealth)
		}
		if r.Static != nil && len(r.Static.Index) == 0 {
			r.Static.Index = []string{defaultStaticIndex}
		}
		if r.Respond != nil && r.Respond.Status == 0 {
			r.Respond.Status = defaultRespondStatus
		}
		if r.Redirect != nil && r.Redirect.Status == 0 {
			r.Redirect.Status = defaultRedirectStatus
		}
	}
}

// upstreamDefaults fills a route's health blocks: GET / every 5s with a
// 2s timeout expecting 200, two results in a row to flip; passively, 3
// failures within 30s take an upstream out for 30s.
func upstreamDefaults(h *HealthCheck, p *PassiveHealth) {
	if h != nil {
		setString(&h.Path, defaultHealthPath)
		setDuration(&h.Interval, defaultHealthInterval)
		setDuration(&h.Timeout, defaultHealthTimeout)
		setInt(&h.ExpectStatus, defaultHealthStatus)
		setInt(&h.UnhealthyAfter, defaultUnhealthyAfter)
		setInt(&h.HealthyAfter, defaultHealthyAfter)
	}
	if p != nil {
		setInt(&p.FailAfter, defaultPassiveFailAfter)
		setDuration(&p.Window, defaultPassiveWindow)
		setDuration(&p.Cooldown, defaultPassiveCooldown)
	}
}

// accessDefaults fills the access-control blocks of a site or route: realm
// "restricted", a 5s forward-auth timeout, and rate limits per second keyed
// by client IP with a burst equal to the rate.
func accessDefaults(b *BasicAuth, f *ForwardAuth, r *RateLimit) {
	if b != nil {
		setString(&b.Realm, defaultRealm)
	}
	if f != nil {
		setDuration(&f.Timeout, defaultForwardTimeout)
	}
	if r != nil {
		setDuration(&r.Per, defaultRatePer)
		setString(&r.Key, defaultRateKey)
		if r.Burst == 0 {
			r.Burst = r.Requests
		}
	}
}

func dnsDefaults(d *DNS) {
	if d == nil {
		return
	}
	if d.Provider == DNSRFC2136 {
		setString(&d.TSIGAlgorithm, defaultTSIGAlgorithm)
	}
	setDuration(&d.PropagationTimeout, defaultPropagation)
}

func orDefault(p **string, def string) {
	if *p == nil {
		*p = &def
	}
}

func setString(p *string, def string) {
	if *p == "" {
		*p = def
	}
}

func setInt(p *int, def int) {
	if *p == 0 {
		*p = def
	}
}

func setDuration(p *Duration, def time.Duration) {
	if *p == 0 {
		*p = Duration(def)
	}
}
