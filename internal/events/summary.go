package events

import (
	"fmt"
	"strings"
)

// Summary is e in one line for people: what a chat message says.
func Summary(e Event) string {
	d := e.Detail
	str := func(k string) string {
		if v, ok := d[k]; ok && v != nil {
			return fmt.Sprint(v)
		}
		return ""
	}
	var b strings.Builder
	switch e.Event {
	case CertObtained:
		fmt.Fprintf(&b, "tlsgate: obtained a certificate for %s", e.Name)
	case CertRenewed:
		fmt.Fprintf(&b, "tlsgate: renewed the certificate for %s", e.Name)
	case CertFailed:
		what := "obtain"
		if d["renewal"] == true {
			what = "renew"
		}
		fmt.Fprintf(&b, "tlsgate: could not %s the certificate for %s: %s", what, e.Name, str("error"))
		if next := str("next_attempt"); next != "" {
			fmt.Fprintf(&b, " (next attempt %s)", next)
		}
	case CertExpiring:
		fmt.Fprintf(&b, "tlsgate: the certificate for %s expires in %s days (%s)", e.Name, str("days_left"), str("not_after"))
	case UpstreamDown:
		fmt.Fprintf(&b, "tlsgate: upstream %s of route %s is down: %s", e.Name, str("route"), str("reason"))
	case UpstreamUp:
		fmt.Fprintf(&b, "tlsgate: upstream %s of route %s is back", e.Name, str("route"))
	case ReloadFailed:
		fmt.Fprintf(&b, "tlsgate: reload of %s failed; the previous config keeps serving: %s", e.Name, str("error"))
	case AlertTest:
		fmt.Fprintf(&b, "tlsgate: test alert from %s; alerts reach you", e.Name)
	default:
		fmt.Fprintf(&b, "tlsgate: %s %s", e.Event, e.Name)
	}
	return b.String()
}
