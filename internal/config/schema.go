// Package config holds tlsgate's configuration: the schema a user writes in
// YAML, loading it (with .env files and ${VAR} expansion), defaults, and
// validation that reports every problem as FILE:LINE:COL.
//
// Start at Load, then WithDefaults. Unknown keys are errors, except
// top-level keys starting with "x-", which are ignored (as in docker compose)
// so they can hold YAML anchors that sites reuse with merge keys
// (<<: *name). The structs here are plain data: no other internal package
// is imported, and nothing here starts work.
package config

// Config is one whole tlsgate configuration file after loading.
// Defaults are not filled in here; call WithDefaults for a filled copy.
type Config struct {
	// DataDir is the root of file storage (certificates, accounts, local CA).
	// Empty means $XDG_DATA_HOME/tlsgate, or /var/lib/tlsgate as root.
	DataDir string `yaml:"data_dir"`

	// Listen holds the addresses of the HTTP and HTTPS listeners.
	Listen Listen `yaml:"listen"`

	// Admin is the admin API address: "host:port" or "unix:/path".
	// Nil (key absent) means the default 127.0.0.1:2019; "" turns it off.
	Admin *string `yaml:"admin"`

	// DefaultSNI names the site whose certificate clients without SNI get.
	DefaultSNI string `yaml:"default_sni"`

	// ShutdownTimeout is how long SIGTERM waits for in-flight requests.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`

	// RenewInterval is how often managed certificates are checked for
	// renewal (and their ACME Renewal Information refreshed). Zero means
	// 10 minutes; short-lived certificates may want less.
	RenewInterval Duration `yaml:"renew_interval"`

	// TrustedProxies are CIDRs (or bare IPs) whose X-Forwarded-*/Forwarded
	// headers are kept and extended instead of replaced.
	TrustedProxies []string `yaml:"trusted_proxies"`

	Limits Limits `yaml:"limits"`

	// Server picks how connections are served.
	Server ServerBlock `yaml:"server"`

	// LeanH1 sends bodyless HTTP/1.1 requests to http:// and unix: upstreams
	// through tlsgate's own lean client; false sends everything through
	// net/http's client, the way out should the lean one misbehave with some
	// upstream. Nil means true. It follows reloads.
	LeanH1 *bool `yaml:"lean_h1"`

	// Email is the ACME account contact.
	Email string `yaml:"email"`

	ACME    ACME    `yaml:"acme"`
	Storage Storage `yaml:"storage"`

	// AccessLog writes one line per request; nil means off.
	AccessLog *AccessLog `yaml:"access_log"`

	// OnDemand obtains certificates at the first handshake for the names
	// tls: on_demand sites allow, after asking OnDemand.Ask. Nil means no
	// site may use tls: on_demand.
	OnDemand *OnDemand `yaml:"on_demand"`

	// Alerts pushes certificate, upstream and reload events to the
	// operator. Nil (absent) means no sink: events are only kept for the
	// admin API, and expiry is checked at the default thresholds;
	// WithDefaults fills it in.
	Alerts *Alerts `yaml:"alerts"`

	// ECH turns on Encrypted Client Hello (see docs/ECH.md); nil means off.
	// It is read at start: changing it needs a restart.
	ECH *ECH `yaml:"ech"`

	Sites []Site `yaml:"sites"`

	// File is the path the config was loaded from ("" when built in code).
	File string `yaml:"-"`

	// positions maps a key path such as "sites[0].tls.cert_file" to where
	// the key was written; see Position. values maps the same paths to where
	// their values start, which is where an error about a value points.
	// Both are filled once by Parse and never written afterwards, so copies
	// of a Config share them.
	positions map[string]Pos
	values    map[string]Pos
}

