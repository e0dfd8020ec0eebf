package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tlsgate/tlsgate/internal/pki"
)

func newKeyCmd(e *env) *cobra.Command {
	var out, typ string
	var force, encrypt bool
	var pass *passphraseSource
	cmd := &cobra.Command{
		Use:   "key --out FILE [--type T] [--passphrase-file F | --encrypt] [--force]",
		Short: "Make a new private key (optionally encrypted with a passphrase)",
		Long: `Make a new private key and write it as PKCS#8 PEM, readable by the owner only
(mode 0600). With a passphrase it is encrypted PKCS#8 (PBES2, PBKDF2-SHA256,
AES-256-CBC), which OpenSSL opens with 'openssl pkey -passin'.

The passphrase comes from --passphrase-file (its first line), else from the
` + envKeyPassphrase + ` environment variable, else, with --encrypt, from a
prompt on the terminal. It is never given as a flag value.

Types: ` + keyTypeList() + ` (default ` + string(pki.DefaultKeyType) + `).`,
		Example: `  tlsgate key --out server.key
  tlsgate key --out ca.key --type rsa-4096 --encrypt
  tlsgate key --out server.key --passphrase-file pass.txt
  openssl pkey -in server.key -passin file:pass.txt -noout && echo ok`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usage(errors.New("--out is required: the file to write the key to, e.g. --out server.key"))
			}
			t, err := pki.ParseKeyType(typ)
			if err != nil {
				return usage(fmt.Errorf("--type: %w", err))
			}
			if err := refuseExisting(force, out); err != nil {
				return err
			}
			passphrase, from, err := pass.newKeyPassphrase(e, encrypt, "--encrypt was given")
			if err != nil {
				return err
			}
			key, err := pki.GenerateKey(t)
			if err != nil {
				return err
			}
			data, err := pki.MarshalPrivateKeyPEM(key, passphrase)
			if err != nil {
				return err
			}
			if err := pki.WriteFile(out, data, 0o600, force); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Wrote a new %s private key to %s (mode 0600, %s)\n", t, out, encryptedPhrase(passphrase, from))
			fmt.Fprintf(e.stdout, "Next: make a certificate request for it:\n  tlsgate csr localhost --key %s --out %s\n", out, csrName(out))
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&out, "out", "o", "", "file to write the key to (required)")
	fs.StringVarP(&typ, "type", "t", "", "key type: "+keyTypeList())
	fs.BoolVar(&force, "force", false, "overwrite --out if it exists")
	fs.BoolVar(&encrypt, "encrypt", false, "encrypt the key; ask for the passphrase on the terminal if none is given")
	pass = newPassphraseSource(fs, "passphrase-file", envKeyPassphrase, "the new key")
	return cmd
}

func keyTypeList() string {
	var names []string
	for _, t := range pki.KeyTypes() {
		names = append(names, string(t))
	}
	return strings.Join(names, ", ")
}

// encryptedPhrase says whether and how a key file was encrypted.
func encryptedPhrase(passphrase []byte, from string) string {
	if len(passphrase) == 0 {
		return "not encrypted"
	}
	return "encrypted with the passphrase " + describeFrom(from)
}

// csrName suggests a CSR file name next to a key file.
func csrName(keyPath string) string {
	return strings.TrimSuffix(strings.TrimSuffix(keyPath, ".key"), ".pem") + ".csr"
}

// refuseExisting fails before any slow work when an output file exists and
// --force was not given. pki.WriteFile checks again when it writes.
func refuseExisting(force bool, paths ...string) error {
	if force {
		return nil
	}
	for _, p := range paths {
		if p == "" {
			continue
		}
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s already exists; use --force to overwrite it", p)
		}
	}
	return nil
}
