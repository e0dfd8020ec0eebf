package truststore

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// testRoot makes a self-signed CA certificate and writes it to a temp file.
func testRoot(t *testing.T) Root {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "truststore test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	r := Root{Cert: cert, Path: filepath.Join(t.TempDir(), "root.crt")}
	if err := os.WriteFile(r.Path, rootPEM(r), 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

// recorder is an Options.Run that records commands and succeeds.
type recorder struct {
	mu   sync.Mutex
	cmds []string
}

func (rec *recorder) run(_ context.Context, name string, args ...string) ([]byte, error) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.cmds = append(rec.cmds, strings.TrimSpace(name+" "+strings.Join(args, " ")))
	return nil, nil
}

func TestParseStores(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"", AllStores(), false},
		{"nss", []string{"nss"}, false},
		{"System, NSS,nss", []string{"system", "nss"}, false},
		{"java,system", []string{"java", "system"}, false},
		{"firefox", nil, true}, // browsers are reached through nss
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseStores(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseStores(%q) error = %v; want error %v", tt.in, err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseStores(%q) = %v; want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestSystemStoreFiles(t *testing.T) {
	root := testRoot(t)
	dir := t.TempDir()
	rec := &recorder{}
	o := Options{IsRoot: true, System: SystemStore{Name: "debian", Dir: dir,
		Update: []string{"update-ca-certificates"}, UpdateAfterRemove: []string{"update-ca-certificates", "--fresh"}}, Run: rec.run}
	ctx := context.Background()
	path := filepath.Join(dir, root.FileName())

	res := Install(ctx, root, []string{StoreSystem}, o)
	if len(res) != 1 || !res[0].Changed || res[0].Err != nil {
		t.Fatalf("install: %+v", res)
	}
	data, err := os.ReadFile(path)
	if err != nil || string(data) != string(rootPEM(root)) {
		t.Fatalf("anchor file %s: %v\n%s", path, err, data)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("anchor file mode %v; want 0644 (every user's clients read it)", fi.Mode().Perm())
	}
	if res := Install(ctx, root, []string{StoreSystem}, o); res[0].Changed || !strings.Contains(res[0].Detail, "already present") {
		t.Errorf("second install: %+v; want already present, unchanged", res[0])
	}
	if res := Uninstall(ctx, root, []string{StoreSystem}, o); !res[0].Changed || res[0].Err != nil {
		t.Fatalf("uninstall: %+v", res[0])
	}
	if fileExists(path) {
		t.Errorf("%s still there after uninstall", path)
	}
	if res := Uninstall(ctx, root, []string{StoreSystem}, o); res[0].Changed || !strings.Contains(res[0].Detail, "not present") {
		t.Errorf("second uninstall: %+v; want not present", res[0])
	}
	want := []string{"update-ca-certificates", "update-ca-certificates --fresh"}
	if !reflect.DeepEqual(rec.cmds, want) {
		t.Errorf("commands run: %q; want %q (once per change)", rec.cmds, want)
	}
}

func TestSystemStoreSkipped(t *testing.T) {
	root := testRoot(t)
	dir := t.TempDir()
	tests := []struct {
		name      string
		o         Options
		needsRoot bool
	}{
		{"not root", Options{System: SystemStore{Dir: dir, Update: []string{"false"}}}, true},
		{"no system store", Options{IsRoot: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			tt.o.Run = rec.run
			res := Install(context.Background(), root, []string{StoreSystem}, tt.o)
			if len(res) != 1 || !res[0].Skipped || res[0].NeedsRoot != tt.needsRoot || res[0].Changed {
				t.Fatalf("got %+v; want skipped, NeedsRoot %v", res, tt.needsRoot)
			}
			if len(rec.cmds) != 0 {
				t.Errorf("ran %q while skipping", rec.cmds)
			}
			if !strings.Contains(res[0].String(), "skipped") {
				t.Errorf("String() = %q; want it to say skipped", res[0].String())
			}
		})
	}
}

// needTool finds a command the test runs; under -short a missing one skips,
// in the full run it fails and says how to install it.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if testing.Short() {
			t.Skipf("%s not installed (apt-get install -y %s)", name, pkg)
		}
		t.Fatalf("%s not installed: apt-get install -y %s (or run ./scripts/test.sh)", name, pkg)
	}
	return p
}

func TestNSS(t *testing.T) {
	certutil := needTool(t, "certutil", "libnss3-tools")
	root := testRoot(t)
	home := t.TempDir()
	chromium := filepath.Join(home, ".pki", "nssdb")
	firefox := filepath.Join(home, ".mozilla", "firefox", "abcd.default-release")
	for _, d := range []string{chromium, firefox} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(certutil, "-N", "--empty-password", "-d", "sql:"+d).CombinedOutput(); err != nil {
			t.Fatalf("certutil -N: %v\n%s", err, out)
		}
	}
	// A profile directory without a database is left alone.
	if err := os.MkdirAll(filepath.Join(home, ".mozilla", "firefox", "empty"), 0o700); err != nil {
		t.Fatal(err)
	}
	o := Options{Home: home}
	ctx := context.Background()
	listed := func(d string) bool {
		out, err := exec.Command(certutil, "-L", "-d", "sql:"+d).CombinedOutput()
		if err != nil {
			t.Fatalf("certutil -L: %v\n%s", err, out)
		}
		return strings.Contains(string(out), root.Nickname())
	}

	res := Install(ctx, root, []string{StoreNSS}, o)
	if len(res) != 2 {
		t.Fatalf("install touched %d databases; want 2: %+v", len(res), res)
	}
	for _, r := range res {
		if !r.Changed || r.Err != nil {
			t.Errorf("install: %s", r)
		}
	}
	for _, d := range []string{chromium, firefox} {
		if !listed(d) {
			t.Errorf("%s does not list %q after install", d, root.Nickname())
		}
	}
	if res := Install(ctx, root, []string{StoreNSS}, o); res[0].Changed {
		t.Errorf("second install changed %s", res[0])
	}
	for _, r := range Uninstall(ctx, root, []string{StoreNSS}, o) {
		if !r.Changed || r.Err != nil {
			t.Errorf("uninstall: %s", r)
		}
	}
	for _, d := range []string{chromium, firefox} {
		if listed(d) {
			t.Errorf("%s still lists %q after uninstall", d, root.Nickname())
		}
	}
}

