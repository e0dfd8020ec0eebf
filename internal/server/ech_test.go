package server

import (
	"testing"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/ech"
)

// The public name gets its own site unless a site lists it, with the first
// site's TLS mode when that can cover any name.
func TestECHSite(t *testing.T) {
	dnsBlock := &config.DNS{Provider: config.DNSRFC2136, Server: "127.0.0.1:53"}
	site := func(mode string, hosts ...string) config.Site {
		return config.Site{Hosts: hosts, TLS: &config.TLS{Mode: mode}, DNS: dnsBlock}
	}
	tests := []struct {
		name     string
		public   string
		sites    []config.Site
		wantMode string // "" means no extra site
	}{
		{"first site acme", "ech.example.com", []config.Site{site(config.TLSACME, "app.example.com"), site(config.TLSLocal, "b.test")}, config.TLSACME},
		{"first site local", "ech.example.com", []config.Site{site(config.TLSLocal, "app.test")}, config.TLSLocal},
		{"first site adhoc", "ech.test", []config.Site{site(config.TLSAdhoc, "app.test")}, config.TLSAdhoc},
		// A file certificate covers its own names only: the default rule.
		{"first site file, public name", "ech.example.com", []config.Site{site(config.TLSFile, "app.example.com")}, config.TLSACME},
		{"first site file, local name", "ech.test", []config.Site{site(config.TLSFile, "app.test")}, config.TLSLocal},
		{"listed by a site", "ech.test", []config.Site{site(config.TLSLocal, "app.test", "ech.test")}, ""},
		{"covered by a wildcard", "ech.example.com", []config.Site{site(config.TLSACME, "*.example.com")}, ""},
		// A catch-all would ask on_demand's ask first: not a stand-in.
		{"catch-all", "ech.example.com", []config.Site{site(config.TLSACME, "*")}, config.TLSACME},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Server{ech: &ech.Manager{}, echCfg: &config.ECH{PublicName: tt.public}}
			got := s.echSite(&config.Config{Sites: tt.sites})
			switch {
			case tt.wantMode == "" && got != nil:
				t.Fatalf("got an extra site %+v; want none", got)
			case tt.wantMode == "":
				return
			case got == nil:
				t.Fatalf("got no site; want one with tls %s", tt.wantMode)
			}
			if got.TLS.Mode != tt.wantMode || len(got.Hosts) != 1 || got.Hosts[0] != tt.public {
				t.Errorf("got hosts %v tls %s; want [%s] tls %s", got.Hosts, got.TLS.Mode, tt.public, tt.wantMode)
			}
			if tt.wantMode == config.TLSACME && tt.sites[0].TLS.Mode == config.TLSACME && got.DNS != dnsBlock {
				t.Error("the first site's dns block was not kept")
			}
		})
	}
	if (&Server{}).echSite(&config.Config{Sites: []config.Site{site(config.TLSLocal, "a.test")}}) != nil {
		t.Error("an extra site with ECH off")
	}
}
