package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tlsgate/tlsgate/internal/certs"
	"github.com/tlsgate/tlsgate/internal/config"
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
			if err := checkCertFiles(cfg); err != nil {
				return usage(err)
			}
			fmt.Fprintf(e.stdout, "%s: valid (%d sites)\n", cfg.File, len(cfg.Sites))
			return nil
		},
	}
	cf.register(cmd.Flags())
	return cmd
}

// checkCertFiles loads every file certificate, so a wrong passphrase or a
// key that does not match is found before the config is put in service.
func checkCertFiles(cfg *config.Config) error {
	var errs []error
	for i, s := range cfg.Sites {
		if s.TLS == nil || s.TLS.Mode != config.TLSFile {
			continue
		}
		if _, err := certs.LoadKeyPair(s.TLS.CertFile, s.TLS.KeyFile, s.TLS.KeyPassphraseFile); err != nil {
			at := fmt.Sprintf("sites[%d].tls", i)
			errs = append(errs, fmt.Errorf("%s: %s: %w", cfg.Position(at), at, err))
		}
	}
	return errors.Join(errs...)
}
