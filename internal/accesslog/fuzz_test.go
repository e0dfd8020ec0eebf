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
