package config

import (
	"reflect"
	"testing"
	"time"
)

func TestWithDefaults(t *testing.T) {
	c := mustLoad(t, `acme: {dns: {provider: rfc2136, server: 127.0.0.1}}
storage: {backend: etcd, etcd: {endpoints: ["127.0.0.1:2379"]}}
sites:
  - hosts: [app.example.com]
    client_auth: {local_ca: true}
    cors: {allow_origins: ["*"]}
    routes:
      - to: ["http://127.0.0.1:8000"]
        cors: {allow_origins: ["*"], allow_methods: [PUT]}
      - path: /s/
        static: .
      - path: /h
        respond: {body: ok}
  - hosts: [localhost, 127.0.0.1, api.test]
    tls: {cert_file: tlsgate.yaml, key_file: tlsgate.yaml}
    routes: [{respond: {}}]
`)
	before := clone(c)
	env := DefaultsEnv{LookupEnv: envOf(map[string]string{"HOME": "/home/u"}), IsRoot: func() bool { return false }}
	d := c.WithDefaultsFrom(env)
	if !reflect.DeepEqual(c, before) {
		t.Fatal("WithDefaultsFrom changed its receiver")
	}
	s0, s1 := d.Sites[0], d.Sites[1]
	checks := []struct {
		name      string
		got, want any
	}{
		{"data_dir", d.DataDir, "/home/u/.local/share/tlsgate"},
		{"listen.http", *d.Listen.HTTP, ":80"},
		{"listen.https", *d.Listen.HTTPS, ":443"},
		{"listen.http3", *d.Listen.HTTP3, ":443"},
		{"admin", *d.Admin, "127.0.0.1:2019"},
		{"shutdown_timeout", d.ShutdownTimeout, Duration(30 * time.Second)},
		{"max_header_bytes", d.Limits.MaxHeaderBytes, ByteSize(1 << 20)},
		{"read_header_timeout", d.Limits.ReadHeaderTimeout, Duration(10 * time.Second)},
		{"idle_timeout", d.Limits.IdleTimeout, Duration(2 * time.Minute)},
		{"lean_h1", *d.LeanH1, true},
		{"site cors allow_methods", d.Sites[0].CORS.AllowMethods, []string{"GET", "HEAD", "POST"}},
		{"route cors allow_methods kept", d.Sites[0].Routes[0].CORS.AllowMethods, []string{"PUT"}},
		{"acme.directory", d.ACME.Directory, "letsencrypt"},
		{"acme.challenges", d.ACME.Challenges, []string{"http-01", "tls-alpn-01"}},
		{"tsig_algorithm", d.ACME.DNS.TSIGAlgorithm, "hmac-sha256"},
		{"propagation_timeout", d.ACME.DNS.PropagationTimeout, Duration(2 * time.Minute)},
		{"storage.backend", d.Storage.Backend, "etcd"},
		{"etcd prefix", d.Storage.Etcd.Prefix, "tlsgate/"},
		{"etcd dial_timeout", d.Storage.Etcd.DialTimeout, Duration(5 * time.Second)},
		{"public site tls", s0.TLS.Mode, TLSACME},
		{"client_auth mode", s0.ClientAuth.Mode, ClientAuthRequire},
		{"route path", s0.Routes[0].Path, "/"},
		{"lb", s0.Routes[0].LB, LBRoundRobin},
		{"timeout", s0.Routes[0].Timeout, Duration(60 * time.Second)},
		{"dial_timeout", s0.Routes[0].DialTimeout, Duration(5 * time.Second)},
		{"static index", s0.Routes[1].Static.Index, []string{"index.html"}},
		{"respond status", s0.Routes[2].Respond.Status, 200},
		{"file tls kept", s1.TLS.Mode, TLSFile},
	}
	for _, tt := range checks {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %#v; want %#v", tt.name, tt.got, tt.want)
		}
	}
	// The copy shares nothing the caller could see change.
	d.Sites[0].Hosts[0] = "changed.example.com"
	*d.Listen.HTTP = ":1"
	if c.Sites[0].Hosts[0] != "app.example.com" || c.Listen.HTTP != nil {
		t.Error("changing the copy changed the original")
	}
}

// "" turns a listener or the admin API off; defaults must not undo that.
func TestWithDefaultsKeepsOff(t *testing.T) {
	c := mustLoad(t, "listen: {http: \"\"}\nadmin: \"\"\n"+baseSite)
	d := c.WithDefaults()
	if *d.Listen.HTTP != "" || *d.Admin != "" || *d.Listen.HTTPS != ":443" {
		t.Fatalf("listen.http %q admin %q listen.https %q; want \"\" \"\" \":443\"", *d.Listen.HTTP, *d.Admin, *d.Listen.HTTPS)
	}
}

