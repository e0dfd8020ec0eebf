package dns

import (
	"testing"
	"time"
)

func TestHTTPSRecordString(t *testing.T) {
	tests := []struct {
		name string
		rec  HTTPSRecord
		want string
	}{
		{"default port", HTTPSRecord{Name: "app.example.com", TTL: 5 * time.Minute, ALPN: []string{"h2", "h3"}, Port: 443, ECH: []byte{0, 1, 2}},
			"app.example.com.\t300\tIN\tHTTPS\t1 . alpn=\"h2,h3\" ech=\"AAEC\""},
		// A port other than 443 is named; the TTL is at least a second.
		{"other port", HTTPSRecord{Name: "app.test.", ALPN: []string{"h2"}, Port: 8443, ECH: []byte{0}},
			"app.test.\t1\tIN\tHTTPS\t1 . alpn=\"h2\" port=\"8443\" ech=\"AA==\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.rec.RR().String(); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}
