package accesslog

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// appendJSON writes the JSON form; field names and their order are the
// user contract (INTERFACE.md). Hand-written rather than json.Marshal: the
// reflection and the allocation cost every logged request (FuzzAccessLog
// checks that each line reads back with encoding/json).
func appendJSON(buf []byte, r *Record) []byte {
	buf = append(buf, `{"ts":"`...)
	buf = r.Time.UTC().AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, '"')
	buf = appendJSONField(buf, "request_id", r.RequestID)
	buf = appendJSONField(buf, "site", r.Site)
	buf = appendJSONField(buf, "route", r.Route)
	buf = appendJSONField(buf, "client_ip", r.ClientIP)
	buf = appendJSONField(buf, "method", r.Method)
	buf = appendJSONField(buf, "host", r.Host)
	buf = appendJSONField(buf, "uri", r.URI)
	buf = appendJSONField(buf, "proto", r.Proto)
	buf = append(buf, `,"status":`...)
	buf = strconv.AppendInt(buf, int64(r.Status), 10)
	buf = append(buf, `,"bytes_in":`...)
	buf = strconv.AppendInt(buf, r.BytesIn, 10)
	buf = append(buf, `,"bytes_out":`...)
	buf = strconv.AppendInt(buf, r.BytesOut, 10)
	buf = append(buf, `,"duration_ms":`...)
	buf = strconv.AppendFloat(buf, ms(r.Duration), 'f', -1, 64)
	buf = appendJSONField(buf, "upstream", r.Upstream)
	buf = append(buf, `,"upstream_ms":`...)
	buf = strconv.AppendFloat(buf, ms(r.UpstreamD), 'f', -1, 64)
	buf = appendJSONField(buf, "tls_version", r.TLSVersion)
	buf = appendJSONField(buf, "sni", r.SNI)
	buf = appendJSONField(buf, "user", r.User)
	buf = appendJSONField(buf, "user_agent", r.UserAgent)
	buf = appendJSONField(buf, "referer", r.Referer)
	return append(buf, "}\n"...)
}

// appendJSONField writes ,"name":"value".
func appendJSONField(buf []byte, name, value string) []byte {
	buf = append(buf, ',', '"')
	buf = append(buf, name...)
	buf = append(buf, `":"`...)
	return append(appendJSONString(buf, value), '"')
}

// appendJSONString writes s escaped for a JSON string, as encoding/json
// does short of its HTML escaping: quotes, backslashes and control bytes
// escaped, invalid UTF-8 as U+FFFD, U+2028 and U+2029 escaped (JavaScript
// reads them as line ends), so a line never breaks.
func appendJSONString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				buf = append(buf, '\\', c)
			case c == '\n':
				buf = append(buf, '\\', 'n')
			case c == '\r':
				buf = append(buf, '\\', 'r')
			case c == '\t':
				buf = append(buf, '\\', 't')
			case c < 0x20:
				buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				buf = append(buf, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			buf = append(buf, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			buf = append(buf, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			buf = append(buf, s[i:i+size]...)
		}
		i += size
	}
	return buf
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
