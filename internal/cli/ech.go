package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/spf13/cobra"

	"github.com/tlsgate/tlsgate/internal/ech"
	"github.com/tlsgate/tlsgate/internal/storage"
)

func newECHCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ech",
		Short: "Encrypted Client Hello: the config to publish in DNS",
		Long: `With an ech block in the config, tlsgate makes Encrypted Client Hello keys at
first start, rotates them every ech.rotate and keeps them in its storage (shared
by a fleet on etcd). Clients learn the public half, an ECHConfigList, from the
ech= parameter of the site's DNS HTTPS record. See docs/ECH.md.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newECHConfigCmd(e))
	return cmd
}

// echConfigJSON is what ech config --json prints: no private key.
type echConfigJSON struct {
	PublicName string `json:"public_name"`
	// ConfigList is the ECHConfigList, base64: the ech= value.
	ConfigList string    `json:"config_list"`
	ConfigID   uint8     `json:"config_id"`
	Created    time.Time `json:"created"`
	// Accepted are the config_ids the server decrypts: the current one,
	// and the previous one for one more rotation period.
	Accepted []int `json:"accepted_config_ids"`
}

func newECHConfigCmd(e *env) *cobra.Command {
	var cf configFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "config [-c FILE] [--data-dir DIR] [--json]",
		Short: "Print the current ECHConfigList (base64) for the DNS HTTPS record's ech= parameter",
		Long: `Print the ECHConfigList of the current ECH key, base64, read from the storage of
the config (files under data_dir, or etcd; sealed keys are opened with
storage.encryption_key_file). It goes in the site's HTTPS record as ech=...;
after each rotation (ech.rotate) it changes, and the record must follow
(ech.publish does that with an rfc2136 DNS provider). The keys are made by
tlsgate run at its first start: before that there is nothing to print.

Only the public config is printed, never a private key.`,
		Example: `  tlsgate ech config -c tlsgate.yaml
  # the DNS record (zone file syntax):
  echo "app.example.com. 300 IN HTTPS 1 . alpn=h2,h3 ech=$(tlsgate ech config -c tlsgate.yaml)"
  # with nsupdate:
  printf 'update delete app.example.com. HTTPS\nupdate add app.example.com. 300 HTTPS 1 . alpn=h2,h3 ech=%s\nsend\n' \
    "$(tlsgate ech config -c tlsgate.yaml)" | nsupdate -k tlsgate.key
  tlsgate ech config --data-dir /var/lib/tlsgate --json | jq -r .config_list`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			set, err := readECHSet(cmd.Context(), e, &cf)
			if err != nil {
				return err
			}
			list, err := set.ConfigList()
			if err != nil {
				return err
			}
			return printECHConfig(e.stdout, set, list, asJSON)
		},
	}
	cf.register(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON for scripts (public name, config_id, creation time)")
	return cmd
}

// readECHSet reads the key set from the config's storage, or from the
// files under --data-dir when no config file is given.
func readECHSet(ctx context.Context, e *env, cf *configFlags) (*ech.Set, error) {
	var (
		store  certmagic.Storage
		closer io.Closer
	)
	if cf.file == "" && cf.dataDir != "" {
		// No key: a sealed set is refused with a message naming the fix.
		enc, err := storage.NewEncrypted(&certmagic.FileStorage{Path: cf.dataDir}, nil)
		if err != nil {
			return nil, err
		}
		store = enc
	} else {
		cfg, err := cf.load(e)
		if err != nil {
			return nil, err
		}
		cfg = cfg.WithDefaults()
		if cfg.ECH == nil {
			return nil, usage(fmt.Errorf("%s has no ech block; add ech: {public_name: ech.example.com} (see docs/ECH.md)", cfg.File))
		}
		if store, closer, err = storage.Open(cfg.Storage, cfg.DataDir, nil); err != nil {
			return nil, err
		}
		defer closer.Close()
	}
	set, err := ech.Load(ctx, store)
	if errors.Is(err, storage.ErrSealed) {
		return nil, fmt.Errorf("%w (pass -c FILE with the config that names the key)", err)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no ECH keys yet: tlsgate run makes them at its first start with an ech block")
	}
	return set, err
}

func printECHConfig(w io.Writer, set *ech.Set, list []byte, asJSON bool) error {
	b64 := base64.StdEncoding.EncodeToString(list)
	if !asJSON {
		_, err := fmt.Fprintln(w, b64)
		return err
	}
	out := echConfigJSON{PublicName: set.PublicName, ConfigList: b64, ConfigID: set.Keys[0].ConfigID, Created: set.Keys[0].Created}
	for _, k := range set.Keys {
		out.Accepted = append(out.Accepted, int(k.ConfigID))
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
