package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
	"golang.org/x/crypto/cryptobyte"
)

// echSites are two sites with different answers, so a request shows which
// site the inner (encrypted) server name picked.
const echSites = `sites:
  - hosts: [a.test]
    routes: [{respond: {body: "site a"}}]
  - hosts: [b.test]
    routes: [{respond: {body: "site b"}}]
`

// TestECH: a Go client with the ECHConfigList `tlsgate ech config` prints
// reaches each site by its inner name, while the ClientHello on the wire
// (seen by a relay in the test) names only the public name; a client
// without ECH still works; after a rotation the previous config still
// connects, and after two the server's retry config does.
func TestECH(t *testing.T) {
	inst := startTLSGate(t, header+"ech: {public_name: ech.test, rotate: 5s}\n"+echSites, "--log-level", "debug")
	pool := inst.rootPool(t)
	list := echConfig(t, inst)
	relay := startHelloRelay(t, inst.HTTPS)

	for _, site := range []string{"a", "b"} {
		host := site + ".test"
		st, body := echGet(t, relay.addr, host, pool, list)
		if !st.ECHAccepted {
			t.Errorf("%s: ECH not accepted", host)
		}
		if want := "site " + site; body != want {
			t.Errorf("%s over ECH answered %q; want %q", host, body, want)
		}
		if names := st.PeerCertificates[0].DNSNames; !slices.Contains(names, host) {
			t.Errorf("%s over ECH got a certificate for %v", host, names)
		}
		if outer := relay.lastSNI(t); outer != "ech.test" {
			t.Errorf("outer SNI on the wire for %s = %q; want the public name ech.test", host, outer)
		}
	}
	if !inst.WaitLog("outer_server_name=ech.test", 5*time.Second) {
		t.Error("the server did not log the outer server name at debug level")
	}

	// HTTP/3: quic-go hands crypto/tls the same config, ECH included.
	h3 := h3Client(t, pool)
	h3.Transport.(*http3.Transport).TLSClientConfig.EncryptedClientHelloConfigList = list
	resp, err := h3.Get(inst.url("b.test", "/"))
	if err != nil {
		t.Fatalf("HTTP/3 with ECH: %v", err)
	}
	h3Body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Proto != "HTTP/3.0" || resp.TLS == nil || !resp.TLS.ECHAccepted || string(h3Body) != "site b" {
		t.Errorf("HTTP/3 with ECH: %s, ECH accepted %v, body %q; want HTTP/3.0, accepted, site b", resp.Proto, resp.TLS != nil && resp.TLS.ECHAccepted, h3Body)
	}

	// Without ECH: the real name is on the wire, and it still works.
	st, body := echGet(t, relay.addr, "a.test", pool, nil)
	if st.ECHAccepted || body != "site a" {
		t.Errorf("without ECH: accepted %v, body %q; want not accepted, site a", st.ECHAccepted, body)
	}
	if outer := relay.lastSNI(t); outer != "a.test" {
		t.Errorf("SNI without ECH = %q; want a.test", outer)
	}
	// The public name itself has a certificate (for clients falling back
	// to the outer handshake) and no content.
	if _, err := handshake(inst.HTTPS, &tls.Config{ServerName: "ech.test", RootCAs: pool}); err != nil {
		t.Errorf("handshake for the public name: %v", err)
	}

	// Rotation: the next config, then the previous one still accepted.
	// On a loaded machine the checks may come after a further rotation
	// (which drops the previous key, rightly): then the pair is taken
	// again from that rotation, until the deadline.
	// (A real failure fails every attempt, so the deadline catches it.)
	prev := list
	eventually(t, 40*time.Second, "the previous config accepted after one rotation", func() error {
		cur := waitECHChange(t, inst, prev) // in storage; the server follows within a re-read
		defer func() { prev = cur }()
		if err := echAccepted(inst.HTTPS, "b.test", pool, cur, "site b"); err != nil {
			return fmt.Errorf("the new config: %w", err)
		}
		if err := echAccepted(inst.HTTPS, "b.test", pool, prev, "site b"); err != nil {
			return fmt.Errorf("the previous config after one rotation: %w", err)
		}
		return nil
	})
	// Two rotations on, the first key is dropped: the server declines ECH
	// and hands out a config it accepts, with which Go's client retries.
	waitECHChange(t, inst, prev)
	eventually(t, 20*time.Second, "the retry config accepted", func() error {
		c, err := echDial(inst.HTTPS, "a.test", pool, list)
		if err == nil {
			c.Close() // the server has not re-read the set yet
		}
		var rej *tls.ECHRejectionError
		if !errors.As(err, &rej) {
			return fmt.Errorf("a config two rotations old: %v; want an ECHRejectionError with retry configs", err)
		}
		if string(rej.RetryConfigList) == string(list) {
			return errors.New("the retry config is the rejected one")
		}
		// Retried at once, as Go's client does; a rotation in between
		// could make it stale, hence the retry.
		return echAccepted(inst.HTTPS, "a.test", pool, rej.RetryConfigList, "site a")
	})
	if strings.Contains(inst.Stderr.String(), "private_key") {
		t.Error("the log mentions a private key")
	}
}

