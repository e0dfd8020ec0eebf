package server

import (
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/pki"
)

// listenAddrs are the addresses cfg wants per listener role; "" is off.
func listenAddrs(cfg *config.Config) map[string]string {
	return map[string]string{
		"https": *cfg.Listen.HTTPS,
		"http":  *cfg.Listen.HTTP,
		"admin": *cfg.Admin,
	}
}

// openLocked opens listeners for the addresses of cfg that are not bound
// yet. If any cannot be opened, it closes the others and nothing changes.
// s.reloadMu must be held (or s not yet shared).
func (s *Server) openLocked(cfg *config.Config) (map[string]*boundListener, error) {
	opened := make(map[string]*boundListener)
	for role, addr := range listenAddrs(cfg) {
		if addr == "" {
			continue
		}
		if b := s.bound[role]; b != nil && b.addr == addr {
			continue
		}
		ln, err := listen(role, addr)
		if err != nil {
			for _, b := range opened {
				b.ln.Close()
			}
			return nil, err
		}
		opened[role] = &boundListener{addr: addr, ln: ln}
	}
	return opened, nil
}

// switchLocked starts serving the opened listeners, then closes listeners
// whose address went away or changed. Connections on a closed listener
// finish normally. s.reloadMu must be held (or s not yet shared).
func (s *Server) switchLocked(cfg *config.Config, opened map[string]*boundListener) {
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
}

func (s *Server) closeBound(role string, b *boundListener) {
	b.closing.Store(true)
	b.ln.Close()
	s.logger.Info("stopped listening", "role", role, "address", b.addr)
}

// serve runs one listener's accept loop in its own goroutine.
func (s *Server) serve(role string, b *boundListener) {
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		var err error
		switch role {
		case "https":
			err = s.https.ServeTLS(b.ln, "", "")
		case "http":
			err = s.http.Serve(b.ln)
		case "admin":
			err = s.admin.Serve(b.ln)
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
	for _, role := range []string{"https", "http", "admin"} {
		if b := s.bound[role]; b != nil {
			attrs = append(attrs, role, b.ln.Addr().String())
		}
	}
	s.reloadMu.Unlock()
	hosts := []string{}
	for _, st := range rt.sites {
		hosts = append(hosts, st.hosts...)
	}
	attrs = append(attrs, "hosts", hosts)
	s.logger.Info("serving", attrs...)
}

// Addr returns the bound address of a listener role ("https", "http",
// "admin"), or nil when that listener is off.
func (s *Server) Addr(role string) net.Addr {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if b := s.bound[role]; b != nil {
		return b.ln.Addr()
	}
	return nil
}

// LocalRootPath is the local CA's root certificate file.
func (s *Server) LocalRootPath() string { return pki.RootCertPath(s.certs.LocalCADir()) }

// Status is what the admin API's /status reports.
type Status struct {
	Version    string            `json:"version"`
	Uptime     string            `json:"uptime"`
	Started    time.Time         `json:"started"`
	ConfigFile string            `json:"config_file"`
	Sites      []SiteStatus      `json:"sites"`
	Listeners  map[string]string `json:"listeners"`
}

// SiteStatus describes one site in Status.
type SiteStatus struct {
	Hosts  []string `json:"hosts"`
	TLS    string   `json:"tls"`
	Routes []string `json:"routes"`
}

// Status describes the instance for the admin API.
func (s *Server) Status() any {
	rt := s.rt.Load()
	st := Status{
		Version:    s.opts.Version,
		Uptime:     s.opts.Now().Sub(s.started).Round(time.Second).String(),
		Started:    s.started,
		ConfigFile: rt.cfg.File,
		Listeners:  make(map[string]string),
	}
	for _, sc := range rt.cfg.Sites {
		ss := SiteStatus{Hosts: sc.Hosts, TLS: siteTLS(sc).Mode}
		for _, r := range sc.Routes {
			ss.Routes = append(ss.Routes, r.Path)
		}
		st.Sites = append(st.Sites, ss)
	}
	for _, role := range []string{"https", "http", "admin"} {
		if a := s.Addr(role); a != nil {
			st.Listeners[role] = a.String()
		}
	}
	return st
}
