// Package server is the running tlsgate instance: it compiles a config into
// a Runtime, binds the listeners, swaps the Runtime atomically on reload and
// drains requests on shutdown.
//
// Start at New, then Run.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/tlsgate/tlsgate/internal/access"
	"github.com/tlsgate/tlsgate/internal/accesslog"
	"github.com/tlsgate/tlsgate/internal/admin"
	"github.com/tlsgate/tlsgate/internal/certs"
	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/ech"
	"github.com/tlsgate/tlsgate/internal/events"
	"github.com/tlsgate/tlsgate/internal/proxy"
	"github.com/tlsgate/tlsgate/internal/serve"
)

// ConfigError is a config that loaded but could not be put in service: a
// certificate file that does not load, an upstream that does not parse.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Options configure a Server.
type Options struct {
	// Load reads the config, validated, without defaults applied. It is
	// called at start and on every reload. Required.
	Load func() (*config.Config, error)

	// Version is reported by the admin API's /status.
	Version string

	// Logger receives everything the instance logs. Nil discards.
	Logger *slog.Logger

	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// Notify, when set, receives service manager states as sd_notify
	// writes them: "RELOADING=1" when a reload starts and "READY=1" when
	// it ends (failed or not), "STOPPING=1" when shutdown starts. The
	// first READY=1, once listeners are bound, is the caller's to send.
	Notify func(state string)
}

// Server is one running instance. Its methods are safe for concurrent use.
type Server struct {
	opts      Options
	logger    *slog.Logger
	certs     *certs.Manager
	store     io.Closer // the certificate storage's connection; closed after certs stop
	transport *proxy.Transport
	// health is every upstream's health; it outlives Runtimes so a reload
	// keeps the state of the upstreams it keeps.
	health  *proxy.Health
	tickets *ticketKeys
	// ech holds the Encrypted Client Hello keys (nil: ECH off); echCfg is
	// the ech block as read at start, which reloads do not change.
	ech    *ech.Manager
	echCfg *config.ECH
	// echPub writes the HTTPS records when ech.publish is on (else nil).
	echPub  *echPublisher
	started time.Time
	// alog is the access log writer (nil when off) and request metrics;
	// its output is read at start, like limits.
	alog *accesslog.Sink
	// alogW is the access log writer in service (nil when off), swapped
	// when a reload changes the output; ReopenLogs reads it. alogOut is
	// the output it writes (alogOpen once one was chosen), guarded by
	// reloadMu. retiring waits for replaced writers to finish.
	alogW    atomic.Pointer[accesslog.Writer]
	alogOut  accesslog.Output
	alogOpen bool
	retiring sync.WaitGroup
	// limits are cfg.Limits as read at start; reloads do not change them.
	limits config.Limits
	// capStats count time at max_connections, per client listener role.
	capStats map[Role]*capStats

	// authTransport carries every forward_auth request; its idle
	// connections are closed when a reload retires a Runtime (an auth
	// service the new config no longer names must not keep sockets open)
	// and at shutdown.
	authTransport *http.Transport
	// events is the event bus: it outlives reloads, which only change
	// its sinks. storage is where it remembers expiry warnings sent.
	events  *events.Bus
	storage certmagic.Storage
	// alerts is the alerts block whose sinks the bus has (alertsSet once
	// the first is applied); guarded by reloadMu.
	alerts    *config.Alerts
	alertsSet bool
	// expiryNow asks the expiry watch for a check (after a reload).
	expiryNow chan struct{}

	// rt is the compiled config in service. Only reload replaces it,
	// holding reloadMu; requests and handshakes load it once and keep it.
	rt atomic.Pointer[Runtime]

	// https and http are served by the engine server.engine picks;
	// admin always by net/http.
	https, http engine
	admin       *http.Server
	h3          http3State
	// altSvc is the Alt-Svc value for h1/h2 answers (nil: HTTP/3 off);
	// set with the bound listeners.
	altSvc atomic.Pointer[string]

	// reloadMu serialises reloads and guards bound.
	reloadMu sync.Mutex
	bound    map[Role]*boundListener // by role: https, http, admin

	// serveErr carries a listener's unexpected failure to Run.
	serveErr chan error
	serving  sync.WaitGroup
}

// boundListener is one bound address: a TCP or unix listener (ln), or for
// HTTP/3 a UDP socket (pc), the QUIC transport and listener on it (tr,
// qln) and, once served, its HTTP/3 server (h3).
type boundListener struct {
	addr    string
	ln      net.Listener
	pc      net.PacketConn
	tr      *quic.Transport
	qln     *quic.Listener
	h3      *http3.Server
	closing atomic.Bool
}