// TestECHConfigCommand: the command's errors and its --json form.
func TestECHConfigCommand(t *testing.T) {
	dir := t.TempDir()
	noECH := writeFile(t, dir, "plain.yaml", "data_dir: "+dir+"/data\n"+echSites)
	if res := tlsgate(t, dir, "ech", "config", "-c", noECH); res.Code != 2 || !strings.Contains(res.Stderr, "no ech block") {
		t.Errorf("ech config without an ech block: %s; want exit 2 naming the missing block", res)
	}
	withECH := writeFile(t, dir, "ech.yaml", "data_dir: "+dir+"/data\nech: {public_name: ech.test}\n"+echSites)
	if res := tlsgate(t, dir, "ech", "config", "-c", withECH); res.Code != 1 || !strings.Contains(res.Stderr, "no ECH keys yet") {
		t.Errorf("ech config before the first start: %s; want exit 1, no keys yet", res)
	}
	if res := tlsgate(t, dir, "ech", "config", "--help"); res.Code != 0 || !strings.Contains(res.Stdout, "HTTPS 1 . alpn=h2,h3 ech=") {
		t.Errorf("ech config --help: %s; want the DNS record example", res)
	}

	inst := startTLSGate(t, header+"ech: {public_name: ech.test}\n"+echSites)
	res := tlsgate(t, inst.Dir, "ech", "config", "--data-dir", inst.DataDir, "--json")
	for _, want := range []string{`"public_name": "ech.test"`, `"config_list": "`, `"accepted_config_ids": [`} {
		if res.Code != 0 || !strings.Contains(res.Stdout, want) {
			t.Errorf("ech config --json: %s; want %s", res, want)
		}
	}
	if strings.Contains(res.Stdout, "private") {
		t.Errorf("ech config --json prints private key material:\n%s", res.Stdout)
	}
	// Sealed at rest with encryption_key_file: the file is mode 0600 and
	// holds no plain key; --data-dir alone cannot open it, -c can.
	sealed := startTLSGate(t, header+"storage: {encryption_key_file: "+storageKey(t)+"}\nech: {public_name: ech.test}\n"+echSites)
	path := filepath.Join(sealed.DataDir, "ech", "keys.key")
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("%s has mode %o; want 600", path, perm)
	}
	if raw, _ := os.ReadFile(path); !strings.HasPrefix(string(raw), "tlsgate-sealed") {
		t.Errorf("%s is not sealed: %.40q", path, raw)
	}
	if res := tlsgate(t, sealed.Dir, "ech", "config", "--data-dir", sealed.DataDir); res.Code != 1 || !strings.Contains(res.Stderr, "pass -c FILE") {
		t.Errorf("ech config --data-dir on sealed keys: %s; want exit 1 saying to pass -c", res)
	}
	echConfig(t, sealed)
}

// echConfig runs `tlsgate ech config` for inst and decodes its output.
func echConfig(t *testing.T, inst *instance) []byte {
	t.Helper()
	res := tlsgate(t, inst.Dir, "ech", "config", "-c", inst.ConfigPath)
	if res.Code != 0 {
		t.Fatalf("tlsgate ech config: %s", res)
	}
	list, err := base64.StdEncoding.DecodeString(strings.TrimSpace(res.Stdout))
	if err != nil {
		t.Fatalf("tlsgate ech config printed %q: %v", res.Stdout, err)
	}
	return list
}

