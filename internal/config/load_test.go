package config

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// loadFull loads testdata/full.yaml (the docs/INTERFACE.md example) from a
// temporary directory holding the files it names.
func loadFull(t *testing.T) *Config {
	t.Helper()
	text, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := writeConfig(t, string(text), "acme-ca.pem", "clients-ca.pem", "storage.key")
	c, err := Load(path, LoadOptions{LookupEnv: envOf(map[string]string{"TSIG_SECRET": "c2VjcmV0"})})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func TestLoadFull(t *testing.T) {
	c := loadFull(t)
	dir := filepath.Dir(c.File)
	s := c.Sites[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"data_dir", c.DataDir, filepath.Join(dir, "data")},
		{"https", *c.Listen.HTTPS, ":443"},
		{"admin", *c.Admin, "127.0.0.1:2019"},
		{"max_header_bytes", c.Limits.MaxHeaderBytes, ByteSize(1 << 20)},
		{"idle_timeout", c.Limits.IdleTimeout, Duration(2 * time.Minute)},
		{"tsig_secret", c.ACME.DNS.TSIGSecret, "c2VjcmV0"},
		{"trusted_roots", c.ACME.TrustedRoots, []string{filepath.Join(dir, "acme-ca.pem")}},
		{"eab", *c.ACME.EAB, EAB{KeyID: "...", MACKey: "..."}},
		{"hosts", s.Hosts, []string{"app.example.com", "www.app.example.com"}},
		{"tls", *s.TLS, TLS{Mode: TLSACME}},
		{"site dns command", s.DNS.Command, filepath.Join(dir, "set-txt.sh")},
		{"hsts", s.HSTS.MaxAge, Duration(365 * 24 * time.Hour)},
		{"credentials", s.CORS.AllowCredentials, true},
		{"upstreams", s.Routes[0].To, []string{"http://127.0.0.1:8000", "http://127.0.0.1:8001", "unix:/run/app.sock"}},
		{"static", *s.Routes[1].Static, Static{Root: filepath.Join(dir, "public")}},
		{"respond", *s.Routes[2].Respond, Respond{Status: 200, Body: "ok"}},
	}
	for _, tt := range checks {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %#v; want %#v", tt.name, tt.got, tt.want)
		}
	}
}

func TestPosition(t *testing.T) {
	c := loadFull(t)
	tests := []struct {
		path       string
		key, value string // "LINE:COL", "" for the zero Pos
	}{
		{"data_dir", "3:1", "3:11"},
		{"acme.dns.tsig_secret", "23:5", "23:18"},
		{"sites[0]", "37:5", "37:5"},
		{"sites[0].hosts[1]", "37:30", "37:30"},
		{"sites[0].tls", "38:5", "38:10"},
		{"sites[0].routes[1].static", "57:9", "57:17"},
		{"sites[0].routes[2].respond.status", "59:19", "59:27"},
		{"sites[0].tls.cert_file", "", ""}, // not written
		{"nope", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			for _, got := range []struct {
				pos  Pos
				want string
			}{{c.Position(tt.path), tt.key}, {c.ValuePosition(tt.path), tt.value}} {
				want := ""
				if got.want != "" {
					want = c.File + ":" + got.want
				}
				if got.pos.String() != want {
					t.Errorf("got %q; want %q", got.pos, want)
				}
			}
		})
	}
	// Copies with defaults answer the same.
	if got, want := c.WithDefaults().Position("sites[0].tls"), c.Position("sites[0].tls"); got != want {
		t.Errorf("WithDefaults().Position = %v; want %v", got, want)
	}
}

func TestPosString(t *testing.T) {
	tests := []struct {
		pos  Pos
		want string
	}{
		{Pos{File: "a.yaml", Line: 12, Col: 7}, "a.yaml:12:7"},
		{Pos{File: "a.yaml", Line: 12}, "a.yaml:12"},
		{Pos{File: "a.yaml"}, "a.yaml"},
		{Pos{Line: 3, Col: 1}, "3:1"},
		{Pos{}, ""},
	}
	for _, tt := range tests {
		if got := tt.pos.String(); got != tt.want {
			t.Errorf("%#v.String() = %q; want %q", tt.pos, got, tt.want)
		}
	}
}

