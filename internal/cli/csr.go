package cli

import (
	"crypto"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tlsgate/tlsgate/internal/pki"
)

// subjectFlags are the optional subject fields of a CSR.
type subjectFlags struct {
	cn, org, country, state, locality string
}

func (s subjectFlags) name() pkix.Name {
	var n pkix.Name
	n.CommonName = s.cn
	add := func(dst *[]string, v string) {
		if v != "" {
			*dst = []string{v}
		}
	}
	add(&n.Organization, s.org)
	add(&n.Country, s.country)
	add(&n.Province, s.state)
	add(&n.Locality, s.locality)
	return n
}

func newCSRCmd(e *env) *cobra.Command {
	var keyPath, out string
	var force bool
	var subj subjectFlags
	var pass *passphraseSource
	cmd := &cobra.Command{
		Use:   "csr NAME... --key FILE --out FILE [--key-passphrase-file F] [--cn NAME] [--org O] [--country C] [--state S] [--locality L]",
		Short: "Make a certificate signing request (CSR) for names",
		Long: `Make a CSR signed by --key. Every NAME becomes a subject alternative name of
the right kind: a DNS name (localhost, *.example.com), an IP address
(127.0.0.1, ::1), an e-mail address or a URI. The subject's common name
defaults to the first name.

An encrypted key is opened with the passphrase from --key-passphrase-file,
else the ` + envKeyPassphrase + ` environment variable, else a prompt on the
terminal.`,
		Example: `  tlsgate key --out server.key --encrypt
  tlsgate csr localhost alice.example.net --key server.key --out server.csr
  openssl req -in server.csr -verify -noout -text

  tlsgate csr api.example.com --key server.key --key-passphrase-file pass.txt \
      --org "Example Ltd" --country GB --out api.csr`,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case keyPath == "":
				return usage(errors.New("--key is required: the private key to sign the request with (make one with 'tlsgate key --out server.key')"))
			case out == "":
				return usage(errors.New("--out is required: the file to write the CSR to, e.g. --out server.csr"))
			case len(args) == 0 && subj.cn == "":
				return usage(errors.New("give at least one name, e.g. 'tlsgate csr localhost --key server.key --out server.csr'"))
			case subj.country != "" && !isCountryCode(subj.country):
				return usage(fmt.Errorf("--country %q: use the two-letter ISO 3166 code, e.g. GB, DE, US", subj.country))
			}
			if _, err := pki.ParseNames(args); err != nil {
				return usage(err)
			}
			if err := refuseExisting(force, out); err != nil {
				return err
			}
			key, err := loadKeyFile(e, keyPath, pass)
			if err != nil {
				return err
			}
			csr, data, err := pki.CreateCSR(key, pki.CSRRequest{Names: args, Subject: subj.name()})
			if err != nil {
				return err
			}
			if err := pki.WriteFile(out, data, 0o644, force); err != nil {
				return err
			}
			info := pki.DescribeCSR(csr)
			fmt.Fprintf(e.stdout, "Wrote a certificate request to %s\n  Subject: %s\n  Names:   %s\n", out, info.Subject, strings.Join(info.Names, ", "))
			fmt.Fprintf(e.stdout, "Next: sign it with your CA, or with tlsgate's local CA:\n  tlsgate ca sign %s --out %s\n", out, certName(out))
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&keyPath, "key", "k", "", "private key to sign the request with (required)")
	fs.StringVarP(&out, "out", "o", "", "file to write the CSR to (required)")
	fs.BoolVar(&force, "force", false, "overwrite --out if it exists")
	fs.StringVar(&subj.cn, "cn", "", "subject common name (default: the first name)")
	fs.StringVar(&subj.org, "org", "", "subject organization (O)")
	fs.StringVar(&subj.country, "country", "", "subject country (C), two letters")
	fs.StringVar(&subj.state, "state", "", "subject state or province (ST)")
	fs.StringVar(&subj.locality, "locality", "", "subject locality (L)")
	pass = newPassphraseSource(fs, "key-passphrase-file", envKeyPassphrase, "the private key")
	return cmd
}

// loadKeyFile reads a private key, asking for its passphrase when it is
// encrypted.
func loadKeyFile(e *env, path string, pass *passphraseSource) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read private key: %w", err)
	}
	var key crypto.Signer
	err = pass.unlock(e, path, data, func(p []byte) error {
		k, err := pki.ParsePrivateKeyPEM(data, p)
		key = k
		return err
	})
	if err != nil && !strings.Contains(err.Error(), path) {
		err = fmt.Errorf("%s: %w", path, err)
	}
	return key, err
}

// certName suggests a certificate file name next to a CSR or key file.
func certName(path string) string {
	for _, ext := range []string{".csr", ".key", ".pem"} {
		path = strings.TrimSuffix(path, ext)
	}
	return path + ".crt"
}

// isCountryCode reports whether c is two ASCII letters, as X.509's
// countryName requires.
func isCountryCode(c string) bool {
	return len(c) == 2 && strings.Trim(strings.ToUpper(c), "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == ""
}
