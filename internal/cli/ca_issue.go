package cli

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tlsgate/tlsgate/internal/pki"
)

// caSource picks the signing CA: the user's own (--ca-cert/--ca-key) or
// the local CA in the data directory.
type caSource struct {
	certPath, keyPath string
	pass              *passphraseSource
	dataDir           dataDirFlag
}

func (s *caSource) register(fs *pflag.FlagSet) {
	fs.StringVar(&s.certPath, "ca-cert", "", "your CA's certificate (PEM; may hold its chain up to the root) instead of the local CA")
	fs.StringVar(&s.keyPath, "ca-key", "", "your CA's private key, possibly encrypted (with --ca-cert)")
	s.pass = newPassphraseSource(fs, "ca-key-passphrase-file", envCAKeyPassphrase, "the CA key")
	s.dataDir.register(fs)
}

func (s *caSource) check() error {
	if (s.certPath == "") != (s.keyPath == "") {
		return usage(errors.New("--ca-cert and --ca-key go together: give both to sign with your own CA, or neither for the local CA"))
	}
	return nil
}

// load returns the CA and the file clients should trust (for the hints).
// The local CA is created on first use, like `tlsgate proxy` does.
func (s *caSource) load(e *env) (*pki.CA, string, error) {
	if s.certPath == "" {
		dir := pki.LocalCADir(s.dataDir.path())
		ca, created, err := pki.InitLocalCA(dir, "")
		if err != nil {
			return nil, "", err
		}
		if created {
			fmt.Fprintf(e.stdout, "Created the local CA in %s\n", dir)
		}
		return ca, pki.RootCertPath(dir), nil
	}
	certPEM, err := os.ReadFile(s.certPath)
	if err != nil {
		return nil, "", fmt.Errorf("--ca-cert: %w", err)
	}
	keyPEM, err := os.ReadFile(s.keyPath)
	if err != nil {
		return nil, "", fmt.Errorf("--ca-key: %w", err)
	}
	var ca *pki.CA
	err = s.pass.unlock(e, s.keyPath, keyPEM, func(p []byte) error {
		var err error
		ca, err = pki.LoadCA(certPEM, keyPEM, p)
		return err
	})
	return ca, s.certPath, err
}

// validity turns --days into a lifetime; 0 means the longest allowed.
func validity(days int) (time.Duration, error) {
	if days < 0 {
		return 0, usage(fmt.Errorf("--days %d: give a positive number of days, or leave it out for the longest browsers accept (%d)", days, maxLeafDays))
	}
	return time.Duration(days) * 24 * time.Hour, nil
}

const maxLeafDays = int(pki.MaxLeafValidity / (24 * time.Hour))

type issueFlags struct {
	certOut, keyOut, p12Out string
	client, force, encrypt  bool
	days                    int
	keyType                 string
	keyPass, p12Pass        *passphraseSource
	ca                      caSource
}

func newCAIssueCmd(e *env) *cobra.Command {
	var f issueFlags
	cmd := &cobra.Command{
		Use:   "issue NAME... --cert-out F --key-out F [--client] [--days N] [--key-type T] [--p12-out F] [--ca-cert F --ca-key F]",
		Short: "Issue a certificate and a new key for names, signed by the local CA or yours",
		Long: `Make a new key and a certificate for the names, signed by tlsgate's local CA
(created on first use) or, with --ca-cert and --ca-key, by your own CA. Each
NAME becomes a subject alternative name of the right kind (DNS name, IP
address, e-mail, URI). --cert-out gets the certificate followed by the
intermediate(s), as a server sends them; --key-out gets the key (mode 0600).

Server certificates live at most ` + fmt.Sprint(maxLeafDays) + ` days, the most browsers accept.
--client makes a client (mTLS) certificate; --p12-out also writes it with its
key as PKCS#12, which browsers and OS key stores import.

Passphrases come from the --*-passphrase-file flags (first line of the file),
else the environment (` + envKeyPassphrase + ` encrypts the new key,
` + envCAKeyPassphrase + ` opens --ca-key, ` + envP12Passphrase + ` protects
--p12-out), else a prompt on the terminal.`,
		Example: `  tlsgate ca issue localhost 127.0.0.1 ::1 --cert-out localhost.crt --key-out localhost.key

  # A client certificate for a browser:
  tlsgate ca issue alice@example.net --client --cert-out alice.crt --key-out alice.key \
      --p12-out alice.p12 --p12-passphrase-file p12pass.txt

  # Signed by your own CA, whose key is encrypted:
  tlsgate ca issue app.internal --cert-out app.crt --key-out app.key \
      --ca-cert ca.crt --ca-key ca.key --ca-key-passphrase-file ca-pass.txt`,
		RunE: func(cmd *cobra.Command, args []string) error { return f.run(e, args) },
	}
	fs := cmd.Flags()
	fs.StringVar(&f.certOut, "cert-out", "", "file for the certificate chain (required)")
	fs.StringVar(&f.keyOut, "key-out", "", "file for the new private key (required)")
	fs.StringVar(&f.p12Out, "p12-out", "", "also write key and chain as PKCS#12 (.p12) for browsers")
	fs.BoolVar(&f.client, "client", false, "make a client (mTLS) certificate instead of a server one")
	fs.IntVar(&f.days, "days", 0, fmt.Sprintf("validity in days (default and maximum for servers: %d)", maxLeafDays))
	fs.StringVar(&f.keyType, "key-type", "", "new key type: "+keyTypeList())
	fs.BoolVar(&f.encrypt, "encrypt", false, "encrypt the new key; ask for the passphrase on the terminal if none is given")
	fs.BoolVar(&f.force, "force", false, "overwrite output files that exist")
	f.keyPass = newPassphraseSource(fs, "key-passphrase-file", envKeyPassphrase, "the new key")
	f.p12Pass = newPassphraseSource(fs, "p12-passphrase-file", envP12Passphrase, "the PKCS#12 file")
	f.ca.register(fs)
	return cmd
}