// Listen holds listener addresses. Nil means the default; "" turns it off.
type Listen struct {
	HTTP  *string `yaml:"http"`
	HTTPS *string `yaml:"https"`
	// HTTP3 is the UDP address HTTP/3 (QUIC) listens on; nil means the
	// https address (when that is a TCP address), "" turns HTTP/3 off.
	HTTP3 *string `yaml:"http3"`
	// ProxyProtocol, when set, reads PROXY protocol v1/v2 headers on both
	// listeners from the peers it trusts; nil means no peer may send one.
	ProxyProtocol *ProxyProtocol `yaml:"proxy_protocol"`
}

// ProxyProtocol configures PROXY protocol headers in front of HTTP and TLS.
// A trusted peer must send a header (HAProxy's accept-proxy); the address
// in it is the client address everywhere. From any other peer a header is
// not read: its bytes are the start of the request, which then fails.
type ProxyProtocol struct {
	// Trusted are CIDRs (or bare IPs) of the load balancers that send
	// PROXY headers. Required.
	Trusted []string `yaml:"trusted"`
}

// ServerBlock is the top-level server block.
type ServerBlock struct {
	// Engine serves the https and http listeners: EngineTLSGate (tlsgate's
	// own HTTP/1.1 and HTTP/2 engine) or EngineStd (Go's net/http server).
	// Empty means the TLSGATE_ENGINE environment variable, else EngineTLSGate.
	Engine string `yaml:"engine"`
}

// The server.engine values.
const (
	EngineTLSGate = "tlsgate"
	EngineStd     = "std"
)

// EngineEnv is the environment variable that gives server.engine when the
// config does not set it.
const EngineEnv = "TLSGATE_ENGINE"

// Limits bound what one client may send.
type Limits struct {
	// MaxHeaderBytes bounds a request's header block; more gets 431.
	// Zero means 1MiB.
	MaxHeaderBytes ByteSize `yaml:"max_header_bytes"`
	// ReadHeaderTimeout is how long a client may take to send its headers.
	// Zero means 10s.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	// IdleTimeout closes keep-alive connections idle this long. Zero means 2m.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MaxBodyBytes bounds a request body; more gets 413. Nil means 100MiB;
	// 0 means no limit. A route's max_body_bytes replaces it.
	MaxBodyBytes *ByteSize `yaml:"max_body_bytes"`
	// BodyReadTimeout is the longest gap between two reads of a request
	// body; then 408 and the upstream request is cancelled. Zero means 60s.
	BodyReadTimeout Duration `yaml:"body_read_timeout"`
	// ResponseWriteTimeout is the longest one write of a proxied response
	// may wait for a client that does not read; then the HTTP/2 stream is
	// reset (the HTTP/1.1 connection closed) and the upstream request
	// cancelled. Pauses between writes do not count. Zero means 60s.
	ResponseWriteTimeout Duration `yaml:"response_write_timeout"`
	// MaxConnections bounds the connections each listener has open; past
	// it new connections wait in the kernel's listen backlog, unaccepted,
	// until one closes. Zero means 10000.
	MaxConnections int `yaml:"max_connections"`
	// MaxConcurrentStreams bounds the HTTP/2 streams of one connection, as
	// the SETTINGS frame tells the client. Zero means 250.
	MaxConcurrentStreams int `yaml:"max_concurrent_streams"`
}

// ACME configures certificate issuance from an ACME CA.
type ACME struct {
	// Directory is a CA alias (letsencrypt, letsencrypt-staging, zerossl)
	// or a directory URL; see ACMEDirectoryURL. Empty means letsencrypt.
	Directory string `yaml:"directory"`
	// TrustedRoots are PEM files of extra roots for talking to the ACME
	// server itself (a private or test CA). Absolute after Load.
	TrustedRoots []string `yaml:"trusted_roots"`
	// Challenges are the challenge types to use (ChallengeHTTP01, ...).
	// Empty means http-01 and tls-alpn-01.
	Challenges []string `yaml:"challenges"`
	// DNS is the dns-01 provider for every site without its own.
	DNS *DNS `yaml:"dns"`
	// EAB is External Account Binding, for CAs that require it.
	EAB *EAB `yaml:"eab"`
	// Profile is the ACME profile to ask for, where the CA offers them.
	Profile string `yaml:"profile"`
	// Fallback is a second CA (alias or URL) used when Directory keeps failing.
	Fallback string `yaml:"fallback"`
}