// waitECHChange polls `tlsgate ech config` until it prints a config list
// other than old (a rotation), and returns it.
func waitECHChange(t *testing.T, inst *instance, old []byte) []byte {
	t.Helper()
	var next []byte
	eventually(t, 20*time.Second, "ech config to change (rotation)", func() error {
		next = echConfig(t, inst)
		if string(next) == string(old) {
			return errors.New("unchanged")
		}
		return nil
	})
	return next
}

// echDial does a TLS 1.3 handshake with addr for host, with ECH when list
// is set.
func echDial(addr, host string, pool *x509.CertPool, list []byte) (*tls.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: host, RootCAs: pool, MinVersion: tls.VersionTLS13,
		EncryptedClientHelloConfigList: list, NextProtos: []string{"http/1.1"}})
}

// echGet sends GET / for host over a connection made with echDial and
// returns the connection state and body.
func echGet(t *testing.T, addr, host string, pool *x509.CertPool, list []byte) (tls.ConnectionState, string) {
	t.Helper()
	st, body, err := tryECHGet(addr, host, pool, list)
	if err != nil {
		t.Fatal(err)
	}
	return st, body
}

// tryECHGet is echGet returning its error, for use inside eventually.
func tryECHGet(addr, host string, pool *x509.CertPool, list []byte) (tls.ConnectionState, string, error) {
	tr := &http.Transport{DialTLSContext: func(context.Context, string, string) (net.Conn, error) {
		return echDial(addr, host, pool, list)
	}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + host + "/")
	if err != nil {
		return tls.ConnectionState{}, "", fmt.Errorf("GET https://%s/ (ECH %v): %w", host, list != nil, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return tls.ConnectionState{}, "", err
	}
	return *resp.TLS, string(body), nil
}

// echAccepted reports nil when a GET for host with list is accepted over
// ECH and answers want.
func echAccepted(addr, host string, pool *x509.CertPool, list []byte, want string) error {
	st, body, err := tryECHGet(addr, host, pool, list)
	switch {
	case err != nil:
		return err
	case !st.ECHAccepted:
		return fmt.Errorf("%s: ECH not accepted", host)
	case body != want:
		return fmt.Errorf("%s over ECH answered %q; want %q", host, body, want)
	}
	return nil
}

// helloRelay is a TCP relay in front of tlsgate that keeps the server name
// of each ClientHello passing through: what an observer on the wire sees.
type helloRelay struct {
	addr string
	mu   sync.Mutex
	snis []string
	errs []error
}

func startHelloRelay(t *testing.T, target string) *helloRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &helloRelay{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { r.serve(c, target) })
		}
	})
	return r
}

func (r *helloRelay) serve(c net.Conn, target string) {
	defer c.Close()
	up, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		r.record("", err)
		return
	}
	defer up.Close()
	// The first TLS record holds the ClientHello (Go's fits in one).
	var hdr [5]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		r.record("", err)
		return
	}
	rec := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := io.ReadFull(c, rec); err != nil {
		r.record("", err)
		return
	}
	r.record(helloSNI(hdr[0], rec))
	up.Write(append(hdr[:], rec...))
	done := make(chan struct{})
	go func() { io.Copy(c, up); c.Close(); close(done) }()
	io.Copy(up, c)
	up.Close()
	<-done
}

func (r *helloRelay) record(sni string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.snis = append(r.snis, sni)
	r.errs = append(r.errs, err)
}

// lastSNI is the server name of the last ClientHello relayed.
func (r *helloRelay) lastSNI(t *testing.T) string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.snis) == 0 {
		t.Fatal("the relay saw no connection")
	}
	if err := r.errs[len(r.errs)-1]; err != nil {
		t.Fatalf("relay: %v", err)
	}
	return r.snis[len(r.snis)-1]
}

