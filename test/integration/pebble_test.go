package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/test/testenv"
)

// pebbleVersion is the Pebble the ACME tests need: it serves ARI and
// profiles (Debian's pebble 2.4 does neither). scripts/test.sh installs it.
const pebbleVersion = "v2.10.1"

// pebbleOptions shape one Pebble run.
type pebbleOptions struct {
	// HTTPPort and TLSPort are where Pebble validates http-01 and
	// tls-alpn-01: the tlsgate instance's listeners.
	HTTPPort, TLSPort int
	// EAB maps key IDs to base64url MAC keys and makes EAB required.
	EAB map[string]string
	// Profiles maps profile names to certificate lifetimes; "default" is
	// always there (90 days) unless given.
	Profiles map[string]time.Duration
}

// pebbleCA is a running Pebble with its pebble-challtestsrv DNS server,
// which answers every name with 127.0.0.1.
type pebbleCA struct {
	Directory string // ACME directory URL
	CertFile  string // Pebble's own HTTPS certificate: tlsgate's acme.trusted_roots
	mgmt      string
	opts      pebbleOptions
	dir       string
	dns       string
	proc      *testenv.Proc // the current run
	t         *testing.T
}

// pebbleBin finds pebble and pebble-challtestsrv of pebbleVersion.
func pebbleBin(t *testing.T, name string) string {
	t.Helper()
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := fmt.Sprintf("%s %s is not installed: go install github.com/letsencrypt/pebble/v2/cmd/%s@%s (scripts/test.sh does this)", name, pebbleVersion, name, pebbleVersion)
	if testing.Short() {
		t.Skip(msg)
	}
	t.Fatal(msg)
	return ""
}

// startPebble starts challtestsrv and Pebble on free loopback ports.
func startPebble(t *testing.T, opts pebbleOptions) *pebbleCA {
	t.Helper()
	dir := t.TempDir()
	p := &pebbleCA{opts: opts, dir: dir, t: t}
	p.CertFile, _ = writeSelfSigned(t, dir, "pebble")
	p.dns = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	chall := exec.Command(pebbleBin(t, "pebble-challtestsrv"),
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-dnsserver", p.dns, "-management", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "")
	chall.Stdout, chall.Stderr = io.Discard, io.Discard
	if err := chall.Start(); err != nil {
		t.Fatalf("start pebble-challtestsrv: %v", err)
	}
	t.Cleanup(func() { _ = chall.Process.Kill(); _ = chall.Wait() })
	p.start()
	return p
}

// start runs Pebble (again) on the same ports. Pebble keeps no state
// across runs: a restarted Pebble has a new root and knows no accounts.
func (p *pebbleCA) start() {
	t := p.t
	t.Helper()
	if p.Directory == "" {
		port := testenv.FreePort(t)
		p.Directory = fmt.Sprintf("https://127.0.0.1:%d/dir", port)
		p.mgmt = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	}
	profiles := map[string]any{"default": map[string]any{"description": "default", "validityPeriod": 90 * 24 * 3600}}
	for name, d := range p.opts.Profiles {
		profiles[name] = map[string]any{"description": name, "validityPeriod": int(d.Seconds())}
	}
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress":                  strings.TrimSuffix(strings.TrimPrefix(p.Directory, "https://"), "/dir"),
		"managementListenAddress":        p.mgmt,
		"certificate":                    p.CertFile,
		"privateKey":                     strings.TrimSuffix(p.CertFile, ".crt") + ".key",
		"httpPort":                       p.opts.HTTPPort,
		"tlsPort":                        p.opts.TLSPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": len(p.opts.EAB) > 0,
		"externalAccountMACKeys":         p.opts.EAB,
		"profiles":                       profiles,
	}}
	data, _ := json.Marshal(conf)
	confPath := writeFile(t, p.dir, "pebble.json", string(data))
	cmd := exec.Command(pebbleBin(t, "pebble"), "-config", confPath, "-dnsserver", p.dns)
	// Pebble's random nonce rejection stays on: tlsgate must cope with it.
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1")
	p.proc = testenv.Start(t, cmd)
	eventually(t, 10*time.Second, "pebble directory", func() error {
		_, err := p.get("https://" + strings.TrimPrefix(p.Directory, "https://"))
		return err
	})
}

// stop ends Pebble; start brings it back.
func (p *pebbleCA) stop() {
	p.proc.Stop(p.t)
}

func (p *pebbleCA) get(url string) ([]byte, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: poolFromFile(p.t, p.CertFile)},
	}}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, err
}

// roots is a pool with the root Pebble signs with now.
func (p *pebbleCA) roots(t *testing.T) *x509.CertPool {
	t.Helper()
	data, err := p.get("https://" + p.mgmt + "/roots/0")
	if err != nil {
		t.Fatalf("pebble root: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		t.Fatal("pebble root: no PEM")
	}
	return pool
}

// rootFile writes the root Pebble signs with now to a PEM file, for peers
// such as curl --cacert.
func (p *pebbleCA) rootFile(t *testing.T) string {
	t.Helper()
	data, err := p.get("https://" + p.mgmt + "/roots/0")
	if err != nil {
		t.Fatalf("pebble root: %v", err)
	}
	return writeFile(t, t.TempDir(), "pebble-root.pem", string(data))
}

// orders counts the orders the current Pebble run accepted (Pebble logs
// to stdout).
func (p *pebbleCA) orders() int {
	return strings.Count(p.proc.Stdout.String(), "Added order")
}

// acmeConfig is the acme block of a tlsgate config that uses this Pebble.
func (p *pebbleCA) acmeConfig(challenges string) string {
	return fmt.Sprintf(`email: ops@example.com
acme:
  directory: %s
  trusted_roots: [%s]
  challenges: [%s]
`, p.Directory, p.CertFile, challenges)
}

// writeSelfSigned writes NAME.crt and NAME.key for 127.0.0.1 and localhost.
func writeSelfSigned(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = writeFile(t, dir, name+".crt", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	keyFile = writeFile(t, dir, name+".key", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})))
	return certFile, keyFile
}
