package server

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/dns"
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
		// An on_demand site gets the name a certificate only after its
		// ask: its wildcard does not cover the public name (issue 15).
		{"on_demand wildcard", "ech.example.com", []config.Site{site(config.TLSOnDemand, "*.example.com"), site(config.TLSLocal, "b.test")}, config.TLSACME},
		{"on_demand exact", "ech.example.com", []config.Site{site(config.TLSOnDemand, "ech.example.com")}, config.TLSACME},
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

func strp(s string) *string { return &s }

// The records to publish: one per DNS-name host, through the site's own
// rfc2136 block or acme.dns (config.SiteDNS, as dns-01 chooses); hosts of a
// site whose provider is not rfc2136 are skipped; h3 only when QUIC listens
// on the https port, since one record has one port.
func TestECHTargets(t *testing.T) {
	acmeDNS := &config.DNS{Provider: config.DNSRFC2136, Server: "127.0.0.1:53"}
	ownDNS := &config.DNS{Provider: config.DNSRFC2136, Server: "127.0.0.2:53"}
	otherDNS := &config.DNS{Provider: "cloudflare"}
	sites := []config.Site{
		{Hosts: []string{"a.example.com", "*.w.example.com", "192.0.2.1"}},
		{Hosts: []string{"b.example.com"}, DNS: ownDNS},
		{Hosts: []string{"c.example.com"}, DNS: otherDNS},
		{Hosts: []string{config.CatchAllHost}},
	}
	for _, tt := range []struct {
		name, https, http3 string
		wantALPN           []string
		wantPort           uint16
	}{
		{"same port", ":8443", ":8443", []string{"h2", "h3"}, 8443},
		{"http3 elsewhere", ":8443", ":9443", []string{"h2"}, 8443},
		{"http3 off", ":443", "", []string{"h2"}, 443},
		{"default ports", "0.0.0.0:443", "[::]:443", []string{"h2", "h3"}, 443},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &config.Config{Sites: sites, Listen: config.Listen{HTTPS: strp(tt.https), HTTP3: strp(tt.http3)}, ACME: config.ACME{DNS: acmeDNS}}
			got, skipped := echTargets(cfg, &config.ECH{Rotate: config.Duration(time.Hour)}, []byte("list"))
			if !slices.Equal(skipped, []string{"c.example.com"}) {
				t.Errorf("skipped %v; want [c.example.com] (cloudflare is not rfc2136)", skipped)
			}
			if len(got) != 2 {
				t.Fatalf("got %d records %+v; want a.example.com and b.example.com", len(got), got)
			}
			for i, want := range []struct {
				host string
				dns  *config.DNS
			}{{"a.example.com", acmeDNS}, {"b.example.com", ownDNS}} {
				r := got[i]
				if r.rec.Name != want.host || !reflect.DeepEqual(r.dns, *want.dns) {
					t.Errorf("record %d: %s via %s; want %s via %s", i, r.rec.Name, r.dns.Server, want.host, want.dns.Server)
				}
				if !slices.Equal(r.rec.ALPN, tt.wantALPN) || r.rec.Port != tt.wantPort {
					t.Errorf("%s: alpn %v port %d; want %v port %d", r.rec.Name, r.rec.ALPN, r.rec.Port, tt.wantALPN, tt.wantPort)
				}
			}
		})
	}
}

// One failing host is retried alone: the hosts already published are not
// written again, and once it succeeds nothing is written until a record
// changes.
func TestECHPublisherRetriesFailuresOnly(t *testing.T) {
	var written []string
	failing := map[string]bool{"b.test": true}
	p := newECHPublisher(func(_ context.Context, _ config.DNS, rec dns.HTTPSRecord) error {
		written = append(written, rec.Name)
		if failing[rec.Name] {
			return errors.New("refused")
		}
		return nil
	}, nil)
	targets := func(list string, hosts ...string) []echTarget {
		var out []echTarget
		for _, h := range hosts {
			out = append(out, echTarget{rec: dns.HTTPSRecord{Name: h, ALPN: []string{"h2"}, ECH: []byte(list)}})
		}
		return out
	}
	ctx := context.Background()
	for _, step := range []struct {
		why     string
		targets []echTarget
		fixB    bool
		want    []string
		wantErr bool
	}{
		{"first publish: all written, b fails", targets("1", "a.test", "b.test", "c.test"), false, []string{"a.test", "b.test", "c.test"}, true},
		{"retry: only b", targets("1", "a.test", "b.test", "c.test"), false, []string{"b.test"}, true},
		{"b works again", targets("1", "a.test", "b.test", "c.test"), true, []string{"b.test"}, false},
		{"nothing changed", targets("1", "a.test", "b.test", "c.test"), true, nil, false},
		{"a new list: all", targets("2", "a.test", "b.test", "c.test"), true, []string{"a.test", "b.test", "c.test"}, false},
		{"c removed", targets("2", "a.test", "b.test"), true, nil, false},
		{"c back: written again", targets("2", "a.test", "b.test", "c.test"), true, []string{"c.test"}, false},
	} {
		if step.fixB {
			failing["b.test"] = false
		}
		written = nil
		err := p.publish(ctx, step.targets)
		if (err != nil) != step.wantErr || !reflect.DeepEqual(written, step.want) {
			t.Errorf("%s: wrote %v (error %v); want %v (error %v)", step.why, written, err, step.want, step.wantErr)
		}
	}
}
