package config

import (
	"fmt"
	"net/url"
)

// alerts checks the alerts block: where events go and when expiry warns.
func (v *validator) alerts() {
	a := v.c.Alerts
	if a == nil {
		return
	}
	if w := a.Webhook; w != nil {
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.errf("alerts.webhook.url", "%q is not an http(s) URL; write e.g. https://hooks.example.com/tlsgate", w.URL)
		}
		switch w.Format {
		case AlertFormatJSON, AlertFormatSlack:
		default:
			v.errf("alerts.webhook.format", "%q is not a format; use json or slack", w.Format)
		}
		if w.Timeout < 0 || w.Attempts < 0 {
			v.errf("alerts.webhook", "timeout and attempts must not be negative")
		}
	}
	if x := a.Exec; x != nil {
		if x.Command == "" {
			v.errf("alerts.exec.command", "empty; write the program to run, e.g. ./on-event.sh")
		}
		if x.Timeout < 0 {
			v.errf("alerts.exec.timeout", "must not be negative; write e.g. 30s")
		}
	}
	for i, d := range a.ExpiryWarnings {
		if d <= 0 {
			v.errf(fmt.Sprintf("alerts.expiry_warnings[%d]", i), "must be more than zero; write e.g. 14d")
		}
	}
}
