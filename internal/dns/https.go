package dns

import (
	"context"
	"fmt"
	"time"

	mdns "github.com/miekg/dns"
)

// HTTPSRecord is an HTTPS record (type 65, RFC 9460) in ServiceMode for
// the name itself: "NAME TTL IN HTTPS 1 . alpn=... [port=...] ech=...".
type HTTPSRecord struct {
	// Name is the fully qualified or relative-to-nothing host name
	// ("app.example.com"); a trailing dot is added.
	Name string
	TTL  time.Duration
	// ALPN lists the protocols offered ("h2", "h3"); HTTP/1.1 is implied.
	ALPN []string
	// Port is the HTTPS port when it is not 443; zero leaves it out.
	Port uint16
	// ECH is the ECHConfigList (raw bytes; base64 in zone files).
	ECH []byte
}

// RR is the record in miekg/dns form; its String is the zone-file line.
func (r HTTPSRecord) RR() *mdns.HTTPS {
	rr := &mdns.HTTPS{SVCB: mdns.SVCB{
		Hdr:      mdns.RR_Header{Name: mdns.Fqdn(r.Name), Rrtype: mdns.TypeHTTPS, Class: mdns.ClassINET, Ttl: uint32(max(r.TTL, time.Second) / time.Second)},
		Priority: 1,
		Target:   ".",
	}}
	if len(r.ALPN) > 0 {
		rr.Value = append(rr.Value, &mdns.SVCBAlpn{Alpn: r.ALPN})
	}
	if r.Port != 0 && r.Port != 443 {
		rr.Value = append(rr.Value, &mdns.SVCBPort{Port: r.Port})
	}
	if len(r.ECH) > 0 {
		rr.Value = append(rr.Value, &mdns.SVCBECHConfig{ECH: r.ECH})
	}
	return rr
}

// ReplaceHTTPS makes rec the only HTTPS record of its name, in one dynamic
// update (the old records are deleted and the new one added atomically), in
// Zone or else the zone the server's SOA answers name.
func (p *RFC2136) ReplaceHTTPS(ctx context.Context, rec HTTPSRecord) error {
	rr := rec.RR()
	zone, err := p.FindZone(ctx, rr.Hdr.Name)
	if err != nil {
		return fmt.Errorf("rfc2136: zone of %s: %w", rr.Hdr.Name, err)
	}
	m := new(mdns.Msg)
	m.SetUpdate(zone)
	m.RemoveRRset([]mdns.RR{&mdns.ANY{Hdr: mdns.RR_Header{Name: rr.Hdr.Name, Rrtype: mdns.TypeHTTPS, Class: mdns.ClassANY}}})
	m.Insert([]mdns.RR{rr})
	if err := p.send(ctx, m, zone); err != nil {
		return fmt.Errorf("rfc2136: replace HTTPS %s in zone %s at %s: %w", rr.Hdr.Name, zone, p.Server, err)
	}
	return nil
}
