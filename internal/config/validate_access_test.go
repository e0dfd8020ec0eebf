package config

import (
	"testing"
)

func TestValidateAccess(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want errorWant
	}{
		{"basic_auth without users", siteWith("    basic_auth: {realm: x}\n"),
			errorWant{"sites[0].basic_auth", "3:17", "basic_auth needs users"}},
		{"not bcrypt", siteWith("    basic_auth: {users: {alice: \"$apr1$x$y\"}}\n"),
			errorWant{"sites[0].basic_auth.users.alice", "3:33", "not a bcrypt hash"}},
		{"realm with quote", siteWith("    basic_auth: {realm: 'a\"b', users: {a: \"$2a$04$" + "abcdefghijklmnopqrstuuv5Wc2SHsBK1gIhNHm0KQPPGXkN0Ny5C" + "\"}}\n"),
			errorWant{"sites[0].basic_auth.realm", "3:25", "has a quote"}},
		{"forward_auth url", siteWith("    forward_auth: {url: \"ftp://x\"}\n"),
			errorWant{"sites[0].forward_auth.url", "3:25", "is not an http:// or https:// URL"}},
		{"forward_auth header", siteWith("    forward_auth: {url: \"http://a\", copy_headers: [\"X A\"]}\n"),
			errorWant{"sites[0].forward_auth.copy_headers[0]", "3:52", "is not a header name"}},
		{"allow_ips", siteWith("    allow_ips: [10.0.0.0/8, 10.0.0.300]\n"),
			errorWant{"sites[0].allow_ips[1]", "3:29", "is not an IP address or CIDR"}},
		{"route deny_ips", blockRoute("/", "        respond: {status: 200}\n        deny_ips: [\"fe80::/99x\"]\n"),
			errorWant{"sites[0].routes[0].deny_ips[0]", "6:20", "is not an IP address or CIDR"}},
		{"rate_limit requests", siteWith("    rate_limit: {requests: 0}\n"),
			errorWant{"sites[0].rate_limit.requests", "3:28", "requests must be 1 or more"}},
		{"rate_limit key", siteWith("    rate_limit: {requests: 5, key: cookie}\n"),
			errorWant{"sites[0].rate_limit.key", "3:36", "key \"cookie\" is unknown"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, tc.yaml), LoadOptions{LookupEnv: noEnv})
			checkErrors(t, err, tc.want)
		})
	}
}

func TestParseIPPrefix(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"10.1.2.3", "10.1.2.3/32"},
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"::1", "::1/128"},
		{"::ffff:10.1.2.3", "10.1.2.3/32"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"2001:db8::1/32", "2001:db8::/32"},
		{"fe80::1%eth0", ""},
		{"nope", ""},
	} {
		p, err := ParseIPPrefix(tc.in)
		got := ""
		if err == nil {
			got = p.String()
		}
		if got != tc.want {
			t.Errorf("ParseIPPrefix(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
