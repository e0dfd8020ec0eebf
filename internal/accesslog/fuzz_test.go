package accesslog

import (
	"bytes"
	"encoding/json"
	"regexp"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tlsgate/tlsgate/internal/config"
)

// ncsaLine is one common or combined line whose quoted fields stayed
// quoted: what goaccess and fail2ban expect.
var ncsaLine = regexp.MustCompile(`^(-|[0-9a-f.:]+) - (\S+) \[[^\]]+\] "[^"]*" \d+ \d+( "[^"]*" "[^"]*")?\n$`)

// FuzzAccessLog: whatever a client puts in its method, URI, user name,
// Referer or User-Agent, each format writes exactly one line, the NCSA
// formats keep every field in its place, and a JSON line is valid JSON
// that reads back to the same values. Redact never panics.
func FuzzAccessLog(f *testing.F) {
	f.Add("GET", "/a?token=x", "alice", "https://r.test/", "curl/8", "token")
	f.Add("GET\n", "/\"] 200 0 \"x", "a b", "\x00\xff", "\"\\", "")
	f.Add("PO ST", "/%0d%0aInjected: 1", "", "", "", "a&b=")
	f.Fuzz(func(t *testing.T, method, uri, user, referer, ua, redact string) {
		uri = Redact(uri, []string{redact})
		r := &Record{Time: time.Unix(1e9, 0), ClientIP: "192.0.2.1", Method: method, URI: uri, Proto: "HTTP/1.1",
			Status: 200, BytesOut: 5, User: user, Referer: referer, UserAgent: ua, Host: "app.test"}
		for _, format := range []string{config.AccessLogCommon, config.AccessLogCombined, config.AccessLogJSON} {
			fm, err := NewFormatter(format)
			if err != nil {
				t.Fatal(err)
			}
			line := fm(nil, r)
			if bytes.IndexByte(line, '\n') != len(line)-1 {
				t.Fatalf("%s: %q is not one line", format, line)
			}
			if format == config.AccessLogJSON {
				var back jsonLine
				if err := json.Unmarshal(line, &back); err != nil {
					t.Fatalf("json: %q: %v", line, err)
				}
				if utf8Clean(method, uri, user, referer, ua) &&
					(back.Method != method || back.URI != uri || back.User != user || back.Referer != referer || back.UserAgent != ua) {
					t.Fatalf("json line %q reads back differently", line)
				}
				continue
			}
			if !ncsaLine.Match(line) {
				t.Fatalf("%s: %q does not keep its fields", format, line)
			}
		}
	})
}

// utf8Clean reports whether JSON carries every s unchanged (invalid UTF-8
// becomes U+FFFD).
func utf8Clean(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

// jsonLine is the JSON line as encoding/json reads it back; field names are
// the user contract (INTERFACE.md).
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

// The hand-written JSON line is what encoding/json would write (bar its
// HTML escaping, which a log does not need), field for field and in order.
func TestJSONLineMatchesEncodingJSON(t *testing.T) {
	r := &Record{Time: time.Date(2026, 12, 3, 14, 5, 6, 789000000, time.UTC), RequestID: "abc", Site: "app", Route: "/api",
		ClientIP: "2001:db8::1", Method: "GET", Host: "app.test", URI: "/a?b=\"c\\d\"\t\x01\x7f\u2028é\xff", Proto: "HTTP/2.0",
		Status: 502, BytesIn: 12, BytesOut: 3456, Duration: 1234567 * time.Nanosecond, Upstream: "127.0.0.1:8000",
		UpstreamD: 2 * time.Second, TLSVersion: "TLS1.3", SNI: "app.test", User: "alice", UserAgent: "curl/8", Referer: "https://x/"}
	want := jsonLine{TS: r.Time.Format(time.RFC3339Nano), RequestID: r.RequestID, Site: r.Site, Route: r.Route,
		ClientIP: r.ClientIP, Method: r.Method, Host: r.Host, URI: r.URI, Proto: r.Proto, Status: r.Status,
		BytesIn: r.BytesIn, BytesOut: r.BytesOut, DurationMS: 1.234, Upstream: r.Upstream, UpstreamMS: 2000,
		TLSVersion: r.TLSVersion, SNI: r.SNI, User: r.User, UserAgent: r.UserAgent, Referer: r.Referer}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(want); err != nil {
		t.Fatal(err)
	}
	if got := string(appendJSON(nil, r)); got != b.String() {
		t.Errorf("appendJSON:\n got %s\nwant %s", got, b.String())
	}
}
