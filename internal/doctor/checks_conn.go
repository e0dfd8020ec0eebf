package doctor

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
)

// checkFront explains what an http:// URL answered.
func checkFront(o *Observation) []Finding {
	f := o.Front
	if f == nil || o.DialErr != nil {
		return nil
	}
	switch {
	case f.SpeaksTLS:
		facts := []Fact{{"url", f.URL}}
		if f.HTTP != nil {
			facts = append(facts, Fact{"plain HTTP answer", strings.TrimSpace(f.HTTP.Status + " " + firstLine(f.HTTP.Body))})
		}
		return []Finding{{
			Code: "https_on_http_url", Severity: Error,
			Summary: fmt.Sprintf("%s speaks TLS (HTTPS), but the URL says http://: clients get garbage or a 400 'HTTP request to an HTTPS server'.", o.Target.Address),
			Facts:   facts,
			Fix:     fmt.Sprintf("Use https://%s%s instead (the checks below are for that URL).", o.Target.Address, pathOf(o)),
		}}
	case f.RedirectTo != "":
		return []Finding{{
			Code: "redirects_to_https", Severity: Info,
			Summary: fmt.Sprintf("%s redirects to %s (%s); the checks below are for that URL.", f.URL, f.RedirectTo, f.HTTP.Status),
		}}
	case f.HTTP != nil:
		return []Finding{{
			Code: "plain_http_only", Severity: Warning,
			Summary: fmt.Sprintf("%s answers in plain HTTP (%s) and does not redirect to https://: nothing on this port is encrypted.", f.URL, f.HTTP.Status),
			Fix:     "Put HTTPS in front of it, e.g. `tlsgate proxy --to " + f.URL + "`, and let the http:// port redirect to https://.",
		}}
	case f.Err != nil:
		return []Finding{{
			Code: "http_failed", Severity: Error,
			Summary: fmt.Sprintf("%s accepted the connection but answered neither plain HTTP nor TLS.", o.Target.Address),
			Facts:   []Fact{{"error", f.Err.Error()}},
			Fix:     "Check which program listens on the port (`ss -ltnp`) and that it is a web server.",
		}}
	}
	return nil
}

// checkConnect explains a failed TCP connection.
func checkConnect(o *Observation) []Finding {
	err := o.DialErr
	if err == nil {
		return nil
	}
	addr := o.Target.Address
	facts := []Fact{{"address", addr}, {"error", err.Error()}}
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return []Finding{{Code: "connection_refused", Severity: Error,
			Summary: fmt.Sprintf("Nothing accepts connections on %s (connection refused).", addr),
			Facts:   facts,
			Fix: fmt.Sprintf("Start the server, or check the port: `ss -ltnp 'sport = :%s'` shows what listens there "+
				"(for tlsgate, the listen.https address in its config).", o.Target.Port)}}
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return []Finding{{Code: "dns_not_found", Severity: Error,
			Summary: fmt.Sprintf("The name %s does not exist in DNS.", o.Target.Host),
			Facts:   facts,
			Fix: fmt.Sprintf("Check the spelling; for a development name add `127.0.0.1 %s` to /etc/hosts "+
				"(or use a name under .localhost, which resolves to 127.0.0.1).", o.Target.Host)}}
	case errors.As(err, &dnsErr):
		return []Finding{{Code: "dns_failed", Severity: Error,
			Summary: fmt.Sprintf("Looking up %s failed.", o.Target.Host),
			Facts:   facts,
			Fix:     "Check the resolver in /etc/resolv.conf and the network: `getent hosts " + o.Target.Host + "`."}}
	case isTimeout(err):
		return []Finding{{Code: "connect_timeout", Severity: Error,
			Summary: fmt.Sprintf("Connecting to %s timed out: no answer at all.", addr),
			Facts:   facts,
			Fix:     "A firewall drops the packets or the host is down: check the firewall rules (`nft list ruleset`) and that the host is up."}}
	}
	return []Finding{{Code: "connect_failed", Severity: Error,
		Summary: fmt.Sprintf("Connecting to %s failed.", addr),
		Facts:   facts,
		Fix:     "Check the address and the network route to it (`ip route get " + o.Target.Host + "`)."}}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// checkNotTLS explains a port that answered a TLS hello with something else.
func checkNotTLS(o *Observation) []Finding {
	if o.TLS == nil || o.TLS.NotTLS == "" {
		return nil
	}
	httpURL := "http://" + o.Target.Address + pathOf(o)
	if p := o.PlainHTTP; p != nil {
		return []Finding{{Code: "plain_http", Severity: Error,
			Summary: fmt.Sprintf("%s speaks plain HTTP, not TLS: clients see 'wrong version number' or 'first record does not look like a TLS handshake'.", o.Target.Address),
			Facts:   []Fact{{"first bytes received", fmt.Sprintf("%q", o.TLS.NotTLS)}, {"plain HTTP answer", p.Proto + " " + p.Status}},
			Fix: fmt.Sprintf("Use %s for this port, or connect to the server's TLS port instead "+
				"(for tlsgate, the listen.https address; to put HTTPS in front of this app: `tlsgate proxy --to %s`).", httpURL, httpURL)}}
	}
	return []Finding{{Code: "not_tls", Severity: Error,
		Summary: fmt.Sprintf("%s answered with something that is neither TLS nor HTTP.", o.Target.Address),
		Facts:   []Fact{{"first bytes received", fmt.Sprintf("%q", o.TLS.NotTLS)}},
		Fix:     fmt.Sprintf("Check which program listens there (`ss -ltnp 'sport = :%s'`) and use that program's protocol or the right port.", o.Target.Port)}}
}