func TestNSSSkipped(t *testing.T) {
	root := testRoot(t)
	home := t.TempDir()
	res := Install(context.Background(), root, []string{StoreNSS}, Options{Home: home})
	if len(res) != 1 || !res[0].Skipped || !strings.Contains(res[0].Detail, "no NSS database") {
		t.Errorf("empty home: %+v; want skipped, no NSS database", res)
	}

	db := filepath.Join(home, ".pki", "nssdb")
	if err := os.MkdirAll(db, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(db, "cert9.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	noCertutil := func(string) (string, error) { return "", exec.ErrNotFound }
	res = Install(context.Background(), root, []string{StoreNSS}, Options{Home: home, LookPath: noCertutil})
	if len(res) != 1 || !res[0].Skipped || !strings.Contains(res[0].Detail, "libnss3-tools") {
		t.Errorf("no certutil: %+v; want skipped with an install hint", res)
	}
}

func TestJava(t *testing.T) {
	keytool, err := exec.LookPath("keytool")
	if err != nil {
		t.Skip("keytool not installed; the Java store is optional")
	}
	root := testRoot(t)
	other := testRoot(t)
	ks := filepath.Join(t.TempDir(), "cacerts")
	// Make a keystore holding another root, as a JDK's cacerts would.
	if out, err := exec.Command(keytool, "-importcert", "-noprompt", "-keystore", ks, "-storepass", "changeit", "-alias", "other", "-file", other.Path).CombinedOutput(); err != nil {
		t.Fatalf("keytool: %v\n%s", err, out)
	}
	o := Options{Java: JavaStore{Keytool: keytool, Keystore: ks}}
	ctx := context.Background()
	if r := Install(ctx, root, []string{StoreJava}, o)[0]; !r.Changed || r.Err != nil {
		t.Fatalf("install: %s", r)
	}
	out, _ := exec.Command(keytool, "-list", "-keystore", ks, "-storepass", "changeit").CombinedOutput()
	if !strings.Contains(strings.ToLower(string(out)), strings.ToLower(root.Nickname())) {
		t.Errorf("keystore does not list %q:\n%s", root.Nickname(), out)
	}
	if r := Uninstall(ctx, root, []string{StoreJava}, o)[0]; !r.Changed || r.Err != nil {
		t.Fatalf("uninstall: %s", r)
	}
	if r := Uninstall(ctx, root, []string{StoreJava}, o)[0]; r.Changed || !strings.Contains(r.Detail, "not present") {
		t.Errorf("second uninstall: %s; want not present", r)
	}
}

func TestDefaultJavaStore(t *testing.T) {
	home := t.TempDir()
	for _, f := range []string{"bin/keytool", "lib/security/cacerts"} {
		p := filepath.Join(home, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	got := DefaultJavaStore(home, nil)
	want := JavaStore{Keytool: filepath.Join(home, "bin", "keytool"), Keystore: filepath.Join(home, "lib", "security", "cacerts")}
	if got != want {
		t.Errorf("JAVA_HOME layout: %+v; want %+v", got, want)
	}
	byPath := DefaultJavaStore("", func(string) (string, error) { return want.Keytool, nil })
	if byPath != want {
		t.Errorf("keytool on PATH: %+v; want %+v", byPath, want)
	}
	if got := DefaultJavaStore("", nil); got != (JavaStore{}) {
		t.Errorf("nothing found: %+v; want zero", got)
	}
	r := Install(context.Background(), testRoot(t), []string{StoreJava}, Options{})[0]
	if !r.Skipped {
		t.Errorf("no Java: %s; want skipped", r)
	}
}

func TestBundle(t *testing.T) {
	dir := t.TempDir()
	sys := filepath.Join(dir, "system.pem")
	if err := os.WriteFile(sys, []byte("SYSTEM"), 0o644); err != nil {
		t.Fatal(err)
	}
	ours := []byte("OURS\n")
	got, from, err := Bundle([]string{filepath.Join(dir, "missing.pem"), sys}, ours)
	if err != nil || from != sys || string(got) != "SYSTEM\nOURS\n" {
		t.Errorf("Bundle = %q, %q, %v; want system roots then ours", got, from, err)
	}
	got, from, err = Bundle(nil, ours)
	if err != nil || from != "" || string(got) != "OURS\n" {
		t.Errorf("Bundle without system roots = %q, %q, %v", got, from, err)
	}
}
