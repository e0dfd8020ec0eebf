package dns

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libdns/libdns"
)

func TestRFC2136AppendDelete(t *testing.T) {
	s := startTestServer(t)
	p := &RFC2136{Server: s.Addr, KeyName: testKeyName, Secret: testSecret}
	ctx := context.Background()
	zone, err := p.FindZone(ctx, "_acme-challenge.app.example.test.")
	if err != nil {
		t.Fatal(err)
	}
	if zone != testZone {
		t.Fatalf("zone %q; want %q", zone, testZone)
	}
	long := strings.Repeat("v", 300) // more than one TXT string
	recs := []libdns.Record{
		libdns.TXT{Name: "_acme-challenge.app", Text: "one", TTL: time.Minute},
		libdns.TXT{Name: "_acme-challenge.app", Text: long, TTL: time.Minute},
	}
	if _, err := p.AppendRecords(ctx, zone, recs); err != nil {
		t.Fatal(err)
	}
	if got := s.values("_acme-challenge.app.example.test"); !slices.Equal(got, []string{"one", long}) {
		t.Fatalf("after append: %q", got)
	}
	if _, err := p.DeleteRecords(ctx, zone, recs[:1]); err != nil {
		t.Fatal(err)
	}
	if got := s.values("_acme-challenge.app.example.test"); !slices.Equal(got, []string{long}) {
		t.Fatalf("after delete: %q; want only the other value", got)
	}
}

func TestRFC2136Errors(t *testing.T) {
	s := startTestServer(t)
	rec := []libdns.Record{libdns.TXT{Name: "_acme-challenge", Text: "v"}}
	for _, tc := range []struct {
		name   string
		p      RFC2136
		zone   string
		recs   []libdns.Record
		is     error
		substr string
	}{
		{"wrong secret", RFC2136{KeyName: testKeyName, Secret: "d3Jvbmc="}, testZone, rec, ErrTSIGRefused, "server said BADSIG"},
		{"not authoritative", RFC2136{KeyName: testKeyName, Secret: testSecret}, "other.test.", rec, ErrZoneNotFound, "set zone"},
		// zone overrides the caller's zone, so the update goes where the user said.
		{"zone override", RFC2136{KeyName: testKeyName, Secret: testSecret, Zone: "other.test"}, testZone, rec, ErrZoneNotFound, "zone other.test."},
		{"policy refuses", RFC2136{KeyName: testKeyName, Secret: testSecret}, "refused.example.test.", rec, nil, "update-policy"},
		{"unsigned refused", RFC2136{}, testZone, rec, nil, "set tsig_key_name and tsig_secret"},
		{"not TXT", RFC2136{KeyName: testKeyName, Secret: testSecret}, testZone, []libdns.Record{libdns.CNAME{Name: "x", Target: "y."}}, nil, "only TXT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			p.Server = s.Addr
			_, err := p.AppendRecords(context.Background(), tc.zone, tc.recs)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("got %v; want it to wrap %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.substr) {
				t.Errorf("got %q; want it to contain %q", err, tc.substr)
			}
			if strings.Contains(err.Error(), testSecret) || (p.Secret != "" && strings.Contains(err.Error(), p.Secret)) {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
}

func TestFindZoneNotFound(t *testing.T) {
	s := startTestServer(t)
	_, err := FindZone(context.Background(), s.Addr, "_acme-challenge.app.nowhere.test.")
	if !errors.Is(err, ErrZoneNotFound) {
		t.Fatalf("got %v; want ErrZoneNotFound", err)
	}
	for _, want := range []string{"nowhere.test. (REFUSED)", "set zone"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got %q; want it to contain %q", err, want)
		}
	}
}

func TestWaitVisible(t *testing.T) {
	s := startTestServer(t)
	p := &RFC2136{Server: s.Addr, KeyName: testKeyName, Secret: testSecret}
	ctx := context.Background()
	if _, err := p.AppendRecords(ctx, testZone, []libdns.Record{libdns.TXT{Name: "_acme-challenge.seen", Text: "yes"}}); err != nil {
		t.Fatal(err)
	}
	if err := WaitVisible(ctx, "_acme-challenge.seen.example.test", "yes", []string{s.Addr}, 5*time.Second, 10*time.Millisecond); err != nil {
		t.Fatalf("visible record: %v", err)
	}
	err := WaitVisible(ctx, "_acme-challenge.seen.example.test", "other", []string{s.Addr}, 50*time.Millisecond, 10*time.Millisecond)
	var nv *NotVisibleError
	if !errors.As(err, &nv) {
		t.Fatalf("got %v; want a NotVisibleError", err)
	}
	if nv.Resolver != s.Addr || nv.Last != "1 other TXT records" {
		t.Errorf("resolver %q, last %q; want %q and the other record", nv.Resolver, nv.Last, s.Addr)
	}
	if !strings.Contains(err.Error(), "not visible at resolver "+s.Addr) {
		t.Errorf("error %q does not name the resolver", err)
	}
}

func TestFollowCNAMEWithoutCNAME(t *testing.T) {
	s := startTestServer(t)
	if got := FollowCNAME(context.Background(), "_acme-challenge.app.example.test", []string{s.Addr}); got != "_acme-challenge.app.example.test." {
		t.Errorf("got %q; want the name itself", got)
	}
}