// DNS configures a dns-01 provider. Provider picks which keys apply:
// rfc2136 uses Server and the TSIG keys, exec uses Command (an absolute path
// after Load when written as a path), webhook uses URL and Token. Zero
// PropagationTimeout means 2m; empty TSIGAlgorithm means hmac-sha256.
type DNS struct {
	Provider           string   `yaml:"provider"`
	Server             string   `yaml:"server"`
	TSIGKeyName        string   `yaml:"tsig_key_name"`
	TSIGAlgorithm      string   `yaml:"tsig_algorithm"`
	TSIGSecret         string   `yaml:"tsig_secret"`
	Zone               string   `yaml:"zone"`
	Command            string   `yaml:"command"`
	URL                string   `yaml:"url"`
	Token              string   `yaml:"token"`
	PropagationTimeout Duration `yaml:"propagation_timeout"`
	PropagationDelay   Duration `yaml:"propagation_delay"`
	Resolvers          []string `yaml:"resolvers"`
}

// EAB is External Account Binding for CAs that require it (ZeroSSL).
type EAB struct {
	KeyID  string `yaml:"key_id"`
	MACKey string `yaml:"mac_key"`
}

// Storage selects where certificates, keys and accounts live. Backend is
// StorageFile (the default, under DataDir) or StorageEtcd. EncryptionKeyFile,
// when set, holds the base64 key that encrypts private keys at rest
// (absolute after Load).
type Storage struct {
	Backend           string `yaml:"backend"`
	Etcd              *Etcd  `yaml:"etcd"`
	EncryptionKeyFile string `yaml:"encryption_key_file"`
	// RequireSealed refuses private keys found unencrypted in storage
	// (written before encryption was turned on) instead of reading them.
	// Nil means true when EncryptionKeyFile is set, false otherwise.
	RequireSealed *bool `yaml:"require_sealed"`
}

// Etcd configures the etcd storage backend. Empty Prefix means "tlsgate/";
// zero DialTimeout means 5s; file paths are absolute after Load.
type Etcd struct {
	Endpoints   []string `yaml:"endpoints"`
	Prefix      string   `yaml:"prefix"`
	Username    string   `yaml:"username"`
	Password    string   `yaml:"password"`
	CertFile    string   `yaml:"cert_file"`
	KeyFile     string   `yaml:"key_file"`
	CAFile      string   `yaml:"ca_file"`
	DialTimeout Duration `yaml:"dial_timeout"`
}

// Site is one set of host names served with one TLS policy and one route table.
type Site struct {
	// Hosts are DNS names, "*.example.com" wildcards, or IP addresses; or
	// ["*"] (CatchAllHost), the catch-all site, with tls: on_demand.
	Hosts []string `yaml:"hosts"`

	// TLS says where the certificate comes from. Nil means the default rule:
	// local when every host is a local name or IP, acme otherwise.
	TLS *TLS `yaml:"tls"`

	DNS             *DNS             `yaml:"dns"`
	ClientAuth      *ClientAuth      `yaml:"client_auth"`
	HSTS            *HSTS            `yaml:"hsts"`
	CORS            *CORS            `yaml:"cors"`
	Headers         *Headers         `yaml:"headers"`
	SecurityHeaders *SecurityHeaders `yaml:"security_headers"`
	// AccessLog false turns the access log off for this site.
	AccessLog *bool `yaml:"access_log"`

	// Access control; a route's own value replaces the site's (see
	// docs/ACCESS.md for the order they run in).
	BasicAuth   *BasicAuth   `yaml:"basic_auth"`
	ForwardAuth *ForwardAuth `yaml:"forward_auth"`
	AllowIPs    []string     `yaml:"allow_ips"`
	DenyIPs     []string     `yaml:"deny_ips"`
	RateLimit   *RateLimit   `yaml:"rate_limit"`
	// Compress compresses answers for clients that accept it; a route's
	// own compress replaces it.
	Compress *Compress `yaml:"compress"`

	// ErrorPages are files (by status code, e.g. "502": ./errors/502.html)
	// served instead of tlsgate's own short text for the answers it makes
	// itself (see ErrorPageStatuses), to clients whose Accept names the
	// file's type. Read when the config is loaded.
	ErrorPages map[string]string `yaml:"error_pages"`
	// StrictHost answers 421 to a request whose Host no site lists, sent on
	// a connection whose SNI name picked this site. Nil means true (the
	// default, set in defaults.go); false forwards such requests to this
	// site, as nginx's default server does.
	StrictHost *bool `yaml:"strict_host"`

	Routes []Route `yaml:"routes"`
}

