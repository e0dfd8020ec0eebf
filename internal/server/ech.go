package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"time"

	"github.com/tlsgate/tlsgate/internal/answer"
	"github.com/tlsgate/tlsgate/internal/certs"
	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/ech"
	"github.com/tlsgate/tlsgate/internal/route"
)

// newECH makes and starts the ECH key manager of cfg's ech block (nil when
// there is none): the keys are in storage, and in service, before the
// first handshake.
func (s *Server) newECH(ctx context.Context, cfg *config.Config) (*ech.Manager, error) {
	if cfg.ECH == nil {
		return nil, nil
	}
	opts := ech.Options{
		Storage:    s.storage,
		PublicName: cfg.ECH.PublicName,
		Rotate:     time.Duration(cfg.ECH.Rotate),
		Logger:     s.logger.With("component", "ech"),
		Now:        s.opts.Now,
	}
	if cfg.ECH.Publish {
		s.echPub = newECHPublisher(replaceHTTPS, opts.Logger)
		opts.Publish = s.publishECH
	}
	m, err := ech.NewManager(opts)
	if err != nil {
		return nil, err
	}
	if err := m.Start(ctx); err != nil {
		return nil, fmt.Errorf("ech keys: %w", err)
	}
	return m, nil
}

// echOuterKeys is GetEncryptedClientHelloKeys of the listeners' config,
// which crypto/tls calls with the outer ClientHello, before
// GetConfigForClient sees the inner one: the outer name is logged here (it
// is the public name, unless a client sends something else).
func (s *Server) echOuterKeys(hello *tls.ClientHelloInfo) ([]tls.EncryptedClientHelloKey, error) {
	if s.logger.Enabled(context.Background(), slog.LevelDebug) {
		attrs := []any{"component", "ech", "outer_server_name", hello.ServerName}
		if hello.Conn != nil { // nil on HTTP/3 before quic-go fills it
			attrs = append(attrs, "remote", hello.Conn.RemoteAddr().String())
		}
		s.logger.Debug("client hello with encrypted_client_hello", attrs...)
	}
	return s.ech.Keys(hello)
}

// echSite is the site config for ech.public_name when no site serves that
// name: a certificate for it lets a client whose ECH config is stale finish
// the outer handshake and retry with the config the server sends. It takes
// the first site's TLS mode when that is acme, local or adhoc (and its dns
// block), else the default rule for the name (acme for public names, local
// for local ones). Nil when ECH is off or a site lists the name (exactly or
// by a wildcard; a "*" catch-all and tls: on_demand sites do not count).
func (s *Server) echSite(cfg *config.Config) *config.Site {
	if s.ech == nil {
		return nil
	}
	name := s.echCfg.PublicName
	covered := make(map[string]bool)
	for _, sc := range cfg.Sites {
		// A catch-all or an on_demand site would get the name a
		// certificate only on demand, after its ask: the public name gets
		// its own site instead.
		if sc.TLS != nil && sc.TLS.Mode == config.TLSOnDemand {
			continue
		}
		for _, h := range sc.Hosts {
			if h != config.CatchAllHost {
				covered[h] = true
			}
		}
	}
	if _, ok := route.NewHosts(covered).Match(name); ok {
		return nil
	}
	sc := &config.Site{Hosts: []string{name}, TLS: &config.TLS{Mode: config.DefaultTLSMode([]string{name})}}
	if len(cfg.Sites) > 0 {
		if first := cfg.Sites[0]; first.TLS != nil && slices.Contains([]string{config.TLSACME, config.TLSLocal, config.TLSAdhoc}, first.TLS.Mode) {
			sc.TLS = &config.TLS{Mode: first.TLS.Mode}
			sc.DNS = first.DNS
		}
	}
	return sc
}

// compileECHSite adds the public name's site (sc, from echSite), whose
// certificate comes from source, to rt and byHost.
func (s *Server) compileECHSite(rt *Runtime, byHost map[string]*site, sc *config.Site, source certs.Source) {
	name := sc.Hosts[0]
	st := &site{hosts: sc.Hosts, handler: http.HandlerFunc(echOuterAnswer), source: source, defaultName: name, strictHost: true}
	st.tls = s.siteTLSConfig(st, nil)
	st.tls.SetSessionTicketKeys(s.tickets.forSite(sc.Hosts))
	rt.sites = append(rt.sites, st)
	byHost[name] = st
}

// echOuterAnswer answers requests on a connection made for the public name
// only: it has no content of its own.
func echOuterAnswer(w http.ResponseWriter, _ *http.Request) {
	answer.Text(w, http.StatusNotFound, []byte("404 Not Found: this name is the Encrypted Client Hello public name; it serves no site\n"))
}

// warnECHChange logs that a reload changed the ech block, which is read at
// start only.
func (s *Server) warnECHChange(cfg *config.Config) {
	if !reflect.DeepEqual(cfg.ECH, s.echCfg) {
		s.logger.Warn("ech is read at start; the changed ech block takes effect after a restart")
	}
}
