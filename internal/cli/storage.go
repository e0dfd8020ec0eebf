package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/caddyserver/certmagic"
	"github.com/spf13/cobra"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/storage"
)

func newStorageCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "storage",
		Short: "Storage encryption keys, and moving certificates between storages",
		Long: `Certificates, ACME accounts and their private keys live in the storage of the
config's storage block: files under data_dir (the default) or etcd, shared by
a fleet. With storage.encryption_key_file set, private keys are sealed with
XChaCha20-Poly1305 before they are stored.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newStorageKeygenCmd(e), newStorageMigrateCmd(e))
	return cmd
}

func newStorageKeygenCmd(e *env) *cobra.Command {
	var out string
	var force bool
	cmd := &cobra.Command{
		Use:   "keygen --out FILE [--force]",
		Short: "Make a storage encryption key (32 random bytes, base64)",
		Long: `Make a key for storage.encryption_key_file: 32 random bytes, base64 encoded,
in a file only its owner can read (mode 0600). Keep a copy somewhere safe:
private keys sealed with it cannot be read without it.`,
		Example: `  tlsgate storage keygen --out /etc/tlsgate/storage.key
  # then, in tlsgate.yaml:
  #   storage: {encryption_key_file: /etc/tlsgate/storage.key}`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usage(errors.New("--out is required: the file to write the key to, e.g. --out storage.key"))
			}
			key, err := storage.NewKey(nil)
			if err != nil {
				return err
			}
			if err := storage.WriteKeyFile(out, key, force); err != nil {
				if errors.Is(err, storage.ErrKeyFileExists) {
					return fmt.Errorf("%s already exists; use --force to overwrite it (everything sealed with the old key then needs it to be read: see tlsgate storage migrate)", out)
				}
				return err
			}
			fmt.Fprintf(e.stdout, "wrote storage encryption key %s (key id %x, mode 0600)\n", out, storage.KeyID(key))
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file to write the key to")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	return cmd
}

func newStorageMigrateCmd(e *env) *cobra.Command {
	var from, to string
	cmd := &cobra.Command{
		Use:   "migrate --from CONFIG --to CONFIG",
		Short: "Copy every certificate, key and account from one storage to another",
		Long: `Copy everything CertMagic keeps (certificates, private keys, ACME accounts,
metadata) from the storage of one config file to the storage of another: only
their data_dir and storage blocks are used. Values are read with the --from
config's encryption key and written with the --to config's, so this also turns
encryption on or off, or rotates the key (the two configs may then name the
same storage). Nothing is deleted from the source. Stop the instances first,
or at least do not let them issue certificates meanwhile.`,
		Example: `  # from files to etcd:
  tlsgate storage migrate --from old.yaml --to fleet.yaml
  # rotate the key: old.yaml and new.yaml differ only in encryption_key_file
  tlsgate storage migrate --from old.yaml --to new.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" || to == "" {
				return usage(errors.New("--from and --to are both required: config files whose storage blocks say where to copy from and to"))
			}
			src, srcDesc, closeSrc, err := openConfigStorage(from, false)
			if err != nil {
				return err
			}
			defer closeSrc.Close()
			dst, dstDesc, closeDst, err := openConfigStorage(to, true)
			if err != nil {
				return err
			}
			defer closeDst.Close()
			n, err := storage.Copy(cmd.Context(), dst, src)
			if err != nil {
				return fmt.Errorf("migrate: %w (copied %d values before that)", err, n)
			}
			fmt.Fprintf(e.stdout, "copied %d values from %s to %s\n", n, srcDesc, dstDesc)
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "config file whose storage is read")
	cmd.Flags().StringVar(&to, "to", "", "config file whose storage is written")
	return cmd
}

// openConfigStorage opens the storage of a config file and describes it.
// A source (strict false) is read with require_sealed off: migrating is how
// unsealed keys get sealed.
func openConfigStorage(path string, strict bool) (certmagic.Storage, string, io.Closer, error) {
	cfg, err := config.Load(path, config.LoadOptions{})
	if err != nil {
		return nil, "", nil, usage(err)
	}
	cfg = cfg.WithDefaults()
	if !strict {
		cfg.Storage.RequireSealed = &strict
	}
	s, closer, err := storage.Open(cfg.Storage, cfg.DataDir, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, "", nil, fmt.Errorf("%s: %w", path, err)
	}
	desc := "files in " + cfg.DataDir
	if cfg.Storage.Backend == config.StorageEtcd {
		desc = fmt.Sprintf("etcd %v prefix %q", cfg.Storage.Etcd.Endpoints, cfg.Storage.Etcd.Prefix)
	}
	if cfg.Storage.EncryptionKeyFile != "" {
		desc += " (encrypted)"
	} else {
		desc += " (plain)"
	}
	return s, desc, closer, nil
}
