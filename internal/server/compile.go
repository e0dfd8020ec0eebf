package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tlsgate/tlsgate/internal/answer"
	"github.com/tlsgate/tlsgate/internal/certs"
	"github.com/tlsgate/tlsgate/internal/compress"
	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/edge"
	"github.com/tlsgate/tlsgate/internal/proxy"
	"github.com/tlsgate/tlsgate/internal/route"
)

// compile builds a Runtime from cfg (defaults already applied). It asks the
// certificate manager for every site's certificate, so a Runtime that
// compiles can serve at once.
func (s *Server) compile(ctx context.Context, cfg *config.Config) (*Runtime, error) {
	trusted, err := parsePrefixes("trusted_proxies", cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	var proxyTrusted []netip.Prefix
	if pp := cfg.Listen.ProxyProtocol; pp != nil {
		if proxyTrusted, err = parsePrefixes("listen.proxy_protocol.trusted", pp.Trusted); err != nil {
			return nil, err
		}
	}
	sites := cfg.Sites
	echSite := s.echSite(cfg)
	if echSite != nil {
		sites = append(slices.Clone(sites), *echSite)
	}
	sources, err := s.certs.Apply(ctx, sites, acmeSettings(cfg))
	if err != nil {
		return nil, withSitePositions(cfg, err)
	}

	mw, err := s.accessMiddleware(cfg, trusted)
	if err != nil {
		return nil, err
	}
	rt := &Runtime{cfg: cfg, byIP: make(map[netip.Addr]*site), log: mw, proxyTrusted: proxyTrusted,
		maxHeaderBytes: int64(s.limits.MaxHeaderBytes)}
	byHost := make(map[string]*site)
	for i, sc := range cfg.Sites {
		handler, pages, err := s.compileRoutes(cfg, i, trusted, rt)
		if err != nil {
			return nil, err
		}
		ca, err := s.compileClientAuth(sc.ClientAuth)
		if err != nil {
			at := fmt.Sprintf("sites[%d].client_auth", i)
			return nil, fmt.Errorf("%s: %s: %w", cfg.Position(at), at, err)
		}
		st := &site{hosts: sc.Hosts, handler: handler, source: sources[i], auth: ca, pages: pages, defaultName: firstPlainHost(sc.Hosts), noLog: isFalse(sc.AccessLog), strictHost: sc.StrictHost == nil || *sc.StrictHost}
		st.tls = s.siteTLSConfig(st, ca)
		st.tls.SetSessionTicketKeys(s.tickets.forSite(sc.Hosts))
		rt.sites = append(rt.sites, st)
		for _, h := range sc.Hosts {
			byHost[h] = st
			if ip, err := netip.ParseAddr(h); err == nil {
				rt.byIP[ip.Unmap()] = st
			}
		}
	}
	if echSite != nil {
		s.compileECHSite(rt, byHost, echSite, sources[len(cfg.Sites)])
	}
	rt.hosts = route.NewHosts(byHost)
	switch {
	case cfg.DefaultSNI != "":
		rt.fallback, _ = rt.hosts.Match(cfg.DefaultSNI)
	case len(rt.sites) == 1:
		rt.fallback = rt.sites[0]
	}
	rt.noCert = s.baseTLSConfig()
	rt.redirect = s.redirectHandler(cfg, rt.hosts)
	return rt, nil
}

func acmeSettings(cfg *config.Config) certs.ACME {
	a := certs.ACME{
		Directory:    config.ACMEDirectoryURL(cfg.ACME.Directory),
		Email:        cfg.Email,
		TrustedRoots: cfg.ACME.TrustedRoots,
		Challenges:   cfg.ACME.Challenges,
		Profile:      cfg.ACME.Profile,
		HTTPAddr:     *cfg.Listen.HTTP,
		HTTPSAddr:    *cfg.Listen.HTTPS,
	}
	if cfg.ACME.Fallback != "" {
		a.Fallback = config.ACMEDirectoryURL(cfg.ACME.Fallback)
	}
	if cfg.ACME.EAB != nil {
		a.EAB = &certs.EAB{KeyID: cfg.ACME.EAB.KeyID, MACKey: cfg.ACME.EAB.MACKey}
	}
	a.DNS = cfg.ACME.DNS
	a.OnDemand = cfg.OnDemand
	return a
}

// compileRoutes builds site i's handler: its routes behind its edge policy;
// it returns the site's error pages too, for answers made before the handler.
// Its proxy routes join rt.proxies, whose health checks start with rt.
func (s *Server) compileRoutes(cfg *config.Config, i int, trusted []netip.Prefix, rt *Runtime) (http.Handler, *answer.Pages, error) {
	sc := cfg.Sites[i]
	routes := make([]route.Route, 0, len(sc.Routes))
	for j, rc := range sc.Routes {
		at := fmt.Sprintf("sites[%d].routes[%d]", i, j)
		h, err := s.compileAction(rc, trusted, firstPlainHost(sc.Hosts)+rc.Path)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %s: %w", cfg.Position(at), at, err)
		}
		if ph, ok := h.(*proxy.Handler); ok {
			rt.proxies = append(rt.proxies, ph)
			// A client that stops reading lets go of the upstream.
			h = edge.WriteTimeout(h, time.Duration(cfg.Limits.ResponseWriteTimeout))
		}
		// CORS is per route (a route's own policy replaces the site's),
		// innermost, so preflights stop before the action.
		if c := cmp.Or(rc.CORS, sc.CORS); c != nil {
			if h, err = edge.CORS(h, *c, s.logger.With("component", "cors")); err != nil {
				at += ".cors"
				if rc.CORS == nil {
					at = fmt.Sprintf("sites[%d].cors", i)
				}
				return nil, nil, fmt.Errorf("%s: %s: %w", cfg.Position(at), at, err)
			}
		}
		// --- traffic: request body limits (issue 12) ---
		// Outside CORS and around the action, the only reader of the body.
		maxBody := int64(*cfg.Limits.MaxBodyBytes)
		if rc.MaxBodyBytes != nil {
			maxBody = int64(*rc.MaxBodyBytes)
		}
		h = edge.BodyLimit(h, maxBody, time.Duration(cfg.Limits.BodyReadTimeout))
		if c := cmp.Or(rc.Compress, sc.Compress); c != nil && c.Enabled {
			h = compress.Handler(h, compress.Options{Encodings: c.Encodings, MinLength: int(c.MinLength), Types: c.Types})
		}
		// --- end traffic ---
		// --- access control (access.go): IP lists → rate limit → auth,
		// all outside CORS; auth lets preflights through to CORS uncredentialed.
		if h, err = s.compileAccess(cfg, i, j, h, trusted); err != nil {
			return nil, nil, err
		}
		// --- end access control
		h = routeLog(h, rc.Path, isFalse(rc.AccessLog))
		routes = append(routes, route.Route{Prefix: rc.Path, Handler: h})
	}
	// HSTS outside CORS, so preflight answers carry it too; header edits
	// outermost, so they apply to every answer (the proxy still replaces
	// forwarding and client-certificate headers after the request edits).
	var h http.Handler = route.NewPaths(routes)
	if sc.HSTS != nil {
		h = edge.HSTS(h, time.Duration(sc.HSTS.MaxAge), sc.HSTS.IncludeSubdomains, sc.HSTS.Preload)
	}
	h = edge.Headers(h, sc.Headers, sc.SecurityHeaders)
	// Error pages outermost: every answer tlsgate makes inside reads them.
	pages, err := readErrorPages(sc.ErrorPages)
	if err != nil {
		at := fmt.Sprintf("sites[%d].error_pages", i)
		return nil, nil, fmt.Errorf("%s: %s: %w", cfg.Position(at), at, err)
	}
	return answer.WithPages(h, pages), pages, nil
}