// TLS modes (TLS.Mode).
const (
	TLSACME  = "acme"
	TLSLocal = "local"
	TLSAdhoc = "adhoc"
	TLSFile  = "file"
	// TLSOnDemand obtains a certificate per name at its first handshake,
	// through the ACME issuer, for names the site's hosts allow and the
	// on_demand.ask service approves.
	TLSOnDemand = "on_demand"
)

// CatchAllHost is the host of the catch-all site: it serves every SNI name
// and Host no other site lists. Only tls: on_demand sites may have it.
const CatchAllHost = "*"

// OnDemand configures on-demand certificates (tls: on_demand).
type OnDemand struct {
	// Ask is the URL asked before a certificate is ordered for a new name:
	// GET Ask?domain=NAME; 200 means yes, anything else (or no answer in
	// time) means no. Required: without it any name pointed at this
	// server would make tlsgate order a certificate for it.
	Ask string `yaml:"ask"`
	// Burst is how many new names may be ordered per Interval; past it
	// new names are refused until the interval has passed. Zero means 10.
	Burst int `yaml:"burst"`
	// Interval is the period of Burst, and how long a name Ask refused is
	// remembered (and refused without asking again). Zero means 1m.
	Interval Duration `yaml:"interval"`
}

// TLS is a site's certificate source. In YAML it is either a mode string
// (acme, local, adhoc, on_demand) or a mapping with cert_file and key_file (Mode "file").
type TLS struct {
	Mode              string `yaml:"-"`
	CertFile          string `yaml:"cert_file"`
	KeyFile           string `yaml:"key_file"`
	KeyPassphraseFile string `yaml:"key_passphrase_file"`
}

// ClientAuth asks clients for certificates (mutual TLS).
type ClientAuth struct {
	Mode    string   `yaml:"mode"` // require | optional
	CAFiles []string `yaml:"ca_files"`
	LocalCA bool     `yaml:"local_ca"`
}

// HSTS is the Strict-Transport-Security policy.
type HSTS struct {
	MaxAge            Duration `yaml:"max_age"`
	IncludeSubdomains bool     `yaml:"include_subdomains"`
	Preload           bool     `yaml:"preload"`
}

// CORS is the cross-origin policy answered at the edge.
type CORS struct {
	AllowOrigins     []string `yaml:"allow_origins"`
	AllowMethods     []string `yaml:"allow_methods"`
	AllowHeaders     []string `yaml:"allow_headers"`
	ExposeHeaders    []string `yaml:"expose_headers"`
	AllowCredentials bool     `yaml:"allow_credentials"`
	MaxAge           Duration `yaml:"max_age"`
}

// Headers adds, sets and removes request and response headers.
type Headers struct {
	Request  *HeaderOps `yaml:"request"`
	Response *HeaderOps `yaml:"response"`
}

// HeaderOps are header edits, applied remove first, then set.
type HeaderOps struct {
	Set    map[string]string `yaml:"set"`
	Remove []string          `yaml:"remove"`
}

