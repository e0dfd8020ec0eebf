package config

import (
	"net/url"
	"slices"
)

// onDemand checks the on_demand block.
func (v *validator) onDemand() {
	o := v.c.OnDemand
	if o == nil {
		return
	}
	if o.Ask == "" {
		v.errf("on_demand.ask", "%s", askRequired)
	} else if u, err := url.Parse(o.Ask); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
		v.errf("on_demand.ask", "%q is not an http:// or https:// URL; write the address of your ask service, e.g. http://127.0.0.1:5555/allowed (tlsgate adds ?domain=NAME)", o.Ask)
	}
	if o.Burst < 0 {
		v.errf("on_demand.burst", "must not be negative; write how many new names may be ordered per interval, e.g. 10")
	}
}

// askRequired says why on-demand certificates need on_demand.ask, as Caddy
// does: it is the only thing between a stranger's DNS record and an order.
const askRequired = "on-demand certificates need on_demand.ask, the URL of a service that says which names are yours " +
	"(tlsgate asks GET ASK?domain=NAME and orders only on 200): without it anyone who points a DNS name at this server " +
	"makes tlsgate order a certificate for it, using up the CA's rate limits and filling storage; " +
	"add on_demand: {ask: \"http://127.0.0.1:5555/allowed\"}"

// onDemandSite checks a tls: on_demand site: ask is set, and its names can
// be validated by a challenge (each name gets its own certificate, so
// wildcard hosts need no dns-01).
func (v *validator) onDemandSite(path string, s *Site) {
	if v.c.OnDemand == nil { // a block without ask is reported at on_demand.ask
		v.errf(path+".tls", "tls on_demand: %s", askRequired)
	}
	hasDNS01 := slices.Contains(v.c.ACME.Challenges, ChallengeDNS01)
	if hasDNS01 && s.DNS == nil && v.c.ACME.DNS == nil && len(v.c.ACME.Challenges) == 1 {
		v.errf(path, "acme.challenges is only dns-01 but no dns provider is set; set acme.dns or this site's dns")
	}
}
