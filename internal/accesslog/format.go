package accesslog

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tlsgate/tlsgate/internal/config"
)

// Formatter appends one line (with its newline) for a record.
type Formatter func(buf []byte, r *Record) []byte

// NewFormatter returns the formatter for a config format name
// (config.AccessLogJSON, AccessLogCommon, AccessLogCombined).
func NewFormatter(format string) (Formatter, error) {
	switch format {
	case config.AccessLogJSON:
		return appendJSON, nil
	case config.AccessLogCommon:
		return appendCommon, nil
	case config.AccessLogCombined:
		return appendCombined, nil
	}
	// config validated it; this guards callers that did not use config.
	return nil, fmt.Errorf("unknown access log format %q", format)
}

// jsonLine is the JSON form; field names are the user contract.
type jsonLine struct {
	TS         string  `json:"ts"`
	RequestID  string  `json:"request_id"`
	Site       string  `json:"site"`
	Route      string  `json:"route"`
	ClientIP   string  `json:"client_ip"`
	Method     string  `json:"method"`
	Host       string  `json:"host"`
	URI        string  `json:"uri"`
	Proto      string  `json:"proto"`
	Status     int     `json:"status"`
	BytesIn    int64   `json:"bytes_in"`
	BytesOut   int64   `json:"bytes_out"`
	DurationMS float64 `json:"duration_ms"`
	Upstream   string  `json:"upstream"`
	UpstreamMS float64 `json:"upstream_ms"`
	TLSVersion string  `json:"tls_version"`
	SNI        string  `json:"sni"`
	User       string  `json:"user"`
	UserAgent  string  `json:"user_agent"`
	Referer    string  `json:"referer"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func appendJSON(buf []byte, r *Record) []byte {
	b, err := json.Marshal(jsonLine{
		TS: r.Time.UTC().Format(time.RFC3339Nano), RequestID: r.RequestID, Site: r.Site, Route: r.Route,
		ClientIP: r.ClientIP, Method: r.Method, Host: r.Host, URI: r.URI, Proto: r.Proto, Status: r.Status,
		BytesIn: r.BytesIn, BytesOut: r.BytesOut, DurationMS: ms(r.Duration), Upstream: r.Upstream,
		UpstreamMS: ms(r.UpstreamD), TLSVersion: r.TLSVersion, SNI: r.SNI, User: r.User,
		UserAgent: r.UserAgent, Referer: r.Referer,
	})
	if err != nil { // cannot happen for these field types
		return buf
	}
	return append(append(buf, b...), '\n')
}

// appendCommon writes NCSA common log format, as Apache's %h %l %u %t "%r" %>s %b.
func appendCommon(buf []byte, r *Record) []byte {
	return append(appendNCSA(buf, r), '\n')
}

// appendCombined adds "%{Referer}i" "%{User-agent}i", as nginx's combined.
func appendCombined(buf []byte, r *Record) []byte {
	buf = appendNCSA(buf, r)
	buf = append(buf, ` "`...)
	buf = appendEscaped(buf, r.Referer)
	buf = append(buf, `" "`...)
	buf = appendEscaped(buf, r.UserAgent)
	return append(buf, "\"\n"...)
}

func appendNCSA(buf []byte, r *Record) []byte {
	buf = append(buf, dash(r.ClientIP)...)
	buf = append(buf, " - "...)
	if r.User == "" {
		buf = append(buf, '-')
	} else {
		buf = appendEscaped(buf, strings.ReplaceAll(r.User, " ", "_"))
	}
	buf = append(buf, " ["...)
	buf = r.Time.AppendFormat(buf, "02/Jan/2006:15:04:05 -0700")
	buf = append(buf, `] "`...)
	buf = appendEscaped(buf, r.Method)
	buf = append(buf, ' ')
	buf = appendEscaped(buf, r.URI)
	buf = append(buf, ' ')
	buf = appendEscaped(buf, r.Proto)
	buf = append(buf, `" `...)
	buf = strconv.AppendInt(buf, int64(r.Status), 10)
	buf = append(buf, ' ')
	// nginx's $body_bytes_sent writes 0 for an empty body (Apache's %b "-");
	// goaccess and fail2ban read both.
	return strconv.AppendInt(buf, r.BytesOut, 10)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// appendEscaped writes s as nginx escapes variables in its log: '"', '\\'
// and bytes outside printable ASCII become \xHH, so a line never breaks and
// a quoted field never ends early.
func appendEscaped(buf []byte, s string) []byte {
	if s == "" {
		return append(buf, '-')
	}
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' || c == '\\' || c < 0x20 || c > 0x7e {
			buf = append(buf, '\\', 'x', hex[c>>4], hex[c&0xf])
			continue
		}
		buf = append(buf, c)
	}
	return buf
}

// Redact returns the request URI with the values of the named query
// parameters replaced by REDACTED. Names match case-insensitively.
func Redact(uri string, names []string) string {
	if len(names) == 0 {
		return uri
	}
	path, query, ok := strings.Cut(uri, "?")
	if !ok {
		return uri
	}
	parts := strings.Split(query, "&")
	changed := false
	for i, p := range parts {
		k, _, _ := strings.Cut(p, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		for _, n := range names {
			if strings.EqualFold(k, n) {
				parts[i] = url.QueryEscape(k) + "=REDACTED"
				changed = true
				break
			}
		}
	}
	if !changed {
		return uri
	}
	return path + "?" + strings.Join(parts, "&")
}