func TestDefaultDataDir(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		root bool
		want string
	}{
		{"root", map[string]string{"XDG_DATA_HOME": "/x", "HOME": "/root"}, true, "/var/lib/tlsgate"},
		{"xdg", map[string]string{"XDG_DATA_HOME": "/x", "HOME": "/home/u"}, false, "/x/tlsgate"},
		{"relative xdg ignored", map[string]string{"XDG_DATA_HOME": "x", "HOME": "/home/u"}, false, "/home/u/.local/share/tlsgate"},
		{"home", map[string]string{"HOME": "/home/u"}, false, "/home/u/.local/share/tlsgate"},
		{"nothing", nil, false, "/var/lib/tlsgate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DefaultDataDir(DefaultsEnv{LookupEnv: envOf(tt.env), IsRoot: func() bool { return tt.root }})
			if got != tt.want {
				t.Fatalf("DefaultDataDir = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestDefaultTLSMode(t *testing.T) {
	tests := []struct {
		hosts []string
		want  string
	}{
		{[]string{"localhost"}, TLSLocal},
		{[]string{"api.localhost", "*.localhost"}, TLSLocal},
		{[]string{"app.test", "x.internal", "printer.local", "nas.home.arpa"}, TLSLocal},
		{[]string{"test", "internal", "local", "home.arpa"}, TLSLocal},
		{[]string{"127.0.0.1", "::1", "192.168.1.10", "[::1]"}, TLSLocal},
		{[]string{"localhost", "127.0.0.1"}, TLSLocal},
		{[]string{"APP.TEST."}, TLSLocal},
		{[]string{"app.example.com"}, TLSACME},
		{[]string{"localhost", "app.example.com"}, TLSACME},
		{[]string{"testing.com", "mylocal", "localhost.com", "arpa"}, TLSACME},
		{[]string{"*.example.com"}, TLSACME},
		{nil, TLSLocal},
	}
	for _, tt := range tests {
		if got := DefaultTLSMode(tt.hosts); got != tt.want {
			t.Errorf("DefaultTLSMode(%q) = %q; want %q", tt.hosts, got, tt.want)
		}
	}
	// The default reaches sites through WithDefaults.
	c := mustLoad(t, hostsSite("app.test, 10.0.0.1"))
	if got := c.WithDefaults().Sites[0].TLS.Mode; got != TLSLocal {
		t.Errorf("site tls = %q; want local", got)
	}
	// Only an unset tls is defaulted: an IP site that asks for acme (an
	// RFC 8738 IP-address certificate) keeps it.
	c = mustLoad(t, "acme: {directory: \"https://127.0.0.1:14000/dir\"}\nsites:\n  - hosts: [127.0.0.1]\n    tls: acme\n    routes: [{respond: {}}]\n")
	if got := c.WithDefaults().Sites[0].TLS.Mode; got != TLSACME {
		t.Errorf("IP site with tls: acme = %q; want acme", got)
	}
}

func TestIsLocalName(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "a.b.localhost": true, "*.test": true, "foo.internal": true, "home.arpa": true,
		"example.com": false, "arpa": false, "xlocalhost": false, "local.example.com": false, "127.0.0.1": false,
	} {
		if got := IsLocalName(host); got != want {
			t.Errorf("IsLocalName(%q) = %v; want %v", host, got, want)
		}
	}
}

func TestACMEDirectoryURL(t *testing.T) {
	for in, want := range map[string]string{
		"letsencrypt":                 "https://acme-v02.api.letsencrypt.org/directory",
		"letsencrypt-staging":         "https://acme-staging-v02.api.letsencrypt.org/directory",
		"zerossl":                     "https://acme.zerossl.com/v2/DV90",
		"https://127.0.0.1:14000/dir": "https://127.0.0.1:14000/dir",
	} {
		if got := ACMEDirectoryURL(in); got != want {
			t.Errorf("ACMEDirectoryURL(%q) = %q; want %q", in, got, want)
		}
	}
}

// TestEngineDefault: server.engine comes from the file, else
// TLSGATE_ENGINE, else tlsgate.
func TestEngineDefault(t *testing.T) {
	for _, tt := range []struct {
		file, env, want string
	}{
		{"", "", EngineTLSGate},
		{"", EngineTLSGate, EngineTLSGate},
		{EngineStd, EngineTLSGate, EngineStd},
		{EngineTLSGate, "", EngineTLSGate},
	} {
		c := &Config{Server: ServerBlock{Engine: tt.file}}
		env := map[string]string{}
		if tt.env != "" {
			env[EngineEnv] = tt.env
		}
		got := c.WithDefaultsFrom(DefaultsEnv{LookupEnv: envOf(env), IsRoot: func() bool { return false }}).Server.Engine
		if got != tt.want {
			t.Errorf("file %q, env %q: engine %q; want %q", tt.file, tt.env, got, tt.want)
		}
	}
}
