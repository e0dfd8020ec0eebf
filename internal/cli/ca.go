package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/pki"
)

// dataDirFlag is --data-dir for commands without a config file.
type dataDirFlag struct{ dir string }

func (f *dataDirFlag) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.dir, "data-dir", "", "data directory (default $XDG_DATA_HOME/tlsgate, or /var/lib/tlsgate as root)")
}

// path is the data directory, absolute so that the paths printed from it
// work from any directory.
func (f *dataDirFlag) path() string {
	dir := f.dir
	if dir == "" {
		dir = config.DefaultDataDir(config.DefaultsEnv{})
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return dir
}

func newCACmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "Manage tlsgate's local certificate authority",
		Long: `tlsgate's local CA (a root and an intermediate, ECDSA P-256) signs
certificates for localhost and development names. It lives in DATA_DIR/ca;
its private keys are readable by the owner only.`,
		Example: `  tlsgate ca init
  tlsgate ca cert > tlsgate-root.pem
  curl --cacert "$(tlsgate ca cert --path)" https://localhost:8443/`,
	}
	cmd.AddCommand(newCAInitCmd(e), newCACertCmd(e),
		newCAIssueCmd(e), newCASignCmd(e), newCATrustCmd(e, true), newCATrustCmd(e, false), newCAEnvCmd(e))
	return cmd
}

func newCAInitCmd(e *env) *cobra.Command {
	var df dataDirFlag
	var name string
	cmd := &cobra.Command{
		Use:   "init [--data-dir DIR] [--name NAME]",
		Short: "Create the local CA if it does not exist yet",
		Example: `  tlsgate ca init
  tlsgate ca init --data-dir ./data --name "Acme Dev CA"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := pki.LocalCADir(df.path())
			_, created, err := pki.InitLocalCA(dir, name)
			if err != nil {
				return err
			}
			root := pki.RootCertPath(dir)
			if created {
				fmt.Fprintf(e.stdout, "Created the local CA in %s\n", dir)
			} else {
				fmt.Fprintf(e.stdout, "The local CA already exists in %s\n", dir)
			}
			fmt.Fprintf(e.stdout, "Root certificate: %s\nTrust it in curl with: curl --cacert %s https://localhost:8443/\n", root, root)
			return nil
		},
	}
	df.register(cmd.Flags())
	cmd.Flags().StringVar(&name, "name", "", "name of a new CA (default: tlsgate plus user and host)")
	return cmd
}

func newCACertCmd(e *env) *cobra.Command {
	var df dataDirFlag
	var printPath bool
	cmd := &cobra.Command{
		Use:   "cert [--data-dir DIR] [--path]",
		Short: "Print the local root certificate (PEM), or its path",
		Example: `  tlsgate ca cert > root.pem
  tlsgate ca cert --path`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			root := pki.RootCertPath(pki.LocalCADir(df.path()))
			data, err := os.ReadFile(root)
			if os.IsNotExist(err) {
				init := "tlsgate ca init"
				if df.dir != "" {
					init += " --data-dir " + df.dir
				}
				return fmt.Errorf("no local CA in %s yet: create it with '%s' (tlsgate run and proxy create it on first use)", filepath.Dir(root), init)
			}
			if err != nil {
				return err
			}
			if printPath {
				fmt.Fprintln(e.stdout, root)
				return nil
			}
			_, err = e.stdout.Write(data)
			return err
		},
	}
	df.register(cmd.Flags())
	cmd.Flags().BoolVar(&printPath, "path", false, "print the file path instead of the certificate")
	return cmd
}