func (b *boundListener) close() error {
	if b.ln != nil {
		return b.ln.Close()
	}
	return errors.Join(b.qln.Close(), b.tr.Close(), b.pc.Close())
}

func (b *boundListener) localAddr() net.Addr {
	if b.ln != nil {
		return b.ln.Addr()
	}
	return b.pc.LocalAddr()
}

// New loads and compiles the config and binds its listeners; it does not
// serve yet. Errors say what is wrong and what to do.
func New(ctx context.Context, opts Options) (*Server, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := opts.Load()
	if err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	if err := checkDataDir(cfg.DataDir); err != nil {
		return nil, &ConfigError{Err: err}
	}

	store, storeCloser, err := openStorage(cfg, logger)
	if err != nil {
		return nil, err
	}
	bus := events.NewBus(events.Options{Logger: logger.With("component", "alerts"), Now: opts.Now})
	mgr, err := certs.New(certs.Options{
		Events:        bus,
		DataDir:       cfg.DataDir,
		Storage:       store,
		RenewInterval: time.Duration(cfg.RenewInterval),
		Logger:        logger.With("component", "certs"),
		Now:           opts.Now,
	})
	if err != nil {
		storeCloser.Close()
		return nil, err
	}
	s := &Server{
		opts:      opts,
		logger:    logger,
		certs:     mgr,
		store:     storeCloser,
		transport: proxy.NewTransport(),
		health:    proxy.NewHealth(proxy.HealthOptions{Logger: logger.With("component", "health"), Now: opts.Now, OnChange: upstreamEvents(bus)}),
		tickets:   newTicketKeys(),
		echCfg:    cfg.ECH,
		started:   opts.Now(),
		bound:     make(map[Role]*boundListener),
		serveErr:  make(chan error, 4),
		alog:      newAccessSink(),
		limits:    cfg.Limits,
		capStats:  map[Role]*capStats{RoleHTTPS: {}, RoleHTTP: {}, RoleHTTP3: {}},

		authTransport: access.NewAuthTransport(),
		events:        bus,
		expiryNow:     make(chan struct{}, 1),
		storage:       store,
	}
	// ECH keys before compiling: site configs get them.
	if s.ech, err = s.newECH(ctx, cfg); err != nil {
		mgr.Stop()
		storeCloser.Close()
		return nil, err
	}
	// Bind before compiling: ACME challenges for new names may start at
	// once, and CertMagic answers them only through listeners that exist.
	// Until serving starts, connections wait in the listen backlog.
	opened, err := s.openLocked(cfg)
	if err != nil {
		mgr.Stop()
		storeCloser.Close()
		return nil, err
	}
	rt, err := s.compile(ctx, cfg)
	if err != nil {
		for _, b := range opened {
			b.close()
		}
		mgr.Stop()
		storeCloser.Close()
		s.closeAccessLog()
		s.closeEvents()
		return nil, &ConfigError{Err: err}
	}
	s.applyAlertsLocked(cfg)
	rt.log.W = s.switchAccessOutputLocked(cfg)
	s.rt.Store(rt)
	rt.startUpstreams()
	s.newHTTPServers(cfg)
	s.switchLocked(cfg, opened)
	return s, nil
}

