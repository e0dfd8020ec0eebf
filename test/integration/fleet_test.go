package integration

import (
	"crypto/x509"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/storage/storagetest"
	"github.com/tlsgate/tlsgate/test/testenv"
)

// fleetSite is the one ACME name a test fleet serves.
const fleetSite = `sites:
  - hosts: [fleet.example.com]
    routes: [{path: /, respond: {body: "fleet"}}]
`

// TestFleet runs several instances with one config on one etcd. Pebble can
// reach only the first member (its challenge port points there), while the
// second member is made to hold the issuance lock: so the challenge is
// started by one instance and answered by another, through storage.
func TestFleet(t *testing.T) {
	for _, tc := range []struct {
		members   int
		challenge string
		outage    bool // also stop etcd and check the members keep serving
	}{
		{2, "http-01", true},
		{3, "http-01", false},
		{2, "tls-alpn-01", false},
	} {
		t.Run(fmt.Sprintf("%d/%s", tc.members, tc.challenge), func(t *testing.T) {
			t.Parallel()
			testFleet(t, tc.members, tc.challenge, tc.outage)
		})
	}
}

func testFleet(t *testing.T, members int, challenge string, outage bool) {
	etcd := startEtcd(t)
	configs := make([]gateConfig, members)
	for i := range configs {
		configs[i] = newGateConfig(t)
	}
	dead := testenv.FreePort(t)
	opts := pebbleOptions{HTTPPort: portOf(t, configs[0].HTTP), TLSPort: dead}
	if challenge == "tls-alpn-01" {
		opts = pebbleOptions{HTTPPort: dead, TLSPort: portOf(t, configs[0].HTTPS)}
	}
	p := startPebble(t, opts)
	conf := header + p.acmeConfig(challenge) + fleetStorage(etcd.Endpoint, "fleet/", storageKey(t)) + fleetSite

	// Member 1 must be the one that starts the order while member 0 is
	// the one Pebble reaches. The test holds the issuance lock while all
	// members start and queue behind it, then freezes every member but 1
	// and lets go: only member 1 can take the lock. The others resume once
	// it has; Pebble's connections to a frozen member 0 wait in its
	// listen backlog meanwhile.
	release := holdLock(t, etcd, "fleet/", "issue_cert_fleet.example.com")
	insts := make([]*instance, members)
	for i := range insts {
		insts[i] = startMember(t, configs[i], conf)
		insts[i].mustLog(t, "acquiring lock", 20*time.Second)
	}
	var resumes []func()
	for i, inst := range insts {
		if i != 1 {
			resumes = append(resumes, pause(t, inst.Proc))
		}
	}
	release()
	insts[1].mustLog(t, "lock acquired", 20*time.Second)
	for _, resume := range resumes {
		resume()
	}

	pool := p.roots(t)
	fleetServesOneCertificate(t, insts, pool, 30*time.Second)
	if n := p.orders(); n != 1 {
		t.Errorf("Pebble took %d orders; want 1 for the whole fleet", n)
	}
	if !strings.Contains(insts[0].Stderr.String(), "distributed=true") {
		t.Errorf("member 0 did not answer the %s challenge member 1 started (no distributed=true in its log)", challenge)
	}
	out := etcd.Etcdctl(t, "get", "--prefix", "fleet/")
	if strings.Contains(out, "PRIVATE KEY") {
		t.Error("etcd holds a private key in plain text")
	}
	if !strings.Contains(out, "tlsgate-sealed") {
		t.Error("etcd holds no sealed value: were the keys stored at all?")
	}
	for _, inst := range insts {
		assertNoPlainKeys(t, inst.DataDir)
	}
	if outage {
		testFleetOutage(t, etcd, insts, pool)
	}
}

// testFleetOutage stops etcd: members keep serving the certificate they
// have, log the outage once, and log once that etcd is back.
func testFleetOutage(t *testing.T, etcd *storagetest.EtcdServer, insts []*instance, pool *x509.CertPool) {
	t.Helper()
	etcd.Stop()
	for i, inst := range insts {
		inst.mustLog(t, "etcd unreachable", 20*time.Second)
		if _, err := served(inst, "fleet.example.com", pool); err != nil {
			t.Errorf("member %d stopped serving while etcd is down: %v", i, err)
		}
	}
	etcd.Start()
	for i, inst := range insts {
		inst.mustLog(t, "etcd reachable again", 20*time.Second)
		log := inst.Stderr.String()
		if n := strings.Count(log, "etcd unreachable"); n != 1 {
			t.Errorf("member %d logged the outage %d times; want once", i, n)
		}
		if n := strings.Count(log, "etcd reachable again"); n != 1 {
			t.Errorf("member %d logged the recovery %d times; want once", i, n)
		}
	}
}