// readErrorPages reads a site's error_pages (validated: the keys are
// status codes).
func readErrorPages(files map[string]string) (*answer.Pages, error) {
	byStatus := make(map[int]string, len(files))
	for code, f := range files {
		n, err := strconv.Atoi(code)
		if err != nil {
			return nil, fmt.Errorf("%q is not a status code", code)
		}
		byStatus[n] = f
	}
	return answer.ReadPages(byStatus)
}

// compileAction builds a route's action; name is the route's name in
// upstream logs, health state and metrics ("app.example.com/api/").
func (s *Server) compileAction(rc config.Route, trusted []netip.Prefix, name string) (http.Handler, error) {
	switch {
	case rc.Respond != nil:
		return route.Respond(rc.Respond.Status, rc.Respond.Body, rc.Respond.Headers), nil
	case rc.Redirect != nil:
		parts, err := config.ParseRedirect(rc.Redirect.To)
		if err != nil {
			return nil, fmt.Errorf("redirect.to: %w", err)
		}
		return route.Redirect(parts, rc.Redirect.Status, rc.Path), nil
	case rc.Static != nil:
		h, err := route.Static(rc.Static.Root, rc.Static.Browse, rc.Static.Index)
		if err != nil {
			return nil, err
		}
		// The route's path names the directory: /static/app.css under
		// path /static/ is ROOT/app.css (nginx's alias, Caddy's handle_path).
		if prefix := strings.TrimSuffix(rc.Path, "/"); prefix != "" {
			h = http.StripPrefix(prefix, h)
		}
		return h, nil
	default:
		return s.compileProxy(rc, trusted, name)
	}
}

