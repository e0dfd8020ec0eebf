// Package events is tlsgate's event bus: certificate, upstream and reload
// events, kept in a bounded ring for the admin API (GET /events) and pushed
// to the operator's alert sinks (a webhook, a command) without ever making
// the code that emits them wait.
//
// Start at NewBus. Code that has something to report takes an Emitter and
// calls Emit; the Server owns the Bus and hands it out.
package events

import "time"

// Event names, as the webhook body's "event" field and the exec sink's
// first argument carry them.
const (
	// CertObtained: a certificate was obtained for a name that had none.
	CertObtained = "cert_obtained"
	// CertRenewed: a certificate was renewed.
	CertRenewed = "cert_renewed"
	// CertFailed: obtaining or renewing failed; Detail has "error",
	// "renewal" and, when known, "next_attempt".
	CertFailed = "cert_failed"
	// CertExpiring: a certificate crossed one of alerts.expiry_warnings;
	// Detail has "days_left", "not_after" and "threshold".
	CertExpiring = "cert_expiring"
	// UpstreamDown: an upstream failed its health checks; Name is the
	// upstream, Detail has "route" and "reason".
	UpstreamDown = "upstream_down"
	// UpstreamUp: an upstream that was down passes its health checks again.
	UpstreamUp = "upstream_up"
	// ReloadFailed: a reload was refused and the previous config keeps
	// serving; Detail has "error".
	ReloadFailed = "reload_failed"
	// AlertTest: an operator asked for a test alert (tlsgate events
	// --test); Name is the host name of the machine.
	AlertTest = "alert_test"
)

// Event is one thing that happened, as JSON: {event, name, time, detail}.
// Detail values must encode as JSON; an Event is not modified after Emit.
type Event struct {
	// Event is one of the names above.
	Event string `json:"event"`
	// Name is what the event is about: a certificate's name, an
	// upstream's address, the config file.
	Name string `json:"name"`
	// Time is when it happened; zero means the Bus fills in its clock.
	Time time.Time `json:"time"`
	// Detail holds the event's facts, keyed in snake_case.
	Detail map[string]any `json:"detail,omitempty"`
}

// Emitter takes events. Emit never blocks on delivery and is safe for
// concurrent use. A nil Emitter is not allowed; use Discard.
type Emitter interface {
	Emit(Event)
}

// Discard is an Emitter that drops every event.
type Discard struct{}

// Emit drops e.
func (Discard) Emit(Event) {}