// The error format is the contract with users and the CLI.
func TestErrorFormat(t *testing.T) {
	text := "sites:\n  - hosts: [app.test]\n    routes:\n      - path: /\n        to:\n          - http://a:1\n          - htp://x\n"
	_, err := Parse("tlsgate.yaml", []byte(text), LoadOptions{LookupEnv: noEnv})
	want := `tlsgate.yaml:7:13: sites[0].routes[0].to[1]: "htp://x" is not an upstream URL; use http://HOST:PORT, https://HOST:PORT, h2c://HOST:PORT or unix:/path/to.sock`
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
	var e *Error
	if !errors.As(err, &e) || e.Pos != (Pos{File: "tlsgate.yaml", Line: 7, Col: 13}) {
		t.Fatalf("errors.As: %#v", e)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []errorWant
	}{
		{"unknown nested key", blockRoute("/", "        to: [\"http://a:1\"]\n        timout: 5s\n"),
			[]errorWant{{"sites[0].routes[0].timout", "6:9", `unknown key "timout"; did you mean "timeout"?`}}},
		{"unknown key in tls mapping", siteWith("    tls: {cert_fil: c.pem}\n"),
			[]errorWant{{"sites[0].tls.cert_fil", "3:11", `did you mean "cert_file"?`}}},
		{"unknown key far from any", "zzzzzz: 1\n" + baseSite,
			[]errorWant{{"zzzzzz", "1:1", "keys here are data_dir, listen, admin"}}},
		{"scalar for a list", "sites:\n  - hosts: app.test\n    routes: [{respond: {}}]\n",
			[]errorWant{{"sites[0].hosts", "2:12", "want a list, got \"app.test\"; write [app.test]"}}},
		{"list for a string", "email: [a]\n" + baseSite, []errorWant{{"email", "1:8", "want a single value, got a list"}}},
		{"mapping for a list", "sites: {a: 1}\n", []errorWant{{"sites", "1:8", "want a list, got a mapping"}}},
		{"list for a mapping", "limits: [1]\n" + baseSite, []errorWant{{"limits", "1:9", "want a mapping"}}},
		{"tls as a list", siteWith("    tls: [a]\n"), []errorWant{{"sites[0].tls", "3:10", "want acme, local, adhoc, on_demand or a mapping"}}},
		{"bool", routeSite("{static: ., strip_prefix: yes}"), []errorWant{{"sites[0].routes[0].strip_prefix", "3:40", `"yes" is not a boolean; write true or false`}}},
		{"int", routeSite("{respond: {status: ok}}"), []errorWant{{"sites[0].routes[0].respond.status", "3:33", "not a whole number"}}},
		{"duration without unit", "shutdown_timeout: 30\n" + baseSite, []errorWant{{"shutdown_timeout", "1:19", `"30" has no unit; write e.g. 30s`}}},
		{"bad duration", "shutdown_timeout: 3 weeks\n" + baseSite, []errorWant{{"shutdown_timeout", "1:19", "is not a duration"}}},
		{"bad size", "limits: {max_header_bytes: 1XB}\n" + baseSite, []errorWant{{"limits.max_header_bytes", "1:28", "is not a size"}}},
		{"duplicate key", "email: a@b.test\nemail: c@d.test\n" + baseSite, []errorWant{{"email", "2:1", "already set at line 1"}}},
		{"unset variable", "email: ${NOPE}\n" + baseSite, []errorWant{{"email", "1:8", "${NOPE} is not set; set NOPE in the environment or the env file, or write ${NOPE:-default}"}}},
		{"self alias", "a: &x [*x]\n" + baseSite, []errorWant{{"a", "1:1", "unknown key"}}},
		// Decoding goes on after an error, so both are reported; validation
		// too, except about the mapping that held the bad key.
		{"decode and validation", "email: [a]\nshutdown_timeout: -1s\n" + baseSite,
			[]errorWant{{"email", "1:8", "want a single value"}, {"shutdown_timeout", "2:19", "negative"}}},
		{"several", "email: [a]\nsites:\n  - hostz: [a]\n",
			[]errorWant{{"email", "1:8", "want a single value"}, {"sites[0].hostz", "3:5", `did you mean "hosts"?`}}},
		{"yaml syntax", "sites:\n  - hosts: [a.test]\n   routes: x\n", []errorWant{{"", "3:1", "YAML syntax: did not find expected '-' indicator"}}},
		{"tab indent", "sites:\n\t- hosts: [a.test]\n", []errorWant{{"", "2:1", "indent with spaces, not tabs"}}},
		{"two documents", baseSite + "---\na: 1\n", []errorWant{{"", "4:1", "a second YAML document"}}},
		{"not a mapping", "- a\n", []errorWant{{"", "1:1", "want a mapping"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, tt.yaml), LoadOptions{LookupEnv: noEnv})
			checkErrors(t, err, tt.want...)
		})
	}
}

// Top-level x- keys are ignored (as in docker compose) so they can hold
// anchors; merge keys then reuse them, and keys written next to << win.
func TestMergeKeys(t *testing.T) {
	c := mustLoad(t, `x-cors: &cors {allow_origins: ["https://a.test"], max_age: 1m}
sites:
  - hosts: [a.test]
    cors: {<<: *cors, max_age: 2m}
    routes: [{respond: {}}]
`)
	got := c.Sites[0].CORS
	if !reflect.DeepEqual(got.AllowOrigins, []string{"https://a.test"}) || got.MaxAge != Duration(2*time.Minute) {
		t.Errorf("cors = %+v; want the anchor's origins and max_age 2m", got)
	}
	if got, want := c.ValuePosition("sites[0].cors.allow_origins"), (Pos{c.File, 1, 31}); got != want {
		t.Errorf("merged key position = %v; want %v (where the anchor wrote it)", got, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), LoadOptions{})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("Load = %v; want a not-exist error naming the file", err)
	}
}

