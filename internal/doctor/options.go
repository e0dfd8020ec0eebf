package doctor

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"os"
	"time"

	"github.com/tlsgate/tlsgate/internal/truststore"
)

// Options says what to diagnose and with which trust. The zero value (plus
// a URL) checks the way curl does with the system roots.
type Options struct {
	// URL is https://HOST[:PORT][/PATH] or http://... (required).
	URL string
	// ServerName is the SNI name to send and the name to check the
	// certificate against. "" means the URL's host.
	ServerName string
	// Roots are the trusted roots, as curl --cacert gives them. If nil, the
	// system roots are used.
	Roots *x509.CertPool
	// RootsFile names where Roots came from, for messages ("" means the
	// system store).
	RootsFile string
	// ClientCert is presented when the server asks for one. ClientCertFile
	// names it in messages.
	ClientCert     *tls.Certificate
	ClientCertFile string
	// LocalCADir is tlsgate's local CA directory (DATA_DIR/ca), used to
	// recognize certificates it issued. "" turns that off.
	LocalCADir string
	// DataDirArg is repeated in suggested tlsgate commands (" --data-dir X"),
	// or "" when the default data directory is in use.
	DataDirArg string
	// Stores are the client-side trust stores to look the root up in.
	Stores TrustStores
	// Timeout bounds each network step (connect, handshake, HTTP answer,
	// fetches). Zero means 10 seconds.
	Timeout time.Duration
	// Offline, when true, stops Diagnose from fetching missing
	// intermediates (AIA) and asking OCSP responders; only the server
	// itself is contacted.
	Offline bool
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time
	// Logger receives debug messages about each step. Nil means discard.
	Logger *slog.Logger
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Options) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return 10 * time.Second
}

func (o *Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// TrustStores names the client-side trust stores: where curl, Go and
// OpenSSL look (the system bundle), where Chromium looks on Linux (the NSS
// database) and where Python's requests looks (certifi or an environment
// variable). Every field's zero value means this machine's default, so
// tests set them all.
type TrustStores struct {
	// SystemBundle is the system's PEM bundle. "" means the first that
	// exists of the usual Debian, Fedora, Alpine and SUSE paths.
	SystemBundle string
	// NSSDir is the NSS database. "" means every one `ca trust` installs
	// into: $HOME/.pki/nssdb, snap Chromium's, Firefox profiles.
	NSSDir string
	// Certutil is the certutil program. "" means "certutil" on PATH.
	Certutil string
	// Python is the interpreter asked for certifi.where(). "" means
	// /usr/bin/python3 (the system one, whose certifi Debian patches).
	Python string
	// Getenv reads HOME, SSL_CERT_FILE and REQUESTS_CA_BUNDLE. Nil means
	// os.Getenv.
	Getenv func(string) string
}

func (s TrustStores) getenv(k string) string {
	if s.Getenv != nil {
		return s.Getenv(k)
	}
	return os.Getenv(k)
}

func (s TrustStores) systemBundle() string {
	if s.SystemBundle != "" {
		return s.SystemBundle
	}
	paths := truststore.SystemBundlePaths()
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if len(paths) == 0 {
		return ""
	}
	return paths[0]
}

// nssDatabases are the NSS databases to read: NSSDir alone when set, else
// every one truststore finds (and `ca trust` installs into) under $HOME.
func (s TrustStores) nssDatabases() []truststore.NSSDatabase {
	if s.NSSDir != "" {
		return truststore.NSSDatabases("", s.NSSDir)
	}
	return truststore.NSSDatabases(s.getenv("HOME"))
}

func (s TrustStores) certutil() string {
	if s.Certutil != "" {
		return s.Certutil
	}
	return "certutil"
}

func (s TrustStores) python() string {
	if s.Python != "" {
		return s.Python
	}
	return "/usr/bin/python3"
}
