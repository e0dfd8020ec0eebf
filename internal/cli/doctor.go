package cli

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/doctor"
	"github.com/tlsgate/tlsgate/internal/pki"
)

// doctorFlags are the options of `tlsgate doctor`.
type doctorFlags struct {
	caCert, serverName    string
	clientCert, clientKey string
	asJSON, offline       bool
	verbose               bool
	timeout               time.Duration
	dataDir               dataDirFlag
	keyPass               *passphraseSource
}

func newDoctorCmd(e *env) *cobra.Command {
	var f doctorFlags
	cmd := &cobra.Command{
		Use:   "doctor URL [--cacert FILE] [--servername NAME] [--client-cert F --client-key F] [--json]",
		Short: "Connect to a URL and explain in plain words every TLS problem found",
		Long: `Connect to URL the way a browser or curl would and explain every problem:
connection refused or timed out, plain HTTP on a TLS port (and TLS on an
http:// URL), a name the certificate does not cover, an unknown or untrusted
CA (including tlsgate's own local CA), a missing intermediate, expired or
not-yet-valid certificates (with the dates and this machine's clock),
self-signed certificates, old TLS versions, a required or refused client
certificate, OCSP revocation and must-staple, HSTS and HTTP/2. It also says
whether the root is in the system store, the NSS database (Chromium) and
the bundle Python uses.

Each finding gives the facts seen and one fix. Exit status: 0 when healthy
(warnings allowed), 1 when any error was found, 2 for bad usage.`,
		Example: `  tlsgate doctor https://localhost:8443/
  tlsgate doctor https://127.0.0.1:8443/ --cacert "$(tlsgate ca cert --path)"
  tlsgate doctor https://api.internal/ --client-cert me.crt --client-key me.key
  tlsgate doctor http://localhost:8080/ --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usage(errors.New("give a URL, e.g. 'tlsgate doctor https://localhost:8443/'"))
			}
			opts, err := f.options(e, args[0])
			if err != nil {
				return err
			}
			rep, err := doctor.Diagnose(cmd.Context(), opts)
			if err != nil {
				return usage(err)
			}
			if f.asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				printDoctor(e.stdout, rep, f.verbose)
			}
			if !rep.Healthy {
				return exitError{exitFailure}
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.caCert, "cacert", "", "PEM file of roots to trust instead of the system store (as curl --cacert)")
	fs.StringVar(&f.serverName, "servername", "", "name to send as SNI and to check the certificate against (default: the URL's host)")
	fs.StringVar(&f.clientCert, "client-cert", "", "client certificate (PEM, may hold its chain) for servers that ask for one")
	fs.StringVar(&f.clientKey, "client-key", "", "private key of --client-cert (default: the --client-cert file)")
	fs.BoolVar(&f.asJSON, "json", false, "print the report as JSON for scripts")
	fs.BoolVarP(&f.verbose, "verbose", "v", false, "show the facts of informational findings too")
	fs.BoolVar(&f.offline, "offline", false, "contact only the server: fetch no missing intermediates, ask no OCSP responder")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "time limit for each network step")
	f.dataDir.register(fs)
	f.keyPass = newPassphraseSource(fs, "client-key-passphrase-file", envKeyPassphrase, "the client key")
	return cmd
}

// options turns the flags into doctor.Options.
func (f *doctorFlags) options(e *env, url string) (doctor.Options, error) {
	opts := doctor.Options{
		URL: url, ServerName: f.serverName, Timeout: f.timeout, Offline: f.offline,
		Stores: doctor.TrustStores{Getenv: e.getenv},
	}
	if f.timeout <= 0 {
		return opts, usage(fmt.Errorf("--timeout %v: give a positive duration such as 10s", f.timeout))
	}
	dataDir := f.dataDir.dir
	if dataDir == "" {
		dataDir = config.DefaultDataDir(config.DefaultsEnv{LookupEnv: func(k string) (string, bool) {
			v := e.getenv(k)
			return v, v != ""
		}})
	} else {
		dataDir = f.dataDir.path()
		opts.DataDirArg = " --data-dir " + shellQuote(dataDir)
	}
	opts.LocalCADir = pki.LocalCADir(dataDir)
	if f.caCert != "" {
		pool, err := loadRoots(f.caCert)
		if err != nil {
			return opts, usage(err)
		}
		opts.Roots, opts.RootsFile = pool, f.caCert
	}
	if f.clientKey != "" && f.clientCert == "" {
		return opts, usage(errors.New("--client-key needs --client-cert"))
	}
	if f.clientCert != "" {
		cert, err := f.loadClientCert(e)
		if err != nil {
			return opts, err
		}
		opts.ClientCert, opts.ClientCertFile = cert, f.clientCert
	}
	return opts, nil
}

func loadRoots(path string) (*x509.CertPool, error) {
	pool, err := pki.CertPoolFromFiles(pki.PoolStrict, path)
	if err != nil {
		return nil, fmt.Errorf("--cacert: %w", err)
	}
	return pool, nil
}

// loadClientCert reads --client-cert and --client-key (which may be
// encrypted) into a tls.Certificate.
func (f *doctorFlags) loadClientCert(e *env) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(f.clientCert)
	if err != nil {
		return nil, usage(fmt.Errorf("--client-cert: %w", err))
	}
	certs, err := pki.ParseCertificatesPEM(certPEM)
	if err != nil {
		return nil, usage(fmt.Errorf("--client-cert %s: %w", f.clientCert, err))
	}
	keyPath := f.clientKey
	if keyPath == "" {
		keyPath = f.clientCert
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, usage(fmt.Errorf("--client-key: %w", err))
	}
	out := &tls.Certificate{Leaf: certs[0]}
	for _, c := range certs {
		out.Certificate = append(out.Certificate, c.Raw)
	}
	err = f.keyPass.unlock(e, keyPath, keyPEM, func(pass []byte) error {
		key, err := pki.ParsePrivateKeyPEM(keyPEM, pass)
		if err != nil {
			return err
		}
		out.PrivateKey = key
		return nil
	})
	if err != nil {
		return nil, usage(fmt.Errorf("--client-key %s: %w", keyPath, err))
	}
	if k, ok := out.PrivateKey.(interface{ Public() any }); ok {
		if eq, ok := k.Public().(interface{ Equal(any) bool }); ok && !eq.Equal(certs[0].PublicKey) {
			return nil, usage(fmt.Errorf("--client-key %s does not belong to the certificate in %s", keyPath, f.clientCert))
		}
	}
	return out, nil
}

// printDoctor writes the human report: what was connected to, the
// findings, and a one-line verdict.
func printDoctor(w io.Writer, r *doctor.Report, verbose bool) {
	fmt.Fprintf(w, "Checking %s\n", r.URL)
	if r.RedirectedTo != "" {
		fmt.Fprintf(w, "  redirected to %s\n", r.RedirectedTo)
	}
	sni := r.ServerName
	if sni == "" {
		sni = "none (IP address)"
	}
	fmt.Fprintf(w, "  address:     %s, SNI: %s, name checked: %s\n", r.Address, sni, r.VerifyName)
	if r.TLSVersion != "" {
		alpn := r.ALPN
		if alpn == "" {
			alpn = "none"
		}
		fmt.Fprintf(w, "  connection:  %s, %s, ALPN %s\n", r.TLSVersion, r.CipherSuite, alpn)
	}
	for i, c := range r.Chain {
		label := "certificate:"
		if i > 0 {
			label = "  then:"
		}
		fmt.Fprintf(w, "  %-12s %s [%s], issuer %s, valid %s to %s\n", label, c.Subject, orNone(c.SANs), c.Issuer,
			c.NotBefore.UTC().Format(time.DateTime), c.NotAfter.UTC().Format(time.DateTime))
	}
	fmt.Fprintf(w, "  clock:       %s\n\n", r.Clock.UTC().Format("2006-01-02 15:04:05 UTC"))
	for _, f := range r.Findings {
		printFinding(w, f, verbose)
	}
	fmt.Fprintf(w, "\nVerdict: %s\n", r.Verdict)
}

func printFinding(w io.Writer, f doctor.Finding, verbose bool) {
	label := map[doctor.Severity]string{doctor.Error: "ERROR", doctor.Warning: "WARN", doctor.Info: "ok"}[f.Severity]
	fmt.Fprintf(w, "%-6s %s [%s]\n", label, f.Summary, f.Code)
	if f.Severity == doctor.Info && !verbose {
		return
	}
	for _, fact := range f.Facts {
		fmt.Fprintf(w, "         %s: %s\n", fact.Name, fact.Value)
	}
	if f.Fix != "" {
		fmt.Fprintf(w, "         fix: %s\n", f.Fix)
	}
}
