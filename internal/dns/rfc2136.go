package dns

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libdns/libdns"
	mdns "github.com/miekg/dns"
)

// ErrTSIGRefused is returned (wrapped) when the server did not accept the
// TSIG key an update was signed with.
var ErrTSIGRefused = errors.New("the TSIG key was refused: check tsig_key_name/tsig_secret/tsig_algorithm against the server's key")

// RFC2136 writes TXT records with dynamic DNS updates (RFC 2136) to the
// primary server of a zone, signed with TSIG (RFC 8945) when a key is set.
// It is safe for concurrent use; the zero value is unusable (Server is
// required).
type RFC2136 struct {
	// Server is the primary that takes updates, HOST or HOST:PORT (53).
	Server string
	// KeyName, Algorithm and Secret are the TSIG key, as in BIND's key
	// file: Algorithm hmac-sha256 (the default when empty) or hmac-sha512,
	// Secret base64. No KeyName means unsigned updates.
	KeyName, Algorithm, Secret string
	// Zone, when set, is the zone every update goes to, whatever zone the
	// caller names; empty means the caller's zone, or the one FindZone finds.
	Zone string
}

var (
	_ libdns.RecordAppender = (*RFC2136)(nil)
	_ libdns.RecordDeleter  = (*RFC2136)(nil)
)

// FindZone returns Zone when set, otherwise the zone of fqdn as the
// server's SOA answers say.
func (p *RFC2136) FindZone(ctx context.Context, fqdn string) (string, error) {
	if p.Zone != "" {
		return mdns.Fqdn(p.Zone), nil
	}
	return FindZone(ctx, p.Server, fqdn)
}

// AppendRecords adds the TXT records recs (names relative to zone) next to
// any that exist.
func (p *RFC2136) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	return p.update(ctx, zone, recs, true)
}

// DeleteRecords removes exactly the TXT records recs; absent ones are ignored.
func (p *RFC2136) DeleteRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	return p.update(ctx, zone, recs, false)
}

func (p *RFC2136) update(ctx context.Context, zone string, recs []libdns.Record, add bool) ([]libdns.Record, error) {
	target := zone
	if p.Zone != "" {
		target = p.Zone
	}
	target = mdns.Fqdn(target)
	rrs := make([]mdns.RR, 0, len(recs))
	for _, rec := range recs {
		rr := rec.RR()
		if rr.Type != "TXT" {
			return nil, fmt.Errorf("rfc2136: only TXT records are supported, not %s", rr.Type)
		}
		rrs = append(rrs, &mdns.TXT{
			Hdr: mdns.RR_Header{Name: mdns.Fqdn(libdns.AbsoluteName(rr.Name, mdns.Fqdn(zone))), Rrtype: mdns.TypeTXT,
				Class: mdns.ClassINET, Ttl: uint32(max(rr.TTL, time.Second) / time.Second)},
			Txt: splitTXT(rr.Data),
		})
	}
	m := new(mdns.Msg)
	m.SetUpdate(target)
	if add {
		m.Insert(rrs)
	} else {
		m.Remove(rrs)
	}
	if err := p.send(ctx, m, target); err != nil {
		op := "add"
		if !add {
			op = "delete"
		}
		return nil, fmt.Errorf("rfc2136: %s TXT %s in zone %s at %s: %w", op, rrs[0].Header().Name, target, p.Server, err)
	}
	return recs, nil
}

// send signs m when a key is set, sends it, and turns the answer into an
// error a person can act on.
func (p *RFC2136) send(ctx context.Context, m *mdns.Msg, zone string) error {
	c := &mdns.Client{Net: "tcp"} // updates are small, but TCP never truncates and is what nsupdate uses for signed updates
	if p.KeyName != "" {
		alg := mdns.HmacSHA256
		if strings.EqualFold(p.Algorithm, "hmac-sha512") {
			alg = mdns.HmacSHA512
		}
		key := mdns.Fqdn(p.KeyName)
		c.TsigSecret = map[string]string{key: p.Secret}
		m.SetTsig(key, alg, 300, time.Now().Unix())
	}
	r, err := exchange(ctx, c, m, p.Server)
	if r != nil {
		if t := r.IsTsig(); t != nil && t.Error != mdns.RcodeSuccess {
			return fmt.Errorf("%w (server said %s)", ErrTSIGRefused, mdns.RcodeToString[int(t.Error)])
		}
	}
	if r != nil && errors.Is(err, mdns.ErrAuth) {
		// miekg/dns reports every NOTAUTH answer to a signed message as a
		// TSIG failure; with no TSIG error in it, the Rcode says why.
		err = nil
	}
	if errors.Is(err, mdns.ErrSig) || errors.Is(err, mdns.ErrSecret) || errors.Is(err, mdns.ErrKeyAlg) {
		return fmt.Errorf("%w (the answer's signature did not verify: %v)", ErrTSIGRefused, err)
	}
	if err != nil {
		return err
	}
	switch r.Rcode {
	case mdns.RcodeSuccess:
		return nil
	case mdns.RcodeNotAuth:
		return fmt.Errorf("%w: the server is not authoritative for zone %s (NOTAUTH); set zone to the zone it is primary for", ErrZoneNotFound, zone)
	case mdns.RcodeRefused:
		if p.KeyName == "" {
			return fmt.Errorf("the server refused an unsigned update (REFUSED): set tsig_key_name and tsig_secret to a key its update-policy allows")
		}
		return fmt.Errorf("the server refused the update (REFUSED): its update-policy or allow-update must let key %q change TXT records in zone %s", p.KeyName, zone)
	case mdns.RcodeNameError, mdns.RcodeNotZone:
		return fmt.Errorf("%w: the server has no zone %s (%s); set zone to the zone it is primary for", ErrZoneNotFound, zone, mdns.RcodeToString[r.Rcode])
	default:
		return fmt.Errorf("the server answered %s", mdns.RcodeToString[r.Rcode])
	}
}

// splitTXT cuts a value into the 255-byte strings a TXT record is made of.
func splitTXT(s string) []string {
	var out []string
	for len(s) > 255 {
		out = append(out, s[:255])
		s = s[255:]
	}
	return append(out, s)
}
