package server

import (
	"fmt"
	"github.com/tlsgate/tlsgate/internal/events"
	"net/netip"
	"time"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/proxy"
)

// compileProxy builds a proxy route. Its upstreams' health lives in
// s.health under name, so a reload that keeps the route and an upstream
// keeps that upstream's state.
func (s *Server) compileProxy(rc config.Route, trusted []netip.Prefix, name string) (*proxy.Handler, error) {
	strip := ""
	if rc.StripPrefix {
		strip = rc.Path
	}
	opts := proxy.Options{
		Upstreams:             rc.To,
		LB:                    rc.LB,
		ResponseHeaderTimeout: time.Duration(rc.Timeout),
		DialTimeout:           time.Duration(rc.DialTimeout),
		StripPrefix:           strip,
		TrustedProxies:        trusted,
		Transport:             s.transport,
		Name:                  name,
		Logger:                s.logger.With("component", "proxy"),
		Health:                s.health,
		Retries:               rc.Retries,
		RetryOn:               rc.RetryOn,
		CookiePath:            rc.Path,
	}
	if h := rc.HealthCheck; h != nil {
		opts.HealthCheck = &proxy.HealthCheck{
			Path:           h.Path,
			Interval:       time.Duration(h.Interval),
			Timeout:        time.Duration(h.Timeout),
			ExpectStatus:   h.ExpectStatus,
			UnhealthyAfter: h.UnhealthyAfter,
			HealthyAfter:   h.HealthyAfter,
		}
	}
	if p := rc.PassiveHealth; p != nil {
		opts.Passive = proxy.Passive{FailAfter: p.FailAfter, Window: time.Duration(p.Window), Cooldown: time.Duration(p.Cooldown)}
	}
	if t := rc.UpstreamTLS; t != nil {
		ut, err := proxy.LoadUpstreamTLS(t.CAFiles, t.ServerName, t.ClientCertFile, t.ClientKeyFile)
		if err != nil {
			return nil, fmt.Errorf("upstream_tls: %w", err)
		}
		opts.UpstreamTLS = ut
	}
	return proxy.New(opts)
}

// startUpstreams starts the health checks of rt's proxy routes; Server
// calls it once rt is in service.
func (rt *Runtime) startUpstreams() {
	for _, p := range rt.proxies {
		p.Start()
	}
}

// stopUpstreams stops rt's health checks and waits for them; Server
// calls it when rt leaves service.
func (rt *Runtime) stopUpstreams() {
	for _, p := range rt.proxies {
		p.Stop()
	}
}

// healthKeys are the route names and upstreams whose health rt keeps.
func (rt *Runtime) healthKeys() map[string][]string {
	out := make(map[string][]string, len(rt.proxies))
	for _, p := range rt.proxies {
		out[p.Name()] = p.Keys()
	}
	return out
}

// upstreamEvents turns an upstream leaving or returning to rotation into
// upstream_down / upstream_up on the bus (which never blocks).
func upstreamEvents(bus events.Emitter) func(proxy.Change) {
	return func(c proxy.Change) {
		e := events.Event{Event: events.UpstreamUp, Name: c.Upstream, Detail: map[string]any{"route": c.Route, "reason": c.Reason}}
		if !c.Up {
			e.Event = events.UpstreamDown
			e.Detail["error"] = c.Reason
		}
		bus.Emit(e)
	}
}
