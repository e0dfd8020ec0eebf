package storage

import (
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/config"
)

// TestEtcdOptionsFromConfig: the etcd prefix and dial timeout defaults are
// config's (config/defaults.go); EtcdOptions has none of its own, so the
// two cannot drift apart.
func TestEtcdOptionsFromConfig(t *testing.T) {
	cfg := (&config.Config{DataDir: t.TempDir(), Storage: config.Storage{
		Backend: config.StorageEtcd,
		Etcd:    &config.Etcd{Endpoints: []string{"127.0.0.1:1"}},
	}}).WithDefaults()
	opts, err := etcdOptions(cfg.Storage.Etcd)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Prefix != "tlsgate/" || opts.DialTimeout != 5*time.Second {
		t.Errorf("prefix %q, dial timeout %s; want config's defaults tlsgate/ and 5s", opts.Prefix, opts.DialTimeout)
	}
	if got := (EtcdOptions{Prefix: "fleet"}).withDefaults().Prefix; got != "fleet/" {
		t.Errorf("prefix fleet became %q; want fleet/", got)
	}
	if got := (EtcdOptions{}).withDefaults().Prefix; got != "" {
		t.Errorf("no prefix became %q; want none", got)
	}
	if _, err := NewEtcd(EtcdOptions{Endpoints: []string{"127.0.0.1:1"}}); err == nil || !strings.Contains(err.Error(), "dial timeout") {
		t.Errorf("NewEtcd without a dial timeout: %v; want it refused", err)
	}
}
