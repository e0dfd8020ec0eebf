package cli

import (
	"errors"
	"fmt"
	"github.com/tlsgate/tlsgate/internal/proxy"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/tlsgate/tlsgate/internal/access"
	"github.com/tlsgate/tlsgate/internal/certs"
	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/storage"
)

func newValidateCmd(e *env) *cobra.Command {
	var cf configFlags
	cmd := &cobra.Command{
		Use:   "validate [-c FILE]",
		Short: "Check a config file without serving",
		Long: `Check a config file without serving: syntax, unknown keys, values, and
that certificate files load with their passphrases. Each problem is reported
as FILE:LINE:COL: key: what is wrong; what to do. Exit 0 when valid, 2 when not.`,
		Example: `  tlsgate validate -c tlsgate.yaml
  tlsgate validate -c tlsgate.yaml --env-file .env`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := cf.load(e)
			if err != nil {
				return err
			}
			if err := checkFiles(cfg, e.stderr); err != nil {
				return usage(err)
			}
			fmt.Fprintf(e.stdout, "%s: valid (%d sites)\n", cfg.File, len(cfg.Sites))
			return nil
		},
	}
	cf.register(cmd.Flags())
	return cmd
}

// checkFiles loads every file certificate, upstream_tls file and the
// storage encryption key, so a wrong passphrase, a key that does not match
// or a key file that holds no key is found before the config is put in
// service.
func checkFiles(cfg *config.Config, warn io.Writer) error {
	var errs []error
	if f := cfg.Storage.EncryptionKeyFile; f != "" {
		if _, err := storage.ReadKeyFile(f); err != nil {
			const at = "storage.encryption_key_file"
			errs = append(errs, fmt.Errorf("%s: %s: %w", cfg.Position(at), at, err))
		}
	}
	htpasswd := func(at string, b *config.BasicAuth) {
		if b == nil || b.UsersFile == "" {
			return
		}
		if _, err := access.ReadHtpasswd(b.UsersFile); err != nil {
			at += ".basic_auth.users_file"
			errs = append(errs, fmt.Errorf("%s: %s: %w", cfg.Position(at), at, err))
		}
	}
	for i, s := range cfg.Sites {
		htpasswd(fmt.Sprintf("sites[%d]", i), s.BasicAuth)
		for j, r := range s.Routes {
			htpasswd(fmt.Sprintf("sites[%d].routes[%d]", i, j), r.BasicAuth)
			if t := r.UpstreamTLS; t != nil {
				if _, err := proxy.LoadUpstreamTLS(t.CAFiles, t.ServerName, t.ClientCertFile, t.ClientKeyFile); err != nil {
					at := fmt.Sprintf("sites[%d].routes[%d].upstream_tls", i, j)
					errs = append(errs, fmt.Errorf("%s: %s: %w", cfg.Position(at), at, err))
				}
			}
		}
		if s.TLS == nil || s.TLS.Mode != config.TLSFile {
			continue
		}
		at := fmt.Sprintf("sites[%d].tls", i)
		cert, err := certs.LoadKeyPair(s.TLS.CertFile, s.TLS.KeyFile, s.TLS.KeyPassphraseFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", cfg.Position(at), at, err))
			continue
		}
		if now := time.Now(); now.After(cert.Leaf.NotAfter) {
			fmt.Fprintf(warn, "%s: %s: warning: the certificate in %s expired on %s; clients will refuse it\n",
				cfg.Position(at), at, s.TLS.CertFile, cert.Leaf.NotAfter.Format(time.RFC3339))
		}
	}
	return errors.Join(errs...)
}
