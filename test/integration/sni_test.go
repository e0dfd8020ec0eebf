package integration

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
)

// sniConfig has two named sites, one of which also lists 127.0.0.1, and a
// wildcard site, all with certificates from the local CA.
const sniConfig = header + `
sites:
  - hosts: [a.test, 127.0.0.1]
    tls: local
    routes:
      - path: /
        respond: {status: 200, body: "site-a"}
  - hosts: [b.test]
    tls: local
    routes:
      - path: /
        respond: {status: 200, body: "site-b"}
  - hosts: ["*.app.test"]
    tls: local
    routes:
      - path: /
        respond: {status: 200, body: "site-w"}
`

// sniCases are the names each site answers and the names its certificate
// must not cover (another site's certificate would be a leak).
var sniCases = []struct {
	name    string
	body    string
	notSANs []string
}{
	{"a.test", "site-a", []string{"b.test", "x.app.test"}},
	{"b.test", "site-b", []string{"a.test", "x.app.test"}},
	{"x.app.test", "site-w", []string{"a.test", "b.test"}},
	{"deep.app.test", "site-w", []string{"a.test", "b.test"}},
}

func TestSNI(t *testing.T) {
	t.Parallel()
	inst := startTLSGate(t, sniConfig)
	pool := inst.rootPool(t)

	t.Run("go", func(t *testing.T) {
		t.Parallel()
		for _, tc := range sniCases {
			st, err := handshake(inst.HTTPS, &tls.Config{ServerName: tc.name, RootCAs: pool})
			if err != nil {
				t.Errorf("%s: handshake: %v", tc.name, err)
				continue
			}
			leaf := st.PeerCertificates[0]
			for _, other := range tc.notSANs {
				if leaf.VerifyHostname(other) == nil {
					t.Errorf("%s: certificate (SANs %v) also covers %s; want a certificate of its own site", tc.name, sans(leaf), other)
				}
			}
		}
	})

	t.Run("curl", func(t *testing.T) {
		t.Parallel()
		for _, tc := range sniCases {
			r := curl(t, inst, tc.name, "/", "--cacert", inst.RootPath())
			if r.Code != 0 || r.Stdout != tc.body {
				t.Errorf("curl https://%s/: got %s; want body %q", tc.name, r, tc.body)
			}
		}
	})

	t.Run("openssl", func(t *testing.T) {
		t.Parallel()
		for _, tc := range sniCases {
			r := sClient(t, inst.HTTPS, "-servername", tc.name, "-CAfile", inst.RootPath(), "-verify_return_error", "-showcerts")
			if r.Code != 0 {
				t.Errorf("s_client -servername %s: %s", tc.name, r)
				continue
			}
			certs := pemCerts(t, r.Stdout)
			if len(certs) == 0 {
				t.Errorf("s_client -servername %s: no certificate in output", tc.name)
				continue
			}
			if err := certs[0].VerifyHostname(tc.name); err != nil {
				t.Errorf("s_client -servername %s: leaf SANs %v: %v", tc.name, sans(certs[0]), err)
			}
		}
	})

	t.Run("unknown name gets unrecognized_name", func(t *testing.T) {
		t.Parallel()
		st, err := handshake(inst.HTTPS, &tls.Config{ServerName: "nobody.test", InsecureSkipVerify: true})
		if err == nil {
			t.Fatalf("handshake for nobody.test succeeded with certificate for %v; want unrecognized_name alert", sans(st.PeerCertificates[0]))
		}
		if !strings.Contains(err.Error(), "unrecognized name") {
			t.Errorf("go handshake error %q; want an unrecognized_name alert", err)
		}
		r := sClient(t, inst.HTTPS, "-servername", "nobody.test")
		if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "unrecognized name") {
			t.Errorf("s_client -servername nobody.test: %s\nwant failure with unrecognized name alert", r)
		}
		if certs := pemCerts(t, r.Stdout); len(certs) > 0 {
			t.Errorf("s_client got a certificate for nobody.test: SANs %v", sans(certs[0]))
		}
	})

	t.Run("no SNI on 127.0.0.1 gets the site listing it", func(t *testing.T) {
		t.Parallel()
		// Go sends no SNI for an IP ServerName but verifies the IP SAN.
		if _, err := handshake(inst.HTTPS, &tls.Config{ServerName: "127.0.0.1", RootCAs: pool}); err != nil {
			t.Errorf("go: %v", err)
		}
		r := curl(t, inst, "127.0.0.1", "/", "--cacert", inst.RootPath())
		if r.Code != 0 || r.Stdout != "site-a" {
			t.Errorf("curl https://127.0.0.1/: got %s; want body site-a", r)
		}
		r = sClient(t, inst.HTTPS, "-noservername", "-CAfile", inst.RootPath(), "-verify_return_error")
		certs := pemCerts(t, r.Stdout)
		if r.Code != 0 || len(certs) == 0 || !contains(sans(certs[0]), "127.0.0.1") {
			t.Errorf("s_client -noservername: want the 127.0.0.1 site's certificate; got %s", r)
		}
	})
}

// TestNoSNIFallback checks the rule for clients that send no SNI when no
// site lists the address: default_sni, else the only site, else an alert.
func TestNoSNIFallback(t *testing.T) {
	t.Parallel()
	site := func(host, body string) string {
		return "  - hosts: [" + host + "]\n    tls: local\n    routes:\n      - path: /\n        respond: {status: 200, body: \"" + body + "\"}\n"
	}
	tests := []struct {
		name   string
		config string
		want   string // a SAN the no-SNI certificate must have; "" means the handshake must fail
	}{
		{"default_sni", header + "default_sni: d.test\nsites:\n" + site("c.test", "c") + site("d.test", "d"), "d.test"},
		{"only one site", header + "sites:\n" + site("c.test", "c"), "c.test"},
		{"two sites and no default", header + "sites:\n" + site("c.test", "c") + site("d.test", "d"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			inst := startTLSGate(t, tc.config)
			st, err := handshake(inst.HTTPS, &tls.Config{InsecureSkipVerify: true})
			switch {
			case tc.want == "" && err == nil:
				t.Errorf("no-SNI handshake succeeded with %v; want an alert", sans(st.PeerCertificates[0]))
			case tc.want == "":
				t.Logf("no-SNI handshake failed as expected: %v", err)
			case err != nil:
				t.Errorf("no-SNI handshake: %v; want certificate for %s", err, tc.want)
			default:
				leaf := st.PeerCertificates[0]
				if err := leaf.VerifyHostname(tc.want); err != nil {
					t.Errorf("no-SNI certificate SANs %v; want %s", sans(leaf), tc.want)
				}
				verifyChain(t, inst.rootPool(t), st.PeerCertificates, tc.want)
			}
		})
	}
}

// verifyChain checks that certs (leaf first, as sent) verify to pool for name.
func verifyChain(t *testing.T, pool *x509.CertPool, certs []*x509.Certificate, name string) {
	t.Helper()
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{DNSName: name, Roots: pool, Intermediates: inter}); err != nil {
		t.Errorf("chain for %s does not verify against the local root: %v", name, err)
	}
}