func (f *issueFlags) check(args []string) (pki.KeyType, time.Duration, error) {
	switch {
	case len(args) == 0:
		return "", 0, usage(errors.New("give at least one name, e.g. 'tlsgate ca issue localhost --cert-out localhost.crt --key-out localhost.key'"))
	case f.certOut == "" || f.keyOut == "":
		return "", 0, usage(errors.New("--cert-out and --key-out are required: where to write the certificate chain and the new key"))
	}
	if _, err := pki.ParseNames(args); err != nil {
		return "", 0, usage(err)
	}
	t, err := pki.ParseKeyType(f.keyType)
	if err != nil {
		return "", 0, usage(fmt.Errorf("--key-type: %w", err))
	}
	v, err := validity(f.days)
	if err != nil {
		return "", 0, err
	}
	return t, v, f.ca.check()
}

func (f *issueFlags) run(e *env, args []string) error {
	keyType, valid, err := f.check(args)
	if err != nil {
		return err
	}
	if err := refuseExisting(f.force, f.certOut, f.keyOut, f.p12Out); err != nil {
		return err
	}
	ca, rootPath, err := f.ca.load(e)
	if err != nil {
		return err
	}
	keyPass, keyFrom, err := f.keyPass.newKeyPassphrase(e, f.encrypt, "--encrypt was given")
	if err != nil {
		return err
	}
	var p12Pass []byte
	if f.p12Out != "" {
		if p12Pass, _, err = f.p12Pass.get(e, "--p12-out needs a passphrase (browsers refuse PKCS#12 files without one)", true); err != nil {
			return err
		}
	}
	key, err := pki.GenerateKey(keyType)
	if err != nil {
		return err
	}
	leaf, err := ca.Issue(pki.LeafRequest{Names: args, PublicKey: key.Public(), Client: f.client, Validity: valid})
	if err != nil {
		return err
	}
	keyPEM, err := pki.MarshalPrivateKeyPEM(key, keyPass)
	if err != nil {
		return err
	}
	if err := pki.WriteFile(f.certOut, ca.ChainPEM(leaf), 0o644, f.force); err != nil {
		return err
	}
	if err := pki.WriteFile(f.keyOut, keyPEM, 0o600, f.force); err != nil {
		return err
	}
	w := e.stdout
	fmt.Fprintf(w, "Wrote %s (certificate + %d CA certificate(s) above it)\n", f.certOut, len(ca.Chain))
	fmt.Fprintf(w, "Wrote %s (new %s key, mode 0600, %s)\n", f.keyOut, keyType, encryptedPhrase(keyPass, keyFrom))
	if f.p12Out != "" {
		p12, err := pki.EncodePKCS12(key, leaf, ca.Chain, string(p12Pass))
		if err != nil {
			return err
		}
		if err := pki.WriteFile(f.p12Out, p12, 0o600, f.force); err != nil {
			return err
		}
		fmt.Fprintf(w, "Wrote %s (PKCS#12 with key and chain, mode 0600; import it in the browser's certificate settings)\n", f.p12Out)
	}
	printLeaf(w, leaf, f.days, f.client)
	printNextStep(w, leaf, rootPath, f.certOut, f.keyOut, f.client)
	return nil
}