func (s *Server) newHTTPServers(cfg *config.Config) {
	errorLog := slog.NewLogLogger(s.logger.With("component", "http").Handler(), slog.LevelDebug)
	limits := cfg.Limits
	// One handler for h1, h2 and h3: the Runtime in service.
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.rt.Load().ServeHTTP(w, r)
	})
	s.newHTTP3Server(handler)
	httpsHandler := s.withAltSvc(handler)
	httpHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.rt.Load().redirect.ServeHTTP(w, r)
	})
	if cfg.Server.Engine == config.EngineTLSGate {
		logger := s.logger.With("component", "http")
		s.https = &serve.Server{
			Handler:              httpsHandler,
			TLSConfig:            s.tlsConfig(),
			MaxHeaderBytes:       headerReadLimit(int64(limits.MaxHeaderBytes)),
			ReadHeaderTimeout:    time.Duration(limits.ReadHeaderTimeout),
			IdleTimeout:          time.Duration(limits.IdleTimeout),
			MaxConcurrentStreams: uint32(limits.MaxConcurrentStreams),
			Logger:               logger,
			ConnState:            s.connState("https"),
		}
		s.http = &serve.Server{
			Handler:           httpHandler,
			MaxHeaderBytes:    int(limits.MaxHeaderBytes),
			ReadHeaderTimeout: time.Duration(limits.ReadHeaderTimeout),
			IdleTimeout:       time.Duration(limits.IdleTimeout),
			Logger:            logger,
			ConnState:         s.connState("http"),
		}
	} else {
		s.https = stdTLS{&http.Server{
			Handler:           httpsHandler,
			TLSConfig:         s.tlsConfig(),
			MaxHeaderBytes:    headerReadLimit(int64(limits.MaxHeaderBytes)),
			ReadHeaderTimeout: time.Duration(limits.ReadHeaderTimeout),
			IdleTimeout:       time.Duration(limits.IdleTimeout),
			HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: limits.MaxConcurrentStreams},
			// TLS handshake errors (scanners, clients that reject our
			// certificate) are routine: debug level.
			ErrorLog:  errorLog,
			ConnState: s.connState("https"),
		}}
		s.http = &http.Server{
			Handler:           httpHandler,
			MaxHeaderBytes:    int(limits.MaxHeaderBytes),
			ReadHeaderTimeout: time.Duration(limits.ReadHeaderTimeout),
			IdleTimeout:       time.Duration(limits.IdleTimeout),
			ErrorLog:          errorLog,
			ConnState:         s.connState("http"),
		}
	}
	s.admin = &http.Server{
		Handler:           admin.Handler(s, s.opts.Version, append(append(s.alog.Metrics.Collectors(), newCapCollector(s.capStats), s.health), s.events.Collectors()...)...),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          errorLog,
	}
}

// tlsConfig is the TLS policy of the client listeners (https and http3,
// which sets its own ALPN): the site's, chosen per handshake.
func (s *Server) tlsConfig() *tls.Config {
	c := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		NextProtos:         []string{"h2", "http/1.1"},
		GetConfigForClient: s.configForClient,
	}
	if s.ech != nil {
		// ECH is decrypted with this config's keys, before
		// GetConfigForClient (which then sees the inner ClientHello).
		c.GetEncryptedClientHelloKeys = s.echOuterKeys
	}
	return c
}

// configForClient picks the TLS policy for a handshake from the Runtime in
// service: the site's, or one with no certificate (unrecognized_name).
func (s *Server) configForClient(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	if len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == "acme-tls/1" {
		if c := s.certs.ChallengeTLSConfig(); c != nil {
			return c, nil
		}
	}
	rt := s.rt.Load()
	if st := rt.siteForHello(hello); st != nil {
		return st.tls, nil
	}
	s.logger.Debug("no site for TLS server name", "server_name", hello.ServerName, "remote", hello.Conn.RemoteAddr().String())
	return rt.noCert, nil
}

// Run serves until ctx is done, then stops gracefully: listeners close,
// in-flight requests get shutdown_timeout to finish. A reload is requested by
// a value on reload (SIGHUP). Run returns nil after a clean stop.
func (s *Server) Run(ctx context.Context, reload <-chan struct{}) error {
	s.logServing()
	rotate := time.NewTicker(24 * time.Hour)
	defer rotate.Stop()
	watchCtx, stopWatch := context.WithCancel(ctx)
	var watching sync.WaitGroup
	watching.Go(func() { s.watchExpiry(watchCtx) })
	if s.ech != nil {
		watching.Go(func() { s.ech.Run(watchCtx) })
	}
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-rotate.C:
			s.reloadMu.Lock()
			s.tickets.rotate(s.rt.Load())
			s.reloadMu.Unlock()
		case <-reload:
			_ = s.Reload(ctx) // Reload logs its own failure
		case err := <-s.serveErr:
			runErr = err
			break loop
		}
	}
	stopWatch()
	watching.Wait()
	return errors.Join(runErr, s.shutdown())
}

// Close stops a Server that New made and Run never ran (e.g. for a one-off
// renewal): like the end of Run, it drains and releases everything.
func (s *Server) Close() error { return s.shutdown() }

// notify tells the service manager (Options.Notify) about a state change.
func (s *Server) notify(state string) {
	if s.opts.Notify != nil {
		s.opts.Notify(state)
	}
}

