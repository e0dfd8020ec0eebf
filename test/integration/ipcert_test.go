package integration

import (
	"crypto/tls"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlsgate/tlsgate/test/testenv"
)

// ipSite is one site for the address 127.0.0.1 that asks the ACME CA for
// an IP-address certificate (RFC 8738) instead of the local CA an IP
// host gets by default.
const ipSite = `sites:
  - hosts: [127.0.0.1]
    tls: acme
    routes: [{path: /, respond: {body: "ip site"}}]
`

func TestACMEIPAddressCertificate(t *testing.T) {
	tests := []struct {
		name, challenge string // the run's name; the challenge that must solve it
		acme            func(p *pebbleCA) string
	}{
		{"http-01", "http-01", func(p *pebbleCA) string { return p.acmeConfig("http-01") }},
		{"tls-alpn-01", "tls-alpn-01", func(p *pebbleCA) string { return p.acmeConfig("tls-alpn-01") }},
		// dns-01 with a provider is for the DNS names of other sites: the IP
		// address still uses http-01 (CertMagic alone would try dns-01
		// only, which no CA accepts for an IP). The hook fails if called.
		{"http-01 beside dns-01", "http-01", func(p *pebbleCA) string {
			return p.acmeConfig("http-01, dns-01") + "  dns: {provider: exec, command: /bin/false}\n"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			challenge := tt.challenge
			// Pebble validates the other challenge type on a dead port, so
			// only the configured one can succeed.
			dead := testenv.FreePort(t)
			opts := pebbleOptions{HTTPPort: dead}
			if challenge == "http-01" {
				opts = pebbleOptions{TLSPort: dead}
			}
			p, inst := startACME(t, opts, tt.acme, ipSite)
			// No SNI (a client does not send an IP address as SNI): the
			// certificate is the one of the site listing the address dialled.
			cs, err := handshake(inst.HTTPS, &tls.Config{ServerName: "127.0.0.1", RootCAs: p.roots(t)})
			if err != nil {
				t.Fatalf("served chain does not verify for 127.0.0.1 against Pebble's root: %v", err)
			}
			leaf := cs.PeerCertificates[0]
			if len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || len(leaf.DNSNames) != 0 {
				t.Errorf("certificate names IPs %v and DNS names %v; want the IP SAN 127.0.0.1 alone", leaf.IPAddresses, leaf.DNSNames)
			}
			if !strings.HasPrefix(leaf.Issuer.CommonName, "Pebble") {
				t.Errorf("issuer %q; want Pebble", leaf.Issuer.CommonName)
			}
			r := curl(t, inst, "127.0.0.1", "/", "--cacert", p.rootFile(t))
			if r.Code != 0 || r.Stdout != "ip site" {
				t.Errorf("curl --cacert <pebble root> https://127.0.0.1:%d/: %s", inst.HTTPSPort, r)
			}
			if !strings.Contains(inst.Stderr.String(), "challenge_type="+challenge) {
				t.Errorf("tlsgate's log does not show the %s challenge being solved", challenge)
			}
		})
	}
}

// An IP address with only dns-01 is refused before anything starts, with
// the place in the file and what to use instead.
func TestACMEIPAddressDNS01IsAConfigError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conf := writeFile(t, dir, "tlsgate.yaml", `acme:
  directory: https://127.0.0.1:14000/dir
  challenges: [dns-01]
  dns: {provider: exec, command: ./hook.sh}
sites:
  - hosts: [127.0.0.1]
    tls: acme
    routes: [{path: /, respond: {body: "ip site"}}]
`)
	want := conf + `:6:13: sites[0].hosts[0]: "127.0.0.1" is an IP address: CAs validate IP addresses only with http-01 or tls-alpn-01 (RFC 8738), never dns-01; add http-01 or tls-alpn-01 to acme.challenges`
	for _, cmd := range []string{"validate", "run"} {
		r := tlsgate(t, dir, cmd, "-c", conf, "--data-dir", filepath.Join(dir, "data"))
		if r.Code != 2 || !strings.Contains(r.Stderr, want) {
			t.Errorf("tlsgate %s: %s\nwant exit 2 and %q", cmd, r, want)
		}
	}
}
