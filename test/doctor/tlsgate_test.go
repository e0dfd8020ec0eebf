package doctor

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/pki"
)

// TestTLSGateSites: doctor against tlsgate itself (`tlsgate run -c`), with
// the local CA and with file certificates.
func TestTLSGateSites(t *testing.T) {
	t.Run("local CA site", func(t *testing.T) {
		t.Parallel()
		https, plain, data := tlsgateSite(t, siteYAML("localhost", "    tls: local\n"))
		root := pki.RootCertPath(filepath.Join(data, "ca"))
		p := port(https)
		cases := []struct {
			name string
			args []string
			want check
		}{
			{"healthy", []string{"https://localhost:" + p + "/", "--cacert", root, "--data-dir", data},
				check{0, []string{"trusted", "name_ok", "https_answer"}, []string{"Verdict: healthy", "TLS 1.3", "ALPN h2"}}},
			{"IP not in SANs", []string{"https://127.0.0.1:" + p + "/", "--cacert", root, "--data-dir", data},
				check{1, []string{"name_mismatch"}, []string{"does not cover the IP address 127.0.0.1", "names the certificate covers: localhost",
					"https://localhost:" + p + "/", "tlsgate ca issue localhost 127.0.0.1"}}},
			{"local CA not trusted", []string{"https://localhost:" + p + "/", "--data-dir", data},
				check{1, []string{"local_ca_untrusted", "root_not_in_system"}, []string{"tlsgate's local CA", "tlsgate ca trust --data-dir", "--cacert " + root,
					"sudo tlsgate ca trust --stores system --data-dir " + data}}},
			{"redirect without HSTS", []string{"http://localhost:" + port(plain) + "/", "--cacert", root, "--data-dir", data},
				check{0, []string{"redirects_to_https", "no_hsts", "trusted"}, []string{"Strict-Transport-Security"}}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) { c.want.verify(t, runDoctor(t, c.args...)) })
		}
	})

	t.Run("not yet valid file certificate", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		ca := newCA(t, "Future Test", time.Now())
		kp := issue(t, ca, time.Now().Add(10*24*time.Hour), 90*24*time.Hour, false, "localhost")
		crt, key := kp.writePEM(t, dir, "server")
		https, _, _ := tlsgateSite(t, siteYAML("localhost", fmt.Sprintf("    tls: {cert_file: %s, key_file: %s}\n", crt, key)))
		r := runDoctor(t, "https://localhost:"+port(https)+"/", "--cacert", rootFile(t, dir, ca))
		check{1, []string{"not_yet_valid", "trusted"}, []string{"not valid yet", fmtUTC(kp.chain[0].NotBefore), "this machine's clock", "timedatectl"}}.verify(t, r)
	})

	t.Run("client certificate required", func(t *testing.T) {
		t.Parallel()
		https, _, data := tlsgateSite(t, siteYAML("localhost", "    tls: local\n    client_auth: {mode: require, local_ca: true}\n"))
		caDir := filepath.Join(data, "ca")
		root := pki.RootCertPath(caDir)
		url := "https://localhost:" + port(https) + "/"
		local, err := pki.LoadLocalCA(caDir)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		goodCrt, goodKey := issue(t, local, time.Time{}, 0, true, "alice@example.com").writePEM(t, dir, "alice")
		other := newCA(t, "Stranger", time.Now())
		badCrt, badKey := issue(t, other, time.Time{}, 0, true, "mallory@example.com").writePEM(t, dir, "mallory")

		check{1, []string{"client_cert_required"}, []string{"requires a client certificate", "alert from the server", "--client-cert"}}.
			verify(t, runDoctor(t, url, "--cacert", root))
		check{0, []string{"client_cert_accepted", "trusted"}, []string{"accepted " + goodCrt}}.
			verify(t, runDoctor(t, url, "--cacert", root, "--client-cert", goodCrt, "--client-key", goodKey))
		check{1, []string{"client_cert_rejected"}, []string{"refused the client certificate", "Stranger Intermediate CA"}}.
			verify(t, runDoctor(t, url, "--cacert", root, "--client-cert", badCrt, "--client-key", badKey))
	})

	t.Run("adhoc", func(t *testing.T) {
		t.Parallel()
		https, _, _ := tlsgateSite(t, siteYAML("localhost", "    tls: adhoc\n"))
		check{1, []string{"self_signed"}, []string{"tls: adhoc", "tls: local"}}.verify(t, runDoctor(t, "https://localhost:"+port(https)+"/"))
	})
}