func (s *Server) shutdown() error {
	s.notify("STOPPING=1")
	timeout := time.Duration(s.rt.Load().cfg.ShutdownTimeout)
	s.logger.Info("shutting down: no new connections; waiting for requests in flight", "timeout", timeout.String())
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s.reloadMu.Lock()
	for _, b := range s.bound {
		b.closing.Store(true)
	}
	s.reloadMu.Unlock()

	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i, srv := range []engine{s.https, s.http, s.admin} {
		wg.Go(func() { errs[i] = srv.Shutdown(ctx) })
	}
	wg.Go(func() { errs[3] = s.shutdownHTTP3(ctx) })
	wg.Wait()
	s.serving.Wait()
	// Under reloadMu: the checkers were started by whichever reload ran last.
	s.reloadMu.Lock()
	s.rt.Load().stopUpstreams()
	s.reloadMu.Unlock()
	s.transport.CloseIdleConnections()
	s.authTransport.CloseIdleConnections()
	s.certs.Stop()
	s.closeEvents()
	s.store.Close()
	s.closeAccessLog()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("requests still in flight after %s were cut off: %w", timeout, err)
	}
	s.logger.Info("stopped")
	return nil
}

// Reload loads, validates and compiles the config again and swaps it in.
// On any error the Runtime in service stays, and the error says why; it is
// logged here, whether SIGHUP or the admin API asked.
func (s *Server) Reload(ctx context.Context) error {
	s.notify("RELOADING=1")
	defer s.notify("READY=1")
	err := s.reload(ctx)
	if err != nil {
		s.logger.Error("reload failed; the previous config keeps serving", "error", err)
		s.events.Emit(events.Event{Event: events.ReloadFailed, Name: s.rt.Load().cfg.File,
			Detail: map[string]any{"error": err.Error()}})
	}
	return err
}

func (s *Server) reload(ctx context.Context) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	cfg, err := s.opts.Load()
	if err != nil {
		return err
	}
	cfg = cfg.WithDefaults()
	old := s.rt.Load()
	if cfg.DataDir != old.cfg.DataDir {
		return fmt.Errorf("data_dir changed from %s to %s: that needs a restart", old.cfg.DataDir, cfg.DataDir)
	}
	if !reflect.DeepEqual(cfg.Storage, old.cfg.Storage) {
		return errors.New("storage settings changed: that needs a restart")
	}
	s.warnECHChange(cfg)
	if startLimits(cfg.Limits) != startLimits(old.cfg.Limits) || cfg.RenewInterval != old.cfg.RenewInterval {
		s.logger.Warn("limits and renew_interval are read at start; the new values take effect after a restart")
	}
	// Open new addresses before anything changes, so a failed bind leaves
	// everything as it was.
	opened, err := s.openLocked(cfg)
	if err != nil {
		return err
	}
	rt, err := s.compile(ctx, cfg)
	if err != nil {
		for _, b := range opened {
			b.close()
		}
		s.health.Retain(old.healthKeys()) // forget what the failed compile added
		return err
	}
	s.applyAlertsLocked(cfg)
	rt.log.W = s.switchAccessOutputLocked(cfg)
	s.rt.Store(rt)
	// The old Runtime is retired: drop its idle auth-service connections
	// (requests still running on it finish; the new one dials afresh).
	s.authTransport.CloseIdleConnections()
	// Old checkers stop before new ones start, so one upstream is never
	// checked twice over; its state stays in s.health meanwhile.
	old.stopUpstreams()
	s.health.Retain(rt.healthKeys())
	rt.startUpstreams()
	s.switchLocked(cfg, opened)
	s.recheckExpiry()
	if s.ech != nil {
		s.ech.Republish() // the site hosts may have changed
	}
	s.logger.Info("config reloaded", "sites", len(rt.sites))
	return nil
}

// startLimits is the part of limits read at start only: max_body_bytes,
// body_read_timeout and response_write_timeout are compiled into the
// routes and follow reloads.
func startLimits(l config.Limits) config.Limits {
	l.MaxBodyBytes, l.BodyReadTimeout, l.ResponseWriteTimeout = nil, 0, 0
	return l
}

// Certificates lists the certificates the instance serves or manages.
func (s *Server) Certificates(ctx context.Context) ([]certs.CertInfo, error) {
	return s.certs.List(ctx)
}

// Renew renews one managed certificate now and returns the one in service.
func (s *Server) Renew(ctx context.Context, name string, force bool) (certs.CertInfo, error) {
	return s.certs.Renew(ctx, name, force)
}