// SecurityHeaders are common response headers a site can turn on.
type SecurityHeaders struct {
	ContentTypeNosniff bool   `yaml:"content_type_nosniff"`
	ReferrerPolicy     string `yaml:"referrer_policy"`
	FrameOptions       string `yaml:"frame_options"`
}

// Route maps a path prefix to exactly one action: to (proxy), static,
// respond or redirect.
type Route struct {
	// Path is a prefix; the longest matching prefix wins. Empty means "/".
	Path string `yaml:"path"`

	// To lists upstreams: http://host:port[/base], https://...,
	// h2c://host:port or unix:/path.
	To []string `yaml:"to"`
	// LB is round_robin (default) | least_conn | first | ip_hash | cookie.
	LB          string   `yaml:"lb"`
	Timeout     Duration `yaml:"timeout"`
	DialTimeout Duration `yaml:"dial_timeout"`
	StripPrefix bool     `yaml:"strip_prefix"`

	// HealthCheck probes every upstream of the route; nil means none.
	HealthCheck *HealthCheck `yaml:"health_check"`
	// PassiveHealth takes an upstream out of rotation after failed
	// requests; nil means only the 2-second cooldown after a refused dial.
	PassiveHealth *PassiveHealth `yaml:"passive_health"`
	// Retries is how many other upstreams an idempotent request may be
	// sent to after the first failed (0 = none; a refused dial always
	// moves on).
	Retries int `yaml:"retries"`
	// RetryOn lists upstream answers that are retried like a failure
	// (e.g. [502, 503]).
	RetryOn []int `yaml:"retry_on"`
	// UpstreamTLS is how https:// upstreams are verified, and the client
	// certificate offered to them. Nil means the system roots.
	UpstreamTLS *UpstreamTLS `yaml:"upstream_tls"`

	// MaxBodyBytes replaces limits.max_body_bytes for this route (0 = no
	// limit). Nil means the global limit.
	MaxBodyBytes *ByteSize `yaml:"max_body_bytes"`

	// Static serves files from this directory.
	Static *Static `yaml:"static"`

	// Respond answers with a fixed status and body.
	Respond *Respond `yaml:"respond"`

	// Compress replaces the site's compress for this route
	// (compress: false turns it off here).
	Compress *Compress `yaml:"compress"`

	// Redirect answers every request with a redirect built from a template.
	Redirect *Redirect `yaml:"redirect"`

	// CORS is this route's cross-origin policy; it replaces the site's
	// for requests this route serves.
	CORS *CORS `yaml:"cors"`

	// Access control for this route; each one set replaces the site's.
	BasicAuth   *BasicAuth   `yaml:"basic_auth"`
	ForwardAuth *ForwardAuth `yaml:"forward_auth"`
	AllowIPs    []string     `yaml:"allow_ips"`
	DenyIPs     []string     `yaml:"deny_ips"`
	RateLimit   *RateLimit   `yaml:"rate_limit"`

	// AccessLog false turns the access log off for this route.
	AccessLog *bool `yaml:"access_log"`
}

// HealthCheck is an active health check: GET Path on every upstream each
// Interval; an answer with ExpectStatus within Timeout passes.
// UnhealthyAfter failures in a row take an upstream out of rotation,
// HealthyAfter passes in a row bring it back.
type HealthCheck struct {
	Path           string   `yaml:"path"`
	Interval       Duration `yaml:"interval"`
	Timeout        Duration `yaml:"timeout"`
	ExpectStatus   int      `yaml:"expect_status"`
	UnhealthyAfter int      `yaml:"unhealthy_after"`
	HealthyAfter   int      `yaml:"healthy_after"`
}

// GRPCHealthPath, as a health check's path, asks the gRPC health service
// (grpc.health.v1, for the server as a whole) instead of sending a GET:
// the upstream is healthy when it answers SERVING. It needs upstreams that
// speak HTTP/2 (h2c:// or https://).
const GRPCHealthPath = "/grpc.health.v1.Health/Check"

