package config

import (
	"testing"
	"time"
)

// onDemandSite is a catch-all on-demand site after the given top lines.
func onDemandSite(top string) string {
	return top + "sites:\n  - hosts: [\"*\"]\n    tls: on_demand\n    routes: [{respond: {status: 200}}]\n"
}

func TestValidateOnDemandErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want errorWant
	}{
		// Caddy refuses on-demand TLS without ask for the same reason; the
		// message says why, at the site's tls.
		{"no on_demand block", onDemandSite(""),
			errorWant{"sites[0].tls", "3:10", "on-demand certificates need on_demand.ask"}},
		{"block without ask", onDemandSite("on_demand: {burst: 5}\n"),
			errorWant{"on_demand.ask", "1:12", "using up the CA's rate limits"}},
		{"ask not a URL", onDemandSite("on_demand: {ask: \"127.0.0.1:5555\"}\n"),
			errorWant{"on_demand.ask", "1:18", "is not an http:// or https:// URL"}},
		{"negative burst", onDemandSite("on_demand: {ask: \"http://127.0.0.1:1/\", burst: -1}\n"),
			errorWant{"on_demand.burst", "1:48", "must not be negative"}},
		{"catch-all with acme", "sites:\n  - hosts: [\"*\"]\n    tls: acme\n    routes: [{respond: {}}]\n",
			errorWant{"sites[0].tls", "3:10", "needs tls: on_demand"}},
		{"catch-all without tls", hostsSite("\"*\""),
			errorWant{"sites[0].tls", "2:5", "needs tls: on_demand"}},
		{"catch-all with other hosts", "on_demand: {ask: \"http://127.0.0.1:1/\"}\n" +
			"sites:\n  - hosts: [\"*\", app.example.com]\n    tls: on_demand\n    routes: [{respond: {}}]\n",
			errorWant{"sites[0].hosts[0]", "3:13", "stands alone"}},
		{"two catch-alls", "on_demand: {ask: \"http://127.0.0.1:1/\"}\n" +
			"sites:\n  - hosts: [\"*\"]\n    tls: on_demand\n    routes: [{respond: {}}]\n" +
			"  - hosts: [\"*\"]\n    tls: on_demand\n    routes: [{respond: {}}]\n",
			errorWant{"sites[1].hosts[0]", "6:13", "is also a host of sites[0]"}},
		{"unknown mode names on_demand", siteWith("    tls: later\n"),
			errorWant{"sites[0].tls", "3:10", "use acme, local, adhoc, on_demand"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, tt.yaml), LoadOptions{LookupEnv: noEnv})
			checkErrors(t, err, tt.want)
		})
	}
}

func TestValidateOnDemandAccepts(t *testing.T) {
	for name, yaml := range map[string]string{
		"catch-all": onDemandSite("on_demand: {ask: \"http://127.0.0.1:5555/allowed\"}\n"),
		// Each name gets its own certificate: no dns-01 needed for a wildcard.
		"wildcard pattern": "on_demand: {ask: \"https://auth.internal/ok?v=1\"}\n" +
			"sites:\n  - hosts: [\"*.example.com\", example.com]\n    tls: on_demand\n    routes: [{respond: {}}]\n",
		"catch-all beside named sites": "on_demand: {ask: \"http://127.0.0.1:5555/\"}\n" + baseSite +
			"  - hosts: [\"*\"]\n    tls: on_demand\n    routes: [{respond: {}}]\n",
	} {
		t.Run(name, func(t *testing.T) { mustLoad(t, yaml) })
	}
}

func TestOnDemandDefaults(t *testing.T) {
	c := mustLoad(t, onDemandSite("on_demand: {ask: \"http://127.0.0.1:5555/\"}\n")).WithDefaults()
	if got := c.OnDemand.Burst; got != 10 {
		t.Errorf("burst = %d; want 10", got)
	}
	if got := time.Duration(c.OnDemand.Interval); got != time.Minute {
		t.Errorf("interval = %v; want 1m", got)
	}
	if (&Config{}).WithDefaults().OnDemand != nil {
		t.Error("an absent on_demand block got defaults; want it to stay nil (off)")
	}
}