// checkHandshake explains a failed handshake that no other check explains.
func checkHandshake(o *Observation) []Finding {
	h := o.TLS
	if h == nil || h.Err == nil || h.NotTLS != "" || h.CertRequested {
		return nil
	}
	if anyVersion(o.Versions) && !modernVersion(o.Versions) {
		return nil // checkVersions explains it
	}
	facts := []Fact{{"error", h.Err.Error()}}
	alert := remoteAlert(h.Err)
	switch {
	case alert == "unrecognized name":
		sni := o.Target.ServerName
		if sni == "" {
			return []Finding{{Code: "sni_required", Severity: Error,
				Summary: fmt.Sprintf("The server has no certificate for clients that send no name (SNI); %s is an IP address, so none was sent.", o.Target.Host),
				Facts:   facts,
				Fix:     "Connect with the site's name: --servername NAME (curl: --resolve NAME:" + o.Target.Port + ":" + o.Target.Host + "), or for tlsgate set default_sni or list the address in the site's hosts."}}
		}
		return []Finding{{Code: "unrecognized_name", Severity: Error,
			Summary: fmt.Sprintf("The server has no certificate for the name %s (TLS alert 'unrecognized name').", sni),
			Facts:   facts,
			Fix:     fmt.Sprintf("Use a name the server serves, or add %s to a site's hosts in the server's config.", sni)}}
	case alert != "":
		return []Finding{{Code: "handshake_failed", Severity: Error,
			Summary: fmt.Sprintf("The server ended the TLS handshake with the alert %q.", alert),
			Facts:   facts,
			Fix:     "Look at the server's log for the reason; `openssl s_client -connect " + o.Target.Address + " -servername " + o.Target.VerifyName + "` shows the same handshake."}}
	}
	return []Finding{{Code: "handshake_failed", Severity: Error,
		Summary: "The TLS handshake failed: the server closed the connection or sent something unexpected.",
		Facts:   facts,
		Fix:     "Look at the server's log; `openssl s_client -connect " + o.Target.Address + "` shows the same handshake."}}
}

// remoteAlert returns the TLS alert the server sent, as in "certificate
// required", or "".
func remoteAlert(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	const p = "remote error: tls: "
	i := strings.Index(msg, p)
	if i < 0 {
		return ""
	}
	return strings.TrimSpace(msg[i+len(p):])
}

func anyVersion(vs []VersionProbe) bool {
	for _, v := range vs {
		if v.Accepted {
			return true
		}
	}
	return false
}

func modernVersion(vs []VersionProbe) bool {
	for _, v := range vs {
		if v.Accepted && v.Version >= tls.VersionTLS12 {
			return true
		}
	}
	return false
}

// checkVersions judges the protocol versions the server accepts.
func checkVersions(o *Observation) []Finding {
	if len(o.Versions) == 0 {
		return nil
	}
	var yes, no, legacy []string
	for _, v := range o.Versions {
		name := tls.VersionName(v.Version)
		if v.Accepted {
			yes = append(yes, name)
			if v.Version < tls.VersionTLS12 {
				legacy = append(legacy, name)
			}
		} else {
			no = append(no, name)
		}
	}
	facts := []Fact{{"accepted", orNone(yes)}, {"refused", orNone(no)}}
	switch {
	case len(yes) == 0:
		if o.TLS != nil && o.TLS.Err != nil && !o.TLS.CertRequested {
			return []Finding{{Code: "no_tls_version", Severity: Error,
				Summary: "The server completed no TLS handshake at any version from TLS 1.0 to 1.3.",
				Facts:   append(facts, Fact{"error", o.TLS.Err.Error()}),
				Fix:     "Check the server's TLS settings and log; it may need SNI (--servername NAME) or speak only SSL 3.0."}}
		}
	case !modernVersion(o.Versions):
		return []Finding{{Code: "old_tls_only", Severity: Error,
			Summary: fmt.Sprintf("The server speaks only %s; curl, browsers and Python refuse anything older than TLS 1.2 ('unsupported protocol', 'wrong version number').", strings.Join(legacy, " and ")),
			Facts:   facts,
			Fix:     "Enable TLS 1.2 and 1.3 on the server (nginx: `ssl_protocols TLSv1.2 TLSv1.3;`; openssl s_server: drop -tls1; tlsgate speaks TLS 1.2 and 1.3 by default), or put tlsgate in front of it."}}
	case len(legacy) > 0:
		return []Finding{{Code: "old_tls_offered", Severity: Warning,
			Summary: fmt.Sprintf("The server still accepts %s, which are deprecated (RFC 8996) and fail compliance scans.", strings.Join(legacy, " and ")),
			Facts:   facts,
			Fix:     "Turn them off: accept TLS 1.2 and 1.3 only (nginx: `ssl_protocols TLSv1.2 TLSv1.3;`)."}}
	}
	return []Finding{{Code: "tls_versions", Severity: Info, Summary: "The server accepts " + strings.Join(yes, " and ") + ".", Facts: facts}}
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return s
}

func pathOf(o *Observation) string {
	p := o.Target.URL.RequestURI()
	if p == "" {
		return "/"
	}
	return p
}