func newCASignCmd(e *env) *cobra.Command {
	var out string
	var days int
	var client, force bool
	var src caSource
	cmd := &cobra.Command{
		Use:   "sign CSR_FILE --out F [--days N] [--client] [--ca-cert F --ca-key F [--ca-key-passphrase-file F]]",
		Short: "Sign a certificate request (CSR) with the local CA or yours",
		Long: `Sign a CSR made by 'tlsgate csr', openssl or any other tool. The CSR's
signature is checked, its subject and names (SANs) are kept, and a CSR without
names is refused. Everything else (key usage, validity, basic constraints) is
set by tlsgate, as for 'ca issue'. --out gets the certificate followed by the
intermediate(s).

The CA key passphrase comes from --ca-key-passphrase-file, else the
` + envCAKeyPassphrase + ` environment variable, else a prompt on the terminal.`,
		Example: `  tlsgate ca sign server.csr --out server.crt
  tlsgate ca sign server.csr --out server.crt --ca-cert ca.crt --ca-key ca.key --ca-key-passphrase-file ca-pass.txt
  openssl verify -CAfile ca.crt server.crt`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 0:
				return usage(errors.New("give the CSR file to sign, e.g. 'tlsgate ca sign server.csr --out server.crt'"))
			case out == "":
				return usage(errors.New("--out is required: the file to write the certificate chain to"))
			}
			valid, err := validity(days)
			if err != nil {
				return err
			}
			if err := src.check(); err != nil {
				return err
			}
			if err := refuseExisting(force, out); err != nil {
				return err
			}
			data, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("read CSR: %w", err)
			}
			csr, err := pki.ParseCSRPEM(data)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			ca, rootPath, err := src.load(e)
			if err != nil {
				return err
			}
			leaf, err := ca.SignCSR(csr, client, valid)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if err := pki.WriteFile(out, ca.ChainPEM(leaf), 0o644, force); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Wrote %s (certificate + %d CA certificate(s) above it)\n", out, len(ca.Chain))
			printLeaf(e.stdout, leaf, days, client)
			printNextStep(e.stdout, leaf, rootPath, out, "KEY_OF_THE_CSR", client)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&out, "out", "o", "", "file for the certificate chain (required)")
	fs.IntVar(&days, "days", 0, fmt.Sprintf("validity in days (default and maximum for servers: %d)", maxLeafDays))
	fs.BoolVar(&client, "client", false, "make a client (mTLS) certificate instead of a server one")
	fs.BoolVar(&force, "force", false, "overwrite --out if it exists")
	src.register(fs)
	return cmd
}

// printLeaf shows what was issued.
func printLeaf(w io.Writer, leaf *x509.Certificate, days int, client bool) {
	info := pki.DescribeCertificate(leaf, time.Now())
	kind := "server"
	if client {
		kind = "client"
	}
	fmt.Fprintf(w, "  Names:       %s\n  Issuer:      %s\n  Kind:        %s certificate\n", strings.Join(info.SANs, ", "), info.Issuer, kind)
	fmt.Fprintf(w, "  Valid until: %s (%d days)\n", leaf.NotAfter.UTC().Format("2006-01-02 15:04 MST"), info.DaysLeft)
	if days > 0 && info.DaysLeft+1 < days {
		fmt.Fprintf(w, "  (--days %d was capped: no certificate outlives its CA, and servers get at most %d days)\n", days, maxLeafDays)
	}
}

// printNextStep gives a ready command that uses the result.
func printNextStep(w io.Writer, leaf *x509.Certificate, rootPath, certPath, keyPath string, client bool) {
	if client {
		fmt.Fprintf(w, "Next: present it to a server that trusts this CA (client_auth: {mode: require, ca_files: [%s]}):\n", rootPath)
		fmt.Fprintf(w, "  curl --cert %s --key %s https://HOST/\n", certPath, keyPath)
		return
	}
	host := "localhost"
	switch {
	case len(leaf.DNSNames) > 0:
		host = strings.Replace(leaf.DNSNames[0], "*", "www", 1)
	case len(leaf.IPAddresses) > 0:
		host = leaf.IPAddresses[0].String()
		if leaf.IPAddresses[0].To4() == nil {
			host = "[" + host + "]"
		}
	}
	fmt.Fprintf(w, "Next: serve it (in tlsgate.yaml: tls: {cert_file: %s, key_file: %s}) and try:\n", certPath, keyPath)
	fmt.Fprintf(w, "  curl --cacert %s https://%s:8443/\n", rootPath, host)
}