// helloSNI parses a TLS handshake record holding a ClientHello (RFC 8446
// 4.1.2) and returns its server_name.
func helloSNI(recordType byte, rec []byte) (string, error) {
	if recordType != 22 {
		return "", fmt.Errorf("first record has type %d; want 22 (handshake)", recordType)
	}
	s := cryptobyte.String(rec)
	var (
		msgType           uint8
		body              cryptobyte.String
		version           uint16
		random, sessionID []byte
		suites, comp      cryptobyte.String
		exts              cryptobyte.String
	)
	if !s.ReadUint8(&msgType) || msgType != 1 || !s.ReadUint24LengthPrefixed(&body) ||
		!body.ReadUint16(&version) || !body.ReadBytes(&random, 32) ||
		!body.ReadUint8LengthPrefixed((*cryptobyte.String)(&sessionID)) ||
		!body.ReadUint16LengthPrefixed(&suites) || !body.ReadUint8LengthPrefixed(&comp) ||
		!body.ReadUint16LengthPrefixed(&exts) {
		return "", errors.New("not a ClientHello")
	}
	for !exts.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
			return "", errors.New("malformed extensions")
		}
		if typ != 0 { // server_name
			continue
		}
		var list, name cryptobyte.String
		var nameType uint8
		if !data.ReadUint16LengthPrefixed(&list) || !list.ReadUint8(&nameType) || !list.ReadUint16LengthPrefixed(&name) {
			return "", errors.New("malformed server_name")
		}
		return string(name), nil
	}
	return "", nil
}

// TestECHFleet: two instances on one etcd share the ECH keys (sealed at
// rest): both print the same config, both accept a client using it, and
// after one of them rotates both serve the new key.
func TestECHFleet(t *testing.T) {
	etcd := startEtcd(t)
	key := storageKey(t)
	conf := header + fleetStorage(etcd.Endpoint, "echfleet/", key) + "ech: {public_name: ech.test, rotate: 3s}\n" + echSites
	insts := []*instance{startMember(t, newGateConfig(t), conf), startMember(t, newGateConfig(t), conf)}
	pool := x509.NewCertPool()
	for _, inst := range insts {
		// Each member has its own local CA; certificates in etcd may come
		// from either.
		eventually(t, 20*time.Second, "local CA root", func() error {
			pem, err := os.ReadFile(inst.RootPath())
			if err == nil && !pool.AppendCertsFromPEM(pem) {
				err = errors.New("no certificate in " + inst.RootPath())
			}
			return err
		})
	}
	for _, inst := range insts {
		eventually(t, 20*time.Second, "a.test served", func() error {
			_, err := handshake(inst.HTTPS, &tls.Config{ServerName: "a.test", RootCAs: pool})
			return err
		})
	}
	// rotate is 3s: a rotation may fall between the two commands, or
	// before a member re-read the set, so the check is taken again until
	// both print one config and both accept it.
	var list []byte
	eventually(t, 20*time.Second, "both members print one ECH config and accept it", func() error {
		list = echConfig(t, insts[0])
		if other := echConfig(t, insts[1]); string(other) != string(list) {
			return errors.New("the two members print different ECH configs")
		}
		for i, inst := range insts {
			if err := echAccepted(inst.HTTPS, "a.test", pool, list, "site a"); err != nil {
				return fmt.Errorf("member %d: %w", i, err)
			}
		}
		return nil
	})
	stored := etcd.Etcdctl(t, "get", "--print-value-only", "echfleet/data/ech/keys.key")
	if !strings.HasPrefix(stored, "tlsgate-sealed") || strings.Contains(stored, "private_key") {
		t.Errorf("the ECH keys in etcd are not sealed: %.40q", stored)
	}

	// A rotation by whichever member gets there first reaches both: each
	// attempt takes the config in storage now, newer than list.
	waitECHChange(t, insts[0], list)
	eventually(t, 20*time.Second, "both members accept a rotated ECH config", func() error {
		next := echConfig(t, insts[0])
		if string(next) == string(list) {
			return errors.New("no rotation")
		}
		for i, inst := range insts {
			if err := echAccepted(inst.HTTPS, "b.test", pool, next, "site b"); err != nil {
				return fmt.Errorf("member %d: %w", i, err)
			}
		}
		return nil
	})
	// Each key was made once, by one member, under the storage lock.
	made := map[string]int{}
	for _, inst := range insts {
		for _, line := range strings.Split(inst.Stderr.String(), "\n") {
			if _, rest, ok := strings.Cut(line, "new key"); ok {
				_, when, _ := strings.Cut(rest, "next_rotation=")
				made[when]++
			}
		}
	}
	for when, n := range made {
		if n != 1 {
			t.Errorf("the key rotating at %s was made %d times", when, n)
		}
	}
	if len(made) < 2 {
		t.Errorf("%d keys made in the fleet; want the first one and at least one rotation", len(made))
	}
}