// PassiveHealth counts failed requests (connect errors, resets before a
// response, 502/503/504 answers): FailAfter of them within Window take an
// upstream out of rotation for Cooldown.
type PassiveHealth struct {
	FailAfter int      `yaml:"fail_after"`
	Window    Duration `yaml:"window"`
	Cooldown  Duration `yaml:"cooldown"`
}

// UpstreamTLS configures TLS to https:// upstreams. Verification is always
// on: CAFiles add roots (PEM) to the system's, ServerName replaces the
// upstream's host as the name verified (and sent as SNI), and
// ClientCertFile/ClientKeyFile are offered to upstreams that ask for a
// client certificate. Paths are absolute after Load.
type UpstreamTLS struct {
	CAFiles        []string `yaml:"ca_files"`
	ServerName     string   `yaml:"server_name"`
	ClientCertFile string   `yaml:"client_cert_file"`
	ClientKeyFile  string   `yaml:"client_key_file"`
}

// BasicAuth asks for a user name and password (RFC 7617). Users maps names
// to bcrypt hashes; UsersFile is an htpasswd file of bcrypt lines (absolute
// after Load). Both may be set; Users wins for a name in both.
type BasicAuth struct {
	Realm     string            `yaml:"realm"`
	Users     map[string]string `yaml:"users"`
	UsersFile string            `yaml:"users_file"`
	// KeepAuthorization forwards the client's Authorization header to the
	// upstream; by default it is removed.
	KeepAuthorization bool `yaml:"keep_authorization"`
}

// ForwardAuth asks an auth service at URL before each request.
type ForwardAuth struct {
	URL         string   `yaml:"url"`
	CopyHeaders []string `yaml:"copy_headers"`
	Timeout     Duration `yaml:"timeout"`
}

// RateLimit is a token bucket per key: Requests per Per, up to Burst at once.
// Key is "client_ip" or "header:NAME".
type RateLimit struct {
	Requests int      `yaml:"requests"`
	Per      Duration `yaml:"per"`
	Burst    int      `yaml:"burst"`
	Key      string   `yaml:"key"`
}

// Rate-limit keys (RateLimit.Key); "header:NAME" is the other form.
const (
	RateKeyClientIP     = "client_ip"
	RateKeyHeaderPrefix = "header:"
)

// AccessLog is the request log. Output is stdout, stderr or a file path
// (absolute after Load's path handling, reopened on SIGUSR1); Format is
// json, common or combined. A file rotates at MaxSize (0 = never), keeping
// MaxBackups old files. RedactQuery names query parameters whose values
// are replaced by "REDACTED".
type AccessLog struct {
	Output      string   `yaml:"output"`
	Format      string   `yaml:"format"`
	MaxSize     ByteSize `yaml:"max_size"`
	MaxBackups  int      `yaml:"max_backups"`
	RedactQuery []string `yaml:"redact_query"`
}

// Alerts are where events go. Webhook and Exec may both be set; each gets
// every event. Empty ExpiryWarnings mean 14d and 3d.
type Alerts struct {
	Webhook        *AlertWebhook `yaml:"webhook"`
	Exec           *AlertExec    `yaml:"exec"`
	ExpiryWarnings []Duration    `yaml:"expiry_warnings"`
}

// AlertWebhook POSTs each event as JSON to URL, with Headers added
// (Authorization, for one). Format json (the default) sends the event
// {event, name, time, detail}; slack sends {"text": "one line"} for Slack,
// Mattermost and Rocket.Chat incoming webhooks. Zero Timeout (one attempt)
// means 10s; zero Attempts means 5, retried with a doubling delay from 1s.
type AlertWebhook struct {
	URL      string            `yaml:"url"`
	Format   string            `yaml:"format"`
	Headers  map[string]string `yaml:"headers"`
	Timeout  Duration          `yaml:"timeout"`
	Attempts int               `yaml:"attempts"`
}

// Webhook body formats (AlertWebhook.Format).
const (
	AlertFormatJSON  = "json"
	AlertFormatSlack = "slack"
)