// baseTLSConfig is the TLS policy every site starts from: TLS 1.2 and 1.3
// only, AEAD cipher suites with forward secrecy, HTTP/2 and HTTP/1.1.
func (s *Server) baseTLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		NextProtos: []string{"h2", "http/1.1"},
	}
}

func (s *Server) siteTLSConfig(st *site, ca *clientAuth) *tls.Config {
	c := s.baseTLSConfig()
	c.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		return st.source.Certificate(hello, st.certificateName(hello))
	}
	if s.ech != nil {
		// crypto/tls reads the retry configs (sent when it declines a
		// client's ECH) from the config GetConfigForClient returned.
		c.GetEncryptedClientHelloKeys = s.ech.Keys
	}
	if ca != nil {
		ca.apply(c)
	}
	return c
}

// redirectHandler answers the plain-HTTP listener: 308 to https for the
// hosts of our sites, 404 for other names.
func (s *Server) redirectHandler(cfg *config.Config, hosts *route.Hosts[*site]) http.Handler {
	redirect := edge.RedirectHTTPS(portOf(*cfg.Listen.HTTPS, 443))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.certs.HandleHTTPChallenge(w, r) {
			return
		}
		if _, ok := hosts.Match(r.Host); !ok {
			http.Error(w, "404 Not Found: this server has no site for that name", http.StatusNotFound)
			return
		}
		redirect.ServeHTTP(w, r)
	})
}

func parsePrefixes(key string, list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not an IP address or CIDR", key, s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// firstPlainHost is the first host that is not a wildcard, else the first.
func firstPlainHost(hosts []string) string {
	for _, h := range hosts {
		if !strings.HasPrefix(h, "*.") {
			return h
		}
	}
	return hosts[0]
}

// portOf returns the port of a listen address, or def when it has none.
func portOf(addr string, def int) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return def
	}
	var n int
	if _, err := fmt.Sscanf(p, "%d", &n); err != nil || n == 0 {
		return def
	}
	return n
}

// withSitePositions prefixes each certs.SiteError with where that site's tls
// setting was written, so the user can find it.
func withSitePositions(cfg *config.Config, err error) error {
	var errs []error
	for _, e := range unjoin(err) {
		var se *certs.SiteError
		if errors.As(e, &se) {
			at := fmt.Sprintf("sites[%d].tls", se.Site)
			if se.Site >= len(cfg.Sites) {
				at = "ech.public_name" // the site echSite added
			} else if cfg.Position(at).Line == 0 {
				at = fmt.Sprintf("sites[%d].hosts", se.Site)
			}
			e = fmt.Errorf("%s: %s: %w", cfg.Position(at), at, se.Err)
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
