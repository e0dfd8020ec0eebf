package dns

import (
	"context"
	"fmt"

	"github.com/libdns/libdns"
	mdns "github.com/miekg/dns"
)

// The two calls a hook provider (Exec, Webhook) gets, one record at a time.
const (
	actionPresent = "present"
	actionCleanup = "cleanup"
)

// eachRecord calls hook once per record, in order, with the record's
// absolute name (a trailing dot) and TXT value; the first error stops it
// and names the provider kind, the action and the name.
func eachRecord(ctx context.Context, kind, action, zone string, recs []libdns.Record,
	hook func(ctx context.Context, action, fqdn, value string) error) error {
	for _, rec := range recs {
		rr := rec.RR()
		fqdn := mdns.Fqdn(libdns.AbsoluteName(rr.Name, mdns.Fqdn(zone)))
		if err := hook(ctx, action, fqdn, rr.Data); err != nil {
			return fmt.Errorf("%s: %s %s: %w", kind, action, fqdn, err)
		}
	}
	return nil
}
