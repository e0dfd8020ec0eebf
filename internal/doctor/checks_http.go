package doctor

import (
	"fmt"
)

// clientCertAlerts are the alerts servers send for a missing or refused
// client certificate.
func clientCertAlert(a string) bool {
	for _, s := range []string{"certificate required", "bad certificate", "unknown certificate authority",
		"certificate unknown", "handshake failure", "access denied", "unsupported certificate",
		"certificate expired", "certificate revoked", "decrypt error"} {
		if a == s {
			return true
		}
	}
	return false
}

// checkClientCert explains mutual TLS: asked for, given, accepted.
func checkClientCert(o *Observation) []Finding {
	h := o.TLS
	if h == nil || h.NotTLS != "" {
		return nil
	}
	given := o.opts != nil && o.opts.ClientCert != nil
	if !h.CertRequested {
		if given && h.Err == nil {
			return []Finding{{Code: "client_cert_unused", Severity: Info,
				Summary: "The server did not ask for a client certificate, so the one given was not sent."}}
		}
		return nil
	}
	// With TLS 1.3 the server refuses the certificate after the client
	// finished its handshake, so the alert arrives on the first read: the
	// HTTP request.
	alert := remoteAlert(h.Err)
	if alert == "" {
		alert = remoteAlert(o.HTTPErr)
	}
	refused := clientCertAlert(alert)
	facts := []Fact{{"acceptable CAs (as the server lists them)", orNone(h.AcceptableCAs)}}
	if alert != "" {
		facts = append(facts, Fact{"alert from the server", alert})
	}
	switch {
	case !h.CertSent && refused:
		return []Finding{{Code: "client_cert_required", Severity: Error,
			Summary: "The server requires a client certificate (mutual TLS) and none was given.",
			Facts:   facts,
			Fix: "Pass one: --client-cert client.crt --client-key client.key (curl: --cert client.crt --key client.key). " +
				"To make one with tlsgate's local CA: `tlsgate ca issue you@example.com --client --cert-out client.crt --key-out client.key`."}}
	case !h.CertSent:
		return []Finding{{Code: "client_cert_optional", Severity: Info,
			Summary: "The server asks for a client certificate but lets clients without one in.", Facts: facts}}
	case refused:
		leaf := o.opts.ClientCert.Leaf
		if leaf != nil {
			facts = append([]Fact{{"client certificate", o.opts.ClientCertFile}, {"its subject", leaf.Subject.String()},
				{"its issuer", leaf.Issuer.String()}, {"its validity", fmtRange(leaf.NotBefore, leaf.NotAfter)}}, facts...)
		}
		return []Finding{{Code: "client_cert_rejected", Severity: Error,
			Summary: fmt.Sprintf("The server refused the client certificate (alert %q).", alert),
			Facts:   facts,
			Fix: "Use a client certificate issued by one of the CAs the server accepts (listed above), valid now, with clientAuth " +
				"in its extended key usage (`tlsgate ca issue NAME --client ...` makes one); or add its CA to the server's client_auth.ca_files."}}
	}
	return []Finding{{Code: "client_cert_accepted", Severity: Info,
		Summary: fmt.Sprintf("The server asked for a client certificate and accepted %s.", o.opts.ClientCertFile), Facts: facts}}
}

// checkHTTP reports the HTTP answer over TLS, HTTP/2 and HSTS.
func checkHTTP(o *Observation) []Finding {
	h := o.TLS
	if h == nil || h.Err != nil || h.State == nil {
		return nil
	}
	var out []Finding
	if p := h.State.NegotiatedProtocol; p != "h2" {
		alpn := p
		if alpn == "" {
			alpn = "none (the server ignores ALPN)"
		}
		out = append(out, Finding{Code: "no_http2", Severity: Warning,
			Summary: "The server does not offer HTTP/2, so browsers fall back to HTTP/1.1.",
			Facts:   []Fact{{"ALPN protocol chosen", alpn}},
			Fix:     "Enable HTTP/2 on the server (nginx: `http2 on;`; tlsgate offers it by default)."})
	}
	if o.HTTPErr != nil {
		if h.CertRequested && clientCertAlert(remoteAlert(o.HTTPErr)) {
			return out // checkClientCert explains it
		}
		return append(out, Finding{Code: "https_request_failed", Severity: Warning,
			Summary: "TLS works, but the HTTP request over it failed.",
			Facts:   []Fact{{"error", o.HTTPErr.Error()}},
			Fix:     "Look at the server's log; `curl -kv " + o.Target.URL.String() + "` shows the same request."})
	}
	r := o.HTTP
	if r == nil {
		return out
	}
	out = append(out, Finding{Code: "https_answer", Severity: Info,
		Summary: fmt.Sprintf("The server answered over HTTPS: %s %s.", r.Proto, r.Status)})
	hsts := r.Header.Get("Strict-Transport-Security")
	switch {
	case hsts != "":
		out = append(out, Finding{Code: "hsts", Severity: Info, Summary: "HSTS is on: " + hsts + "."})
	case o.Front != nil && o.Front.RedirectTo != "":
		out = append(out, Finding{Code: "no_hsts", Severity: Warning,
			Summary: "The site redirects http:// to https:// but sends no Strict-Transport-Security header, so every first visit starts in plain HTTP.",
			Facts:   []Fact{{"redirect", o.Front.URL + " -> " + o.Front.RedirectTo}},
			Fix:     "Send HSTS (tlsgate: `hsts: {max_age: 365d}` in the site; nginx: `add_header Strict-Transport-Security \"max-age=31536000\" always;`)."})
	}
	return out
}

func fmtRange(a, b interface{ Format(string) string }) string {
	return a.Format("2006-01-02 15:04:05 MST") + " to " + b.Format("2006-01-02 15:04:05 MST")
}
