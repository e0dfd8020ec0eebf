package server

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/tlsgate/tlsgate/internal/admin"
	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/pki"
)

// Role names one of the instance's listeners.
type Role string

// The listener roles; their names are also the keys of Status.Listeners.
const (
	RoleHTTPS Role = "https"
	RoleHTTP  Role = "http"
	RoleAdmin Role = "admin"
	// RoleHTTP3 is HTTP/3 over QUIC, on UDP.
	RoleHTTP3 Role = "http3"
)

// roles are the listener roles in the order they are reported.
func roles() []Role { return []Role{RoleHTTPS, RoleHTTP3, RoleHTTP, RoleAdmin} }

// listenAddrs are the addresses cfg wants per listener role; "" is off.
func listenAddrs(cfg *config.Config) map[Role]string {
	return map[Role]string{
		RoleHTTPS: *cfg.Listen.HTTPS,
		RoleHTTP:  *cfg.Listen.HTTP,
		RoleHTTP3: *cfg.Listen.HTTP3,
		RoleAdmin: *cfg.Admin,
	}
}

// openLocked opens listeners for the addresses of cfg that are not bound
// yet. If any cannot be opened, it closes the others and nothing changes.
// s.reloadMu must be held (or s not yet shared).
func (s *Server) openLocked(cfg *config.Config) (map[Role]*boundListener, error) {
	opened := make(map[Role]*boundListener)
	for role, addr := range listenAddrs(cfg) {
		if addr == "" {
			continue
		}
		if b := s.bound[role]; b != nil && b.addr == addr {
			continue
		}
		if role == RoleHTTP3 {
			b, err := s.listenHTTP3(addr)
			if err != nil {
				for _, b := range opened {
					b.close()
				}
				return nil, err
			}
			opened[role] = b
			continue
		}
		ln, err := listen(role, addr)
		if err != nil {
			for _, b := range opened {
				b.close()
			}
			return nil, err
		}
		if role != RoleAdmin {
			ln = s.clientListener(role, ln)
		}
		opened[role] = &boundListener{addr: addr, ln: ln}
	}
	return opened, nil
}

// clientListener wraps a client-facing listener: at most max_connections
// open (limits are read at start), then PROXY protocol headers from trusted
// peers.
func (s *Server) clientListener(role Role, ln net.Listener) net.Listener {
	ln = newLimitListener(ln, s.limits.MaxConnections, s.capStats[role])
	return s.proxyProtoListener(ln, time.Duration(s.limits.ReadHeaderTimeout))
}

// switchLocked puts cfg's process-wide switches in force, starts serving
// the opened listeners, then closes listeners whose address went away or
// changed. Connections on a closed listener finish normally. s.reloadMu
// must be held (or s not yet shared).
func (s *Server) switchLocked(cfg *config.Config, opened map[Role]*boundListener) {
	s.transport.SetLeanH1(*cfg.LeanH1)
	for role, b := range opened {
		if old := s.bound[role]; old != nil {
			s.closeBound(role, old)
		}
		s.bound[role] = b
		s.serve(role, b)
	}
	want := listenAddrs(cfg)
	for role, b := range s.bound {
		if want[role] == "" {
			s.closeBound(role, b)
			delete(s.bound, role)
		}
	}
	s.setAltSvcLocked()
}

func (s *Server) closeBound(role Role, b *boundListener) {
	if role == RoleHTTP3 {
		s.retireHTTP3(b) // drains in the background, then logs
		return
	}
	b.closing.Store(true)
	b.close()
	s.logger.Info("stopped listening", "role", role, "address", b.addr)
}

// serve runs one listener's accept loop in its own goroutine.
func (s *Server) serve(role Role, b *boundListener) {
	var serveH3 func() error
	if role == RoleHTTP3 {
		serveH3 = s.serveHTTP3(b)
	}
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		var err error
		switch role {
		case RoleHTTPS:
			err = s.https.Serve(b.ln)
		case RoleHTTP:
			err = s.http.Serve(b.ln)
		case RoleAdmin:
			err = s.admin.Serve(b.ln)
		case RoleHTTP3:
			err = serveH3()
		}
		if b.closing.Load() || errors.Is(err, http.ErrServerClosed) {
			return
		}
		s.serveErr <- err
	}()
}

func (s *Server) logServing() {
	rt := s.rt.Load()
	s.reloadMu.Lock()
	attrs := []any{}
	for _, role := range roles() {
		if b := s.bound[role]; b != nil {
			attrs = append(attrs, string(role), b.localAddr().String())
		}
	}
	s.reloadMu.Unlock()
	hosts := []string{}
	for _, st := range rt.sites {
		hosts = append(hosts, st.hosts...)
	}
	attrs = append(attrs, "hosts", hosts, "engine", rt.cfg.Server.Engine)
	s.logger.Info("serving", attrs...)
}

// Addr returns the bound address of a listener role, or nil when that
// listener is off.
func (s *Server) Addr(role Role) net.Addr {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if b := s.bound[role]; b != nil {
		return b.localAddr()
	}
	return nil
}

// LocalRootPath is the local CA's root certificate file.
func (s *Server) LocalRootPath() string { return pki.RootCertPath(s.certs.LocalCADir()) }

// Status describes the instance for the admin API.
func (s *Server) Status() admin.Status {
	rt := s.rt.Load()
	st := admin.Status{
		Version:    s.opts.Version,
		Uptime:     s.opts.Now().Sub(s.started).Round(time.Second).String(),
		Started:    s.started,
		Now:        s.opts.Now(),
		ConfigFile: rt.cfg.File,
		Listeners:  make(map[string]string),
	}
	for _, d := range rt.cfg.Alerts.ExpiryWarnings {
		st.ExpiryWarningDays = append(st.ExpiryWarningDays, time.Duration(d).Hours()/24)
	}
	for _, sc := range rt.cfg.Sites {
		ss := admin.SiteStatus{Hosts: sc.Hosts, TLS: sc.TLS.Mode} // cfg has its defaults: TLS is set
		for _, r := range sc.Routes {
			ss.Routes = append(ss.Routes, r.Path)
			ss.RouteActions = append(ss.RouteActions, routeAction(r))
		}
		st.Sites = append(st.Sites, ss)
	}
	for _, role := range roles() {
		if a := s.Addr(role); a != nil {
			st.Listeners[string(role)] = a.String()
		}
	}
	for _, u := range s.health.List() {
		st.Upstreams = append(st.Upstreams, admin.UpstreamStatus{Route: u.Route, Upstream: u.Upstream, Healthy: u.Healthy, Checkers: u.Checkers})
	}
	return st
}

// routeAction says in a few words what a route does, for /status.
func routeAction(r config.Route) string {
	switch {
	case len(r.To) > 0:
		return "proxy " + strings.Join(r.To, ", ")
	case r.Static != nil:
		return "static " + r.Static.Root
	case r.Redirect != nil:
		return "redirect " + r.Redirect.To
	case r.Respond != nil:
		return fmt.Sprintf("respond %d", r.Respond.Status)
	}
	return ""
}