// TestFleetHolderKilledMidIssuance kills (SIGKILL) the member that holds
// the issuance lock: its lock dies with its etcd lease, and the survivor,
// queued behind it, obtains the certificate.
func TestFleetHolderKilledMidIssuance(t *testing.T) {
	t.Parallel()
	etcd := startEtcd(t)
	survivorConf, holderConf := newGateConfig(t), newGateConfig(t)
	p := startPebble(t, pebbleOptions{HTTPPort: portOf(t, survivorConf.HTTP), TLSPort: testenv.FreePort(t)})
	conf := header + p.acmeConfig("http-01") + fleetStorage(etcd.Endpoint, "fleet/", storageKey(t)) + fleetSite

	// As in TestFleet, the test hands the lock to the holder. The survivor
	// stays frozen, so the holder's challenge cannot be answered: the
	// holder is stuck mid-issuance, holding the lock, when it is killed.
	release := holdLock(t, etcd, "fleet/", "issue_cert_fleet.example.com")
	survivor := startMember(t, survivorConf, conf)
	survivor.mustLog(t, "acquiring lock", 20*time.Second)
	holder := startMember(t, holderConf, conf)
	holder.mustLog(t, "acquiring lock", 20*time.Second)
	resume := pause(t, survivor.Proc)
	release()
	holder.mustLog(t, "challenge accepted", 20*time.Second)
	holder.Kill()
	resume()

	pool := p.roots(t)
	// The dead holder's lock lasts up to its lease TTL (10s); then the
	// survivor gets it and obtains the certificate.
	eventually(t, 45*time.Second, "the survivor serves a Pebble certificate", func() error {
		_, err := served(survivor, "fleet.example.com", pool)
		return err
	})
	if strings.Contains(survivor.Stderr.String(), "certificate already exists in storage") {
		t.Error("the survivor found a certificate in storage: the holder was not killed mid-issuance")
	}
	if !strings.Contains(survivor.Stderr.String(), "obtaining certificate") {
		t.Error("the survivor did not obtain the certificate itself")
	}
}

// TestStorageEncryptedFiles checks encryption at rest with file storage: no
// private key is in plain text under data_dir, and an instance started
// without the key says clearly what is missing.
func TestStorageEncryptedFiles(t *testing.T) {
	t.Parallel()
	key := storageKey(t)
	block := func(p *pebbleCA) string {
		return p.acmeConfig("http-01") + "storage: {encryption_key_file: " + key + "}\n"
	}
	p, inst := startACME(t, pebbleOptions{}, block, fleetSite)
	if _, err := served(inst, "fleet.example.com", p.roots(t)); err != nil {
		t.Fatal(err)
	}
	assertNoPlainKeys(t, inst.DataDir)
	if code := inst.Stop(t); code != 0 {
		t.Fatalf("stop: exit %d", code)
	}

	// The same data without the key: the certificate's key cannot be read,
	// and the log says how to fix that.
	noKey := inst.gateConfig
	noKey.Dir = t.TempDir()
	again := &instance{gateConfig: noKey, ConfigPath: noKey.Dir + "/tlsgate.yaml"}
	again.writeConfig(t, header+p.acmeConfig("http-01")+fleetSite)
	again.Proc = startProc(t, noKey.Dir, "run", "-c", again.ConfigPath)
	again.mustLog(t, "set storage.encryption_key_file to the key it was written with", 20*time.Second)
}

// fleetServesOneCertificate waits until every member serves a Pebble
// certificate for fleet.example.com, and fails unless all serve the same
// one: the fleet shares one certificate through storage.
func fleetServesOneCertificate(t *testing.T, insts []*instance, pool *x509.CertPool, wait time.Duration) {
	t.Helper()
	var serial string
	for i, inst := range insts {
		eventually(t, wait, fmt.Sprintf("member %d serves a Pebble certificate", i), func() error {
			leaf, err := served(inst, "fleet.example.com", pool)
			if err != nil {
				return err
			}
			if s := leaf.SerialNumber.Text(16); serial == "" {
				serial = s
			} else if s != serial {
				t.Fatalf("member %d serves serial %s, an earlier member %s: one certificate must be shared", i, s, serial)
			}
			return nil
		})
	}
}