// AlertExec runs Command EVENT NAME with the event's JSON on stdin. A
// Command written as a path is taken from the config file's directory; a
// bare name is looked up on PATH. Zero Timeout means 30s.
type AlertExec struct {
	Command string   `yaml:"command"`
	Timeout Duration `yaml:"timeout"`
}

// Access log formats (AccessLog.Format).
const (
	AccessLogJSON     = "json"
	AccessLogCommon   = "common"
	AccessLogCombined = "combined"
)

// Static is a file server root. In YAML it is either a directory string or a
// mapping {root: DIR, browse: true, index: [index.html]}.
type Static struct {
	Root   string   `yaml:"root"`
	Browse bool     `yaml:"browse"`
	Index  []string `yaml:"index"`
}

// Respond is a fixed answer.
type Respond struct {
	Status  int               `yaml:"status"`
	Body    string            `yaml:"body"`
	Headers map[string]string `yaml:"headers"`
}

// Compression encodings (Compress.Encodings), as HTTP names them.
const (
	EncodingZstd = "zstd"
	EncodingBr   = "br"
	EncodingGzip = "gzip"
)

// Compress is response compression. In YAML it is true/false or a mapping
// {encodings, min_length, types} (which turns it on). Empty Encodings
// mean zstd, br, gzip (in that order of preference); zero MinLength means
// 512 bytes; empty Types mean text/*, JSON, JavaScript, XML and SVG.
type Compress struct {
	Enabled   bool     `yaml:"-"`
	Encodings []string `yaml:"encodings"`
	MinLength ByteSize `yaml:"min_length"`
	Types     []string `yaml:"types"`
}

// Redirect is a redirect route: {to: "https://{host}/new/{path}", status: 301}.
// To is a template (see ParseRedirect for its placeholders and the rules
// that keep it from being an open redirect). Zero Status means 308, which,
// unlike 301, keeps the method and body of a POST.
type Redirect struct {
	To     string `yaml:"to"`
	Status int    `yaml:"status"`
}

// Pos is a place in a config file. Line and Col are 1-based.
type Pos struct {
	File string
	Line int
	Col  int
}

// Load-balancing policies (Route.LB).
const (
	LBRoundRobin = "round_robin"
	LBLeastConn  = "least_conn"
	LBFirst      = "first"
	LBIPHash     = "ip_hash"
	LBCookie     = "cookie"
)

// ACME challenge types (ACME.Challenges).
const (
	ChallengeHTTP01    = "http-01"
	ChallengeTLSALPN01 = "tls-alpn-01"
	ChallengeDNS01     = "dns-01"
)

// DNS providers (DNS.Provider).
const (
	DNSRFC2136 = "rfc2136"
	DNSExec    = "exec"
	DNSWebhook = "webhook"
)

// Client certificate modes (ClientAuth.Mode).
const (
	ClientAuthRequire  = "require"
	ClientAuthOptional = "optional"
)

// Storage backends (Storage.Backend).
const (
	StorageFile = "file"
	StorageEtcd = "etcd"
)

// ECH configures Encrypted Client Hello: clients that have the ECHConfigList
// (`tlsgate ech config`, or the DNS HTTPS record) encrypt the real server
// name, and the outer ClientHello names PublicName.
type ECH struct {
	// PublicName is the outer SNI name clients send; tlsgate serves a
	// certificate for it (so clients whose ECH config is stale can still
	// finish a handshake and retry). Required: a DNS name.
	PublicName string `yaml:"public_name"`
	// Rotate is how often a new ECH key is made; the previous one is still
	// accepted for one more period, then dropped. Zero means 720h (30 days).
	Rotate Duration `yaml:"rotate"`
	// Publish writes an HTTPS (type 65) record carrying the ECHConfigList for
	// every site host, through the rfc2136 provider of the site's dns block
	// or acme.dns, and updates it on rotation. False means the operator
	// publishes it (tlsgate ech config prints the value).
	Publish bool `yaml:"publish"`
}