// TestECHPublish: with ech.publish and an rfc2136 acme.dns, tlsgate writes
// each site host's HTTPS record into BIND 9 and rewrites it on rotation;
// dig shows the record, and a client using the ech= value dig printed
// connects with ECH.
func TestECHPublish(t *testing.T) {
	b := startBIND(t)
	key := b.Keys["wild.test"]
	conf := header + fmt.Sprintf(`acme:
  dns: {provider: rfc2136, server: "%s", tsig_key_name: %s, tsig_secret: "%s"}
ech: {public_name: ech.wild.test, rotate: 4s, publish: true}
sites:
  - hosts: [a.wild.test]
    routes: [{respond: {body: "site a"}}]
  - hosts: [b.wild.test, "*.x.wild.test"]
    routes: [{respond: {body: "site b"}}]
`, b.Addr, key.Name, key.Secret)
	inst := startTLSGate(t, conf)
	pool := inst.rootPool(t)
	list := echConfig(t, inst)
	_, port, _ := net.SplitHostPort(b.Addr)
	for _, host := range []string{"a.wild.test", "b.wild.test"} {
		rec := waitHTTPSRecord(t, inst, port, host, nil)
		// The record's shape: ServiceMode for the name itself, h2 and h3,
		// the https port (not 443 here), the config list.
		for _, want := range []string{"1 . ", `alpn="h2,h3"`, fmt.Sprintf("port=%d", inst.HTTPSPort)} {
			if !strings.Contains(rec.line, want) {
				t.Errorf("HTTPS %s = %q; want it to contain %q", host, rec.line, want)
			}
		}
	}
	// What dig printed is what a client needs (taken again if a rotation
	// made it stale meanwhile).
	eventually(t, 20*time.Second, "a client using the published config", func() error {
		rec := waitHTTPSRecord(t, inst, port, "a.wild.test", nil)
		return echAccepted(inst.HTTPS, "a.wild.test", pool, rec.ech, "site a")
	})
	// A wildcard host has no record of its own.
	if res := runCmd(t, "", "dig", "@127.0.0.1", "-p", port, "+short", "HTTPS", "*.x.wild.test"); strings.TrimSpace(res.Stdout) != "" {
		t.Errorf("a wildcard host got an HTTPS record: %s", res.Stdout)
	}

	// A rotation rewrites the records.
	waitECHChange(t, inst, list)
	waitHTTPSRecord(t, inst, port, "b.wild.test", list)
	if !inst.WaitLog("HTTPS records published", 5*time.Second) {
		t.Error("no log line for the published records")
	}
}

type httpsRecord struct {
	line string // as dig +short prints it
	ech  []byte
}

// waitHTTPSRecord digs host's HTTPS record at BIND (127.0.0.1:port) until
// its ech= value is the config `tlsgate ech config` prints at that moment
// (rotations may pass meanwhile), and not old.
func waitHTTPSRecord(t *testing.T, inst *instance, port, host string, old []byte) httpsRecord {
	t.Helper()
	var rec httpsRecord
	eventually(t, 20*time.Second, "HTTPS record of "+host, func() error {
		res := runCmd(t, "", "dig", "@127.0.0.1", "-p", port, "+short", "HTTPS", host)
		if res.Code != 0 {
			return fmt.Errorf("dig: %s", res)
		}
		lines := strings.Split(strings.TrimSpace(res.Stdout), "\n")
		if len(lines) != 1 || lines[0] == "" {
			return fmt.Errorf("dig HTTPS %s printed %q; want one record", host, res.Stdout)
		}
		m := regexp.MustCompile(`ech="?([A-Za-z0-9+/=]+)"?`).FindStringSubmatch(lines[0])
		if m == nil {
			return fmt.Errorf("no ech= in %q", lines[0])
		}
		got, err := base64.StdEncoding.DecodeString(m[1])
		if err != nil {
			return err
		}
		if string(got) == string(old) {
			return fmt.Errorf("HTTPS %s still carries the config before the rotation", host)
		}
		if want := echConfig(t, inst); string(got) != string(want) {
			return fmt.Errorf("HTTPS %s carries another config than tlsgate ech config prints: %q", host, lines[0])
		}
		rec = httpsRecord{line: lines[0], ech: got}
		return nil
	})
	return rec
}