func TestEmptyFile(t *testing.T) {
	_, err := Load(writeConfig(t, "# nothing yet\n"), LoadOptions{LookupEnv: noEnv})
	checkErrors(t, err, errorWant{"sites", "1:1", "no sites"})
}

// Relative paths are taken from the config file's directory, whatever the
// working directory is.
func TestRelativePaths(t *testing.T) {
	text := `data_dir: data
admin: unix:run/admin.sock
acme:
  trusted_roots: [roots/acme.pem]
  dns: {provider: exec, command: ./hooks/dns.sh}
storage:
  backend: etcd
  encryption_key_file: ../outside.key
  etcd: {endpoints: ["127.0.0.1:2379"], cert_file: e.pem, key_file: /abs/e.key, ca_file: e-ca.pem}
sites:
  - hosts: [a.test]
    tls: {cert_file: tls/c.pem, key_file: tls/k.pem, key_passphrase_file: tls/pass}
    client_auth: {ca_files: [clients.pem]}
    dns: {provider: exec, command: dns-hook}
    routes:
      - path: /s/
        static: {root: public}
      - to: ["unix:app.sock", "unix:/run/abs.sock", "http://127.0.0.1:1"]
`
	dir := t.TempDir()
	sub := filepath.Join(dir, "etc")
	for _, f := range []string{"roots/acme.pem", "../outside.key", "e.pem", "e-ca.pem", "tls/c.pem", "tls/k.pem", "tls/pass", "clients.pem"} {
		p := filepath.Join(sub, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(sub, "tlsgate.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path, LoadOptions{LookupEnv: noEnv})
	// /abs/e.key stays absolute and does not exist; that is the only error.
	if es := Errors(err); len(es) != 1 || es[0].Path != "storage.etcd.key_file" {
		t.Fatalf("Load = %v; want only the missing /abs/e.key", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "abs"), 0o755); err != nil {
		t.Fatal(err)
	}
	text = strings.Replace(text, "/abs/e.key", filepath.Join(dir, "abs/e.key"), 1)
	if err := os.WriteFile(filepath.Join(dir, "abs/e.key"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// Load from another working directory, through a relative path.
	t.Chdir(dir)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load("etc/tlsgate.yaml", LoadOptions{LookupEnv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	s := c.Sites[0]
	in := func(rel string) string { return filepath.Join(dir, rel) }
	checks := []struct{ name, got, want string }{
		{"data_dir", c.DataDir, in("etc/data")},
		{"admin", *c.Admin, "unix:" + in("etc/run/admin.sock")},
		{"trusted_roots", c.ACME.TrustedRoots[0], in("etc/roots/acme.pem")},
		{"acme dns command", c.ACME.DNS.Command, in("etc/hooks/dns.sh")},
		{"encryption_key_file", c.Storage.EncryptionKeyFile, in("outside.key")},
		{"etcd cert_file", c.Storage.Etcd.CertFile, in("etc/e.pem")},
		{"etcd key_file", c.Storage.Etcd.KeyFile, in("abs/e.key")},
		{"etcd ca_file", c.Storage.Etcd.CAFile, in("etc/e-ca.pem")},
		{"cert_file", s.TLS.CertFile, in("etc/tls/c.pem")},
		{"key_file", s.TLS.KeyFile, in("etc/tls/k.pem")},
		{"key_passphrase_file", s.TLS.KeyPassphraseFile, in("etc/tls/pass")},
		{"ca_files", s.ClientAuth.CAFiles[0], in("etc/clients.pem")},
		{"bare command", s.DNS.Command, "dns-hook"},
		{"static", s.Routes[0].Static.Root, in("etc/public")},
		{"unix upstream", s.Routes[1].To[0], "unix:" + in("etc/app.sock")},
		{"absolute unix upstream", s.Routes[1].To[1], "unix:/run/abs.sock"},
		{"http upstream", s.Routes[1].To[2], "http://127.0.0.1:1"},
	}
	for _, tt := range checks {
		if tt.got != tt.want {
			t.Errorf("%s = %q; want %q", tt.name, tt.got, tt.want)
		}
	}
}

// testdata/bad.yaml has many mistakes; the whole report is a golden file,
// so a change in wording shows up in review. Rewrite with -update.
func TestGoldenErrors(t *testing.T) {
	_, err := Load("testdata/bad.yaml", LoadOptions{LookupEnv: noEnv})
	if err == nil {
		t.Fatal("Load: no error")
	}
	abs, _ := filepath.Abs("testdata")
	got := strings.ReplaceAll(err.Error(), abs, "TESTDATA") + "\n"
	const golden = "testdata/bad.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("errors differ from %s (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", golden, got, want)
	}
}
