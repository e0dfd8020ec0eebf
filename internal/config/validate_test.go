package config

import (
	"testing"
)

// baseSite is a valid site; top-level cases put one line above it, so the
// line under test is line 1.
const baseSite = "sites:\n  - hosts: [app.test]\n    routes: [{respond: {status: 200}}]\n"

// siteWith is a one-site config whose site has extra lines (indented four
// spaces) starting on line 3.
func siteWith(extra string) string {
	return "sites:\n  - hosts: [app.test]\n" + extra + "    routes: [{respond: {status: 200}}]\n"
}

// hostsSite is a one-site config with the given hosts list on line 2,
// whose first item starts at column 13.
func hostsSite(hosts string) string {
	return "sites:\n  - hosts: [" + hosts + "]\n    routes: [{respond: {status: 200}}]\n"
}

// routeSite is a one-site config whose routes list (in flow style) is on
// line 3, its first route starting at column 14.
func routeSite(routes string) string {
	return "sites:\n  - hosts: [app.test]\n    routes: [" + routes + "]\n"
}

// blockRoute is a one-site config with one block-style route whose "path"
// value is at 4:15; lines after it (indented eight spaces) start on line 5.
func blockRoute(path, rest string) string {
	return "sites:\n  - hosts: [app.test]\n    routes:\n      - path: " + path + "\n" + rest
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		files []string
		want  errorWant
	}{
		// Sites and hosts.
		{"no sites", "listen: {https: \":8443\"}\n", nil, errorWant{"sites", "1:1", "no sites; add at least one site"}},
		{"empty hosts", "sites:\n  - hosts: []\n    routes: [{respond: {status: 200}}]\n", nil,
			errorWant{"sites[0].hosts", "2:12", "a site needs hosts"}},
		{"bad host", hostsSite("bad_name.com"), nil, errorWant{"sites[0].hosts[0]", "2:13", "not a valid host name"}},
		{"host with port", hostsSite("app.test:8443"), nil, errorWant{"sites[0].hosts[0]", "2:13", "has a port"}},
		{"host as URL", hostsSite("\"https://app.test\""), nil, errorWant{"sites[0].hosts[0]", "2:13", "is a URL"}},
		{"inner wildcard", hostsSite("a.*.test"), nil, errorWant{"sites[0].hosts[0]", "2:13", "one leading label"}},
		{"wildcard TLD", hostsSite("\"*.com\""), nil, errorWant{"sites[0].hosts[0]", "2:13", "whole top-level domain"}},
		{"bracketed IP", hostsSite("\"[::1]\""), nil, errorWant{"sites[0].hosts[0]", "2:13", "without brackets"}},
		{"numeric TLD", hostsSite("1.2.3.999"), nil, errorWant{"sites[0].hosts[0]", "2:13", "last label is a number"}},
		{"host twice in a site", hostsSite("app.test, app.test"), nil,
			errorWant{"sites[0].hosts[1]", "2:23", "listed twice"}},
		// The message names both sites, and names compare without case.
		{"host in two sites", baseSite + "  - hosts: [other.test, APP.test]\n    routes: [{respond: {status: 200}}]\n", nil,
			errorWant{"sites[1].hosts[1]", "4:25", "is also a host of sites[0]"}},
		{"default_sni not served", "default_sni: other.test\n" + baseSite, nil,
			errorWant{"default_sni", "1:14", "not a host of any site"}},

		// Alerts.
		{"alert webhook not a URL", "alerts: {webhook: {url: \"hooks.example.com\"}}\n" + baseSite, nil,
			errorWant{"alerts.webhook.url", "1:25", "is not an http(s) URL"}},
		{"alert webhook format", "alerts: {webhook: {url: \"https://h.test/\", format: teams}}\n" + baseSite, nil,
			errorWant{"alerts.webhook.format", "1:52", "use json or slack"}},
		{"alert exec without command", "alerts: {exec: {timeout: 5s}}\n" + baseSite, nil,
			errorWant{"alerts.exec.command", "1:16", "empty; write the program"}},
		{"zero expiry warning", "alerts: {expiry_warnings: [14d, 0]}\n" + baseSite, nil,
			errorWant{"alerts.expiry_warnings[1]", "1:33", "more than zero"}},

		// Routes.
		{"no routes", "sites:\n  - hosts: [app.test]\n", nil, errorWant{"sites[0].routes", "2:5", "a site needs routes"}},
		{"bad upstream", blockRoute("/api/", "        to: [\"htp://x\"]\n"), nil,
			errorWant{"sites[0].routes[0].to[0]", "5:14", `"htp://x" is not an upstream URL; use http://HOST:PORT, https://HOST:PORT, h2c://HOST:PORT or unix:/path/to.sock`}},
		{"upstream without host", blockRoute("/", "        to: [\"http://:80\"]\n"), nil,
			errorWant{"sites[0].routes[0].to[0]", "5:14", "is not an upstream URL"}},
		{"empty unix upstream", blockRoute("/", "        to: [\"unix:\"]\n"), nil,
			errorWant{"sites[0].routes[0].to[0]", "5:14", "is not an upstream URL"}},
		{"upstream with query", blockRoute("/", "        to: [\"http://a:1/?x=1\"]\n"), nil,
			errorWant{"sites[0].routes[0].to[0]", "5:14", "without user, query or fragment"}},
		{"upstream bad port", blockRoute("/", "        to: [\"http://a:99999\"]\n"), nil,
			errorWant{"sites[0].routes[0].to[0]", "5:14", "not a number from 1 to 65535"}},
		{"unknown lb", blockRoute("/", "        to: [\"http://a:1\"]\n        lb: random\n"), nil,
			errorWant{"sites[0].routes[0].lb", "6:13", `lb "random" is unknown; use round_robin, least_conn, first, ip_hash or cookie`}},
		{"health check path", blockRoute("/", "        to: [\"http://a:1\"]\n        health_check: {path: healthz}\n"), nil,
			errorWant{"sites[0].routes[0].health_check.path", "6:30", `"healthz" does not start with /`}},
		{"health check status", blockRoute("/", "        to: [\"http://a:1\"]\n        health_check: {expect_status: 999}\n"), nil,
			errorWant{"sites[0].routes[0].health_check.expect_status", "6:39", "status 999 is not an HTTP status"}},
		{"passive fail_after", blockRoute("/", "        to: [\"http://a:1\"]\n        passive_health: {fail_after: -1}\n"), nil,
			errorWant{"sites[0].routes[0].passive_health.fail_after", "6:38", "fail_after must be 1 or more"}},
		{"too many retries", blockRoute("/", "        to: [\"http://a:1\"]\n        retries: 11\n"), nil,
			errorWant{"sites[0].routes[0].retries", "6:18", "retries must be 0 to 10"}},
		{"retry_on without retries", blockRoute("/", "        to: [\"http://a:1\"]\n        retry_on: [503]\n"), nil,
			errorWant{"sites[0].routes[0].retry_on", "6:19", "retry_on needs retries"}},
		{"retry_on not an error", blockRoute("/", "        to: [\"http://a:1\"]\n        retries: 1\n        retry_on: [200]\n"), nil,
			errorWant{"sites[0].routes[0].retry_on[0]", "7:20", "status 200 is not an error status"}},
		{"upstream_tls without https", blockRoute("/", "        to: [\"http://a:1\"]\n        upstream_tls: {server_name: a}\n"), nil,
			errorWant{"sites[0].routes[0].upstream_tls", "6:23", "this route has none"}},
		{"gRPC health check over HTTP/1.1", blockRoute("/", "        to: [\"http://a:1\"]\n        health_check: {path: /grpc.health.v1.Health/Check}\n"), nil,
			errorWant{"sites[0].routes[0].to[0]", "5:14", "needs HTTP/2"}},
		{"path without slash", blockRoute("api", "        respond: {status: 204}\n"), nil,
			errorWant{"sites[0].routes[0].path", "4:15", `"api" does not start with /`}},
		// An absent path means "/", so it collides with an explicit "/".
		{"duplicate path", blockRoute("/", "        respond: {status: 200}\n      - to: [\"http://a:1\"]\n"), nil,
			errorWant{"sites[0].routes[1].path", "6:9", "also the path of sites[0].routes[0]"}},
		{"no action", routeSite("{path: /}"), nil, errorWant{"sites[0].routes[0]", "3:14", "a route needs one action"}},
		{"two actions", routeSite("{to: [\"http://a:1\"], static: ./p}"), nil,
			errorWant{"sites[0].routes[0]", "3:14", "exactly one of to, static, respond and redirect"}},
		{"respond status", routeSite("{respond: {status: 700}}"), nil,
			errorWant{"sites[0].routes[0].respond.status", "3:33", "status 700 is not an HTTP status"}},
		{"respond header name", routeSite("{respond: {headers: {\"a b\": x}}}"), nil,
			errorWant{"sites[0].routes[0].respond.headers.a b", "3:42", "not a valid header name"}},
		{"static without root", routeSite("{static: {browse: true}}"), nil,
			errorWant{"sites[0].routes[0].static", "3:23", "static needs a directory"}},
		{"static index path", routeSite("{static: {root: ., index: [a/b.html]}}"), nil,
			errorWant{"sites[0].routes[0].static.index[0]", "3:41", "not a file name"}},
		{"negative timeout", blockRoute("/", "        to: [\"http://a:1\"]\n        timeout: -5s\n"), nil,
			errorWant{"sites[0].routes[0].timeout", "6:18", "-5s is negative"}},

		// TLS.
		{"unknown tls mode", siteWith("    tls: acem\n"), nil, errorWant{"sites[0].tls", "3:10", `tls "acem" is unknown`}},
		{"tls file without key", siteWith("    tls: {cert_file: cert.pem}\n"), []string{"cert.pem"},
			errorWant{"sites[0].tls.key_file", "3:10", "needs key_file"}},
		{"tls cert missing", siteWith("    tls: {cert_file: cert.pem, key_file: key.pem}\n"), []string{"key.pem"},
			errorWant{"sites[0].tls.cert_file", "3:22", "cert.pem does not exist"}},
		{"tls cert is a directory", siteWith("    tls: {cert_file: certs, key_file: key.pem}\n"), []string{"key.pem", "certs/x"},
			errorWant{"sites[0].tls.cert_file", "3:22", "is a directory"}},
		{"passphrase file missing", siteWith("    tls: {cert_file: c.pem, key_file: k.pem, key_passphrase_file: pass.txt}\n"), []string{"c.pem", "k.pem"},
			errorWant{"sites[0].tls.key_passphrase_file", "3:67", "pass.txt does not exist"}},
		{"wildcard without dns-01", hostsSite("\"*.example.com\""), nil,
			errorWant{"sites[0].hosts[0]", "2:13", "needs the dns-01 challenge, the only one CAs accept for wildcards"}},
		{"wildcard without provider", "acme: {challenges: [http-01, dns-01]}\n" + hostsSite("\"*.example.com\""), nil,
			errorWant{"sites[0].hosts[0]", "3:13", "set a dns provider"}},
		{"only dns-01 without provider", "acme: {challenges: [dns-01]}\n" + hostsSite("app.example.com"), nil,
			errorWant{"sites[0]", "3:5", "only dns-01 but no dns provider"}},
		// IP-address certificates (RFC 8738): http-01 or tls-alpn-01 only,
		// and a public CA only for public addresses.
		{"ip with only dns-01", "acme: {challenges: [dns-01], dns: {provider: exec, command: ./hook}}\n" +
			"sites:\n  - hosts: [203.0.113.7]\n    tls: acme\n    routes: [{respond: {}}]\n", nil,
			errorWant{"sites[0].hosts[0]", "3:13", "CAs validate IP addresses only with http-01 or tls-alpn-01 (RFC 8738), never dns-01"}},
		{"ip with http-01 but no http listener", "listen: {http: \"\"}\nacme: {challenges: [http-01]}\n" +
			"sites:\n  - hosts: [203.0.113.7]\n    tls: acme\n    routes: [{respond: {}}]\n", nil,
			errorWant{"sites[0].hosts[0]", "4:13", "keep listen.http on for http-01"}},
		{"ip site with its own dns", "acme: {challenges: [http-01, dns-01]}\n" +
			"sites:\n  - hosts: [203.0.113.7]\n    tls: acme\n    dns: {provider: exec, command: ./hook}\n    routes: [{respond: {}}]\n", nil,
			errorWant{"sites[0].dns", "5:10", "dns-01 cannot validate; remove its dns block"}},
		{"loopback ip from let's encrypt", "sites:\n  - hosts: [127.0.0.1]\n    tls: acme\n    routes: [{respond: {}}]\n", nil,
			errorWant{"sites[0].hosts[0]", "2:13", "public CAs issue only for public addresses"}},
		{"private ip from let's encrypt", "sites:\n  - hosts: [app.example.com, 10.1.2.3]\n    tls: acme\n    routes: [{respond: {}}]\n", nil,
			errorWant{"sites[0].hosts[1]", "2:30", "is a private, loopback or link-local address"}},
		{"ip from zerossl", "acme: {directory: zerossl}\n" +
			"sites:\n  - hosts: [\"2001:db8::7\"]\n    tls: acme\n    routes: [{respond: {}}]\n", nil,
			errorWant{"sites[0].hosts[0]", "3:13", "does not issue IP-address certificates over ACME"}},

		// DNS providers.
		{"unknown dns provider", "acme: {dns: {provider: route53}}\n" + baseSite, nil,
			errorWant{"acme.dns.provider", "1:24", `provider "route53" is unknown`}},
		{"dns without provider", "acme: {dns: {zone: x.}}\n" + baseSite, nil,
			errorWant{"acme.dns.provider", "1:13", "needs a provider"}},
		{"rfc2136 without server", "acme: {dns: {provider: rfc2136}}\n" + baseSite, nil,
			errorWant{"acme.dns.server", "1:13", "needs the server"}},
		{"unknown engine", "server: {engine: nginx}\n" + baseSite, nil,
			errorWant{"server.engine", "1:18", "not an engine; use tlsgate or std"}},
		{"rfc2136 bad server", "acme: {dns: {provider: rfc2136, server: \"a b\"}}\n" + baseSite, nil,
			errorWant{"acme.dns.server", "1:41", "not HOST or HOST:PORT"}},
		{"tsig algorithm", "acme:\n  dns:\n    provider: rfc2136\n    server: 127.0.0.1:53\n    tsig_algorithm: hmac-md5\n" + baseSite, nil,
			errorWant{"acme.dns.tsig_algorithm", "5:21", "use hmac-sha256 or hmac-sha512"}},
		{"tsig key without secret", "acme:\n  dns:\n    provider: rfc2136\n    server: 127.0.0.1\n    tsig_key_name: k.\n" + baseSite, nil,
			errorWant{"acme.dns", "3:5", "tsig_key_name and tsig_secret go together"}},
		{"tsig secret not base64", "acme:\n  dns:\n    provider: rfc2136\n    server: 127.0.0.1\n    tsig_key_name: k.\n    tsig_secret: \"!!\"\n" + baseSite, nil,
			errorWant{"acme.dns.tsig_secret", "6:18", "not valid base64"}},
		{"exec without command", "acme: {dns: {provider: exec}}\n" + baseSite, nil,
			errorWant{"acme.dns.command", "1:13", "needs a command"}},
		{"webhook bad url", "acme: {dns: {provider: webhook, url: \"ftp://x\"}}\n" + baseSite, nil,
			errorWant{"acme.dns.url", "1:38", "needs an http:// or https:// url"}},
		{"key of another provider", "acme: {dns: {provider: exec, command: x, url: \"http://h\"}}\n" + baseSite, nil,
			errorWant{"acme.dns.url", "1:47", "url is for the webhook provider, not exec"}},
		{"bad resolver", "acme: {dns: {provider: exec, command: x, resolvers: [nope]}}\n" + baseSite, nil,
			errorWant{"acme.dns.resolvers[0]", "1:54", "not a resolver"}},
		{"site dns", siteWith("    dns: {provider: foo}\n"), nil,
			errorWant{"sites[0].dns.provider", "3:21", `provider "foo" is unknown`}},

		// ACME.
		{"unknown challenge", "acme: {challenges: [http-01, dns-02]}\n" + baseSite, nil,
			errorWant{"acme.challenges[1]", "1:30", `challenge "dns-02" is unknown`}},
		{"unknown directory", "acme: {directory: letsencrypt-prod}\n" + baseSite, nil,
			errorWant{"acme.directory", "1:19", "is not an ACME CA"}},
		{"unknown fallback", "acme: {fallback: zerosl}\n" + baseSite, nil,
			errorWant{"acme.fallback", "1:18", "is not an ACME CA"}},
		{"incomplete eab", "acme: {eab: {key_id: k}}\n" + baseSite, nil,
			errorWant{"acme.eab", "1:13", "needs both key_id and mac_key"}},
		{"trusted root missing", "acme: {trusted_roots: [ca.pem]}\n" + baseSite, nil,
			errorWant{"acme.trusted_roots[0]", "1:24", "ca.pem does not exist"}},

		// Client certificates, HSTS, CORS, headers.
		{"client auth mode", siteWith("    client_auth: {mode: maybe, local_ca: true}\n"), nil,
			errorWant{"sites[0].client_auth.mode", "3:25", `mode "maybe" is unknown; use require or optional`}},
		{"client auth without CAs", siteWith("    client_auth: {mode: require}\n"), nil,
			errorWant{"sites[0].client_auth", "3:18", "set ca_files: [F] or local_ca: true"}},
		{"error page missing", siteWith("    error_pages: {502: errors/502.html}\n"), nil,
			errorWant{"sites[0].error_pages.502", "3:24", "errors/502.html does not exist"}},
		{"error page for 431 missing", siteWith("    error_pages: {431: e.html}\n"), nil,
			errorWant{"sites[0].error_pages.431", "3:24", "e.html does not exist"}},
		{"error page for 421", siteWith("    error_pages: {421: e.html}\n"), []string{"e.html"},
			errorWant{"sites[0].error_pages.421", "3:24", "not a status tlsgate answers by itself"}},
		{"error page for 200", siteWith("    error_pages: {200: e.html}\n"), []string{"e.html"},
			errorWant{"sites[0].error_pages.200", "3:24", "not a status tlsgate answers by itself"}},
		{"client CA missing", siteWith("    client_auth: {ca_files: [ca.pem]}\n"), nil,
			errorWant{"sites[0].client_auth.ca_files[0]", "3:30", "ca.pem does not exist"}},
		{"hsts preload", siteWith("    hsts: {max_age: 30d, preload: true}\n"), nil,
			errorWant{"sites[0].hsts.preload", "3:35", "include_subdomains: true and max_age of at least 365d"}},
		{"cors credentials with *", siteWith("    cors: {allow_origins: [\"*\"], allow_credentials: true}\n"), nil,
			errorWant{"sites[0].cors.allow_origins[0]", "3:28", "browsers refuse credentialed responses for a wildcard origin"}},
		{"cors bad origin", siteWith("    cors: {allow_origins: [\"https://a.test/path\"]}\n"), nil,
			errorWant{"sites[0].cors.allow_origins[0]", "3:28", "is not an origin"}},
		{"cors without origins", siteWith("    cors: {allow_methods: [GET]}\n"), nil,
			errorWant{"sites[0].cors.allow_origins", "3:11", "cors needs allow_origins"}},
		{"cors bad method", siteWith("    cors: {allow_origins: [\"*\"], allow_methods: [\"GE T\"]}\n"), nil,
			errorWant{"sites[0].cors.allow_methods[0]", "3:50", "not a valid HTTP token"}},
		{"header name", siteWith("    headers: {response: {set: {\"Bad Header\": x}}}\n"), nil,
			errorWant{"sites[0].headers.response.set.Bad Header", "3:46", "not a valid header name"}},
		{"frame options", siteWith("    security_headers: {frame_options: ALLOW}\n"), nil,
			errorWant{"sites[0].security_headers.frame_options", "3:39", "use DENY or SAMEORIGIN"}},
		{"referrer policy", siteWith("    security_headers: {referrer_policy: nope}\n"), nil,
			errorWant{"sites[0].security_headers.referrer_policy", "3:41", "not a referrer policy"}},

		// Listeners, admin, proxies, e-mail, durations.
		{"listen without port", "listen: {https: \"443\"}\n" + baseSite, nil,
			errorWant{"listen.https", "1:17", "is not HOST:PORT"}},
		{"listen same port", "listen: {http: \":8443\", https: \":8443\"}\n" + baseSite, nil,
			errorWant{"listen.https", "1:32", "give HTTP and HTTPS different ports"}},
		{"http3 without port", "listen: {http3: \"443\"}\n" + baseSite, nil,
			errorWant{"listen.http3", "1:17", "is not HOST:PORT"}},
		{"http3 on a unix socket", "listen: {http3: \"unix:/tmp/x\"}\n" + baseSite, nil,
			errorWant{"listen.http3", "1:17", "runs over UDP"}},
		{"admin on all interfaces", "admin: 0.0.0.0:2019\n" + baseSite, nil,
			errorWant{"admin", "1:8", "the admin API must stay on loopback"}},
		{"admin without host", "admin: \":2019\"\n" + baseSite, nil,
			errorWant{"admin", "1:8", "the admin API must stay on loopback"}},
		{"admin public name", "admin: example.com:2019\n" + baseSite, nil,
			errorWant{"admin", "1:8", "or a unix socket"}},
		{"admin empty unix", "admin: \"unix:\"\n" + baseSite, nil, errorWant{"admin", "1:8", "needs a socket path"}},
		{"admin not an address", "admin: nope\n" + baseSite, nil, errorWant{"admin", "1:8", "is not HOST:PORT"}},
		{"trusted proxy", "trusted_proxies: [10.0.0.0/8, nope]\n" + baseSite, nil,
			errorWant{"trusted_proxies[1]", "1:31", "not an IP address or CIDR"}},
		{"proxy protocol peer", "listen: {proxy_protocol: {trusted: [10.0.0.1, 10.0.0/8]}}\n" + baseSite, nil,
			errorWant{"listen.proxy_protocol.trusted[1]", "1:47", "not an IP address or CIDR"}},
		{"proxy protocol without peers", "listen: {proxy_protocol: {trusted: []}}\n" + baseSite, nil,
			errorWant{"listen.proxy_protocol.trusted", "1:36", "list the load balancers"}},
		{"negative max_connections", "limits: {max_connections: -1}\n" + baseSite, nil,
			errorWant{"limits.max_connections", "1:27", "must not be negative"}},
		{"negative max_concurrent_streams", "limits: {max_concurrent_streams: -5}\n" + baseSite, nil,
			errorWant{"limits.max_concurrent_streams", "1:34", "between 1 and"}},
		{"email", "email: ops\n" + baseSite, nil, errorWant{"email", "1:8", "not an e-mail address"}},
		{"email with name", "email: \"Ops <ops@example.com>\"\n" + baseSite, nil, errorWant{"email", "1:8", "plain address"}},
		{"negative duration", "shutdown_timeout: -1s\n" + baseSite, nil, errorWant{"shutdown_timeout", "1:19", "negative"}},

		// Storage.
		{"storage backend", "storage: {backend: s3}\n" + baseSite, nil,
			errorWant{"storage.backend", "1:20", `backend "s3" is unknown; use file or etcd`}},
		{"etcd without endpoints", "storage: {backend: etcd}\n" + baseSite, nil,
			errorWant{"storage.etcd.endpoints", "1:10", "needs endpoints"}},
		{"etcd with file backend", "storage: {etcd: {endpoints: [\"127.0.0.1:2379\"]}}\n" + baseSite, nil,
			errorWant{"storage.etcd", "1:17", "set backend: etcd, or remove etcd"}},
		{"etcd cert without key", "storage: {backend: etcd, etcd: {endpoints: [\"127.0.0.1:2379\"], cert_file: c.pem}}\n" + baseSite, []string{"c.pem"},
			errorWant{"storage.etcd", "1:32", "cert_file and key_file go together"}},
		{"etcd bad endpoint", "storage: {backend: etcd, etcd: {endpoints: [\":2379\"]}}\n" + baseSite, nil,
			errorWant{"storage.etcd.endpoints[0]", "1:45", "not an etcd endpoint"}},
		{"encryption key missing", "storage: {encryption_key_file: k}\n" + baseSite, nil,
			errorWant{"storage.encryption_key_file", "1:32", "does not exist"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, tt.yaml, tt.files...), LoadOptions{LookupEnv: noEnv})
			checkErrors(t, err, tt.want)
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		files []string
	}{
		{"ip hosts", hostsSite("127.0.0.1, \"::1\", localhost"), nil},
		{"wildcard with dns", "acme: {challenges: [dns-01], dns: {provider: exec, command: ./hook}}\n" + hostsSite("\"*.example.com\""), nil},
		{"wildcard with site dns", "acme: {challenges: [http-01, dns-01]}\n" +
			"sites:\n  - hosts: [\"*.example.com\"]\n    dns: {provider: webhook, url: \"https://h/x\"}\n    routes: [{respond: {}}]\n", nil},
		// A public IP with Let's Encrypt (its shortlived profile), and a
		// private one from one's own ACME CA; dns-01 in the list is for the
		// other names.
		{"public ip from let's encrypt", "acme: {profile: shortlived, challenges: [http-01, dns-01], dns: {provider: exec, command: ./hook}}\n" +
			"sites:\n  - hosts: [203.0.113.7, \"2606:4700::1\", app.example.com]\n    tls: acme\n    routes: [{respond: {}}]\n", nil},
		{"loopback ip from own CA", "acme: {directory: \"https://127.0.0.1:14000/dir\", challenges: [tls-alpn-01]}\n" +
			"sites:\n  - hosts: [127.0.0.1]\n    tls: acme\n    routes: [{respond: {}}]\n", nil},
		{"local wildcard", hostsSite("\"*.localhost\", \"*.app.test\""), nil},
		{"error pages", siteWith("    error_pages: {502: e.html, 503: e.html}\n"), []string{"e.html"}},
		{"error page for 431", siteWith("    error_pages: {431: e.html}\n"), []string{"e.html"}},
		{"tls files", siteWith("    tls: {cert_file: c.pem, key_file: k.pem, key_passphrase_file: p}\n"), []string{"c.pem", "k.pem", "p"}},
		{"upstreams", routeSite("{to: [\"https://a:8443/base\", \"unix:app.sock\", \"unix:/run/x.sock\", \"http://[::1]:8000\", \"http://app\"]}"), nil},
		{"admin forms", "admin: \"[::1]:2019\"\n" + baseSite, nil},
		{"admin unix", "admin: unix:admin.sock\n" + baseSite, nil},
		{"admin off", "admin: \"\"\n" + baseSite, nil},
		{"listen off and port 0", "listen: {http: \"\", https: \"127.0.0.1:0\"}\n" + baseSite, nil},
		{"default_sni via wildcard", "default_sni: a.example.com\nacme: {challenges: [dns-01], dns: {provider: exec, command: x}}\n" + hostsSite("\"*.example.com\""), nil},
		{"cors star without credentials", siteWith("    cors: {allow_origins: [\"*\"], allow_headers: [\"*\"]}\n"), nil},
		{"etcd", "storage: {backend: etcd, etcd: {endpoints: [\"127.0.0.1:2379\", \"https://e:2379\"]}}\n" + baseSite, nil},
		{"directory URL", "acme: {directory: \"https://127.0.0.1:14000/dir\", fallback: letsencrypt-staging}\n" + baseSite, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustLoad(t, tt.yaml, tt.files...)
		})
	}
}

// Every problem in a file is reported in one go, in file order.
func TestValidateReportsAll(t *testing.T) {
	_, err := Load(writeConfig(t, "admin: 0.0.0.0:1\nemail: x\n"+hostsSite("a_b.test")), LoadOptions{LookupEnv: noEnv})
	checkErrors(t, err,
		errorWant{"admin", "1:8", "loopback"},
		errorWant{"email", "2:8", "e-mail"},
		errorWant{"sites[0].hosts[0]", "4:13", "host name"},
	)
}

// A Config built in code has no positions; its errors still name the key.
func TestValidateInCode(t *testing.T) {
	c := &Config{Sites: []Site{{Hosts: []string{"app.test"}, Routes: []Route{{To: []string{"ftp://x"}}}}}}
	err := c.Validate()
	want := `sites[0].routes[0].to[0]: "ftp://x" is not an upstream URL; use http://HOST:PORT, https://HOST:PORT, h2c://HOST:PORT or unix:/path/to.sock`
	if err == nil || err.Error() != want {
		t.Fatalf("Validate = %v; want %s", err, want)
	}
	c.Sites[0].Routes[0].To[0] = "http://127.0.0.1:1"
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}
