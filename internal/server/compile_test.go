package server

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/events"
)

// TestCertsSettingsFromConfig: certs gets config's own dns block, defaults
// filled in by config alone (no copy to drift, no second default): the
// propagation timeout and TSIG algorithm config defaults; sites go to certs
// as config's Site, with the tls mode config picks for one that sets none.
func TestCertsSettingsFromConfig(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "tlsgate.yaml"), []byte(`data_dir: `+dir+`
acme:
  challenges: [dns-01]
  dns: {provider: rfc2136, server: 127.0.0.1:53, tsig_key_name: k., tsig_secret: c2VjcmV0}
sites:
  - hosts: [app.example.com]
    routes: [{path: /, respond: {body: ok}}]
  - hosts: [app.test]
    dns: {provider: exec, command: /bin/true, propagation_timeout: 30s}
    routes: [{path: /, respond: {body: ok}}]
`), config.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.WithDefaults()
	a := acmeSettings(cfg)
	if a.DNS != cfg.ACME.DNS {
		t.Fatalf("acme.dns is copied; want config's block itself")
	}
	if got := time.Duration(a.DNS.PropagationTimeout); got != 2*time.Minute {
		t.Errorf("acme.dns propagation_timeout = %s; want config's default 2m", got)
	}
	if a.DNS.TSIGAlgorithm != "hmac-sha256" {
		t.Errorf("tsig_algorithm = %q; want config's default", a.DNS.TSIGAlgorithm)
	}
	tests := []struct {
		site    int
		mode    string
		timeout time.Duration
	}{
		{0, config.TLSACME, 0},
		{1, config.TLSLocal, 30 * time.Second},
	}
	for _, tt := range tests {
		st := cfg.Sites[tt.site]
		if st.TLS == nil || st.TLS.Mode != tt.mode {
			t.Errorf("site %d: tls %+v; want mode %q", tt.site, st.TLS, tt.mode)
		}
		if tt.timeout != 0 && time.Duration(st.DNS.PropagationTimeout) != tt.timeout {
			t.Errorf("site %d: dns %+v; want propagation %s", tt.site, st.DNS, tt.timeout)
		}
	}
}

// TestAlertSinksFromConfig: the alert sinks get config's defaults (10s and
// 5 attempts for the webhook, 30s for exec); events has none of its own.
func TestAlertSinksFromConfig(t *testing.T) {
	cfg := (&config.Config{DataDir: t.TempDir(), Alerts: &config.Alerts{
		Webhook: &config.AlertWebhook{URL: "https://hooks.example/x"},
		Exec:    &config.AlertExec{Command: "/bin/true"},
	}}).WithDefaults()
	sinks := alertSinks(cfg.Alerts, nil)
	if len(sinks) != 2 {
		t.Fatalf("%d sinks; want 2", len(sinks))
	}
	w, ok := sinks[0].(*events.Webhook)
	if !ok || w.Timeout != 10*time.Second || w.Attempts != 5 {
		t.Errorf("webhook sink %+v; want config's 10s and 5 attempts", sinks[0])
	}
	x, ok := sinks[1].(*events.Exec)
	if !ok || x.Timeout != 30*time.Second {
		t.Errorf("exec sink %+v; want config's 30s", sinks[1])
	}
}
