package config

import (
	"strings"
	"testing"
)

func TestParseRedirect(t *testing.T) {
	tests := []struct {
		to      string
		wantErr string // "" = accepted
	}{
		{"https://{host}/new/{path}", ""},
		{"https://example.com{uri}", ""}, // {uri} always starts with "/" (nginx's $request_uri)
		{"https://{host}{uri}", ""},
		{"https://example.com/{path}?{query}", ""},
		{"http://{host}:8080/x", ""},
		{"/new/{path}", ""},
		{"https://app.example.com", ""},
		// Open redirects: client-controlled text where the host goes.
		{"https://{path}", "host part"},
		{"https://{uri}", "needs a host"},
		{"https://{host}{path}", "host part"}, // {path} = "@evil.example" would move the host
		{"https://a{query}.example.com/", "host part"},
		{"/{path}", "literal first path segment"}, // "//evil.example" is another host
		{"{uri}", "must start with"},
		{"//evil.example/{path}", "literal first path segment"},
		{"https:///{path}", "needs a host"},
		{"https://user@{host}/", "needs a host"},
		{"javascript://x/", "not http or https"},
		{"example.com/{path}", "must start with"},
		// Syntax.
		{"https://{host}/{nope}", "not a placeholder"},
		{"https://{host}/{path", "without its }"},
		{"https://{host}/}", "without its {"},
		{"https://a b/", "spaces"},
		{"", "must start with"},
	}
	for _, tt := range tests {
		t.Run(tt.to, func(t *testing.T) {
			_, err := ParseRedirect(tt.to)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got %v; want accepted", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got %v; want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestRedirectValidation(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want errorWant
	}{
		{"bad status", routeSite(`{path: /old/, redirect: {to: "https://a.test/", status: 200}}`),
			errorWant{"sites[0].routes[0].redirect.status", "3:70", "not a redirect"}},
		{"open redirect", routeSite(`{path: /old/, redirect: {to: "https://{path}"}}`),
			errorWant{"sites[0].routes[0].redirect.to", "3:43", "host part"}},
		{"no target", routeSite(`{path: /old/, redirect: {status: 301}}`),
			errorWant{"sites[0].routes[0].redirect.to", "3:38", "needs a target"}},
		{"two actions", routeSite(`{path: /old/, redirect: {to: "/x"}, respond: {status: 200}}`),
			errorWant{"sites[0].routes[0]", "3:14", "exactly one of"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, tt.yaml), LoadOptions{LookupEnv: noEnv})
			checkErrors(t, err, tt.want)
		})
	}
}

func TestRedirectDefaultStatus(t *testing.T) {
	c := mustLoad(t, routeSite(`{path: /old/, redirect: {to: "https://{host}/new/{path}"}}`)).WithDefaults()
	if got := c.Sites[0].Routes[0].Redirect.Status; got != 308 {
		t.Fatalf("status = %d; want 308", got)
	}
}

// A catch-all site answers any Host, so {host} there is the client's choice.
func TestHostBound(t *testing.T) {
	if !hostBound([]string{"app.test", "*.app.test"}) {
		t.Error("named and wildcard hosts: got unbound; want bound")
	}
	if hostBound([]string{"app.test", "*"}) {
		t.Error("catch-all: got bound; want unbound")
	}
}
