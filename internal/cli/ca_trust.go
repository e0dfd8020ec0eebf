package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tlsgate/tlsgate/internal/pki"
	"github.com/tlsgate/tlsgate/internal/truststore"
)

// trustOptions are the trust stores of this machine and user.
func (e *env) trustOptions() truststore.Options {
	return truststore.Options{
		Home:   e.getenv("HOME"),
		IsRoot: os.Geteuid() == 0,
		System: truststore.DefaultSystemStore(),
		Java:   truststore.DefaultJavaStore(e.getenv("JAVA_HOME"), exec.LookPath),
	}
}

// dataDirArg repeats --data-dir in suggested commands when the user gave
// it, and always for sudo (root's default data directory differs).
func dataDirArg(df *dataDirFlag, always bool) string {
	if df.dir == "" && !always {
		return ""
	}
	return " --data-dir " + shellQuote(df.path())
}

func newCATrustCmd(e *env, install bool) *cobra.Command {
	var df dataDirFlag
	var stores string
	name, verb := "trust", "Install"
	if !install {
		name, verb = "untrust", "Remove"
	}
	cmd := &cobra.Command{
		Use:   name + " [--data-dir DIR] [--stores system,nss,java]",
		Short: verb + " the local CA's root in the system and browser trust stores",
		Long: verb + ` the local root certificate in the system trust store (Debian, Ubuntu and
Alpine: /usr/local/share/ca-certificates; Fedora and RHEL: /etc/pki/ca-trust;
macOS: the System keychain), in NSS databases (Chromium's ~/.pki/nssdb and
Firefox profiles, with certutil from libnss3-tools) and in the Java keystore
(with keytool). --stores limits which; by default every one found is used.
The system store needs root; the command says what it changed and what it
skipped, and why.

Python's requests and httpx trust certifi's bundle, not the system store: use
'eval "$(tlsgate ca env)"' for them.`,
		Example: `  sudo tlsgate ca ` + name + ` --data-dir ~/.local/share/tlsgate
  tlsgate ca ` + name + ` --stores nss`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			list, err := truststore.ParseStores(stores)
			if err != nil {
				return usage(fmt.Errorf("--stores: %w", err))
			}
			root, err := localRoot(e, &df, install)
			if err != nil {
				return err
			}
			var res []truststore.Result
			if install {
				res = truststore.Install(cmd.Context(), root, list, e.trustOptions())
			} else {
				res = truststore.Uninstall(cmd.Context(), root, list, e.trustOptions())
			}
			return reportTrust(e.stdout, res, root, &df, name, cmd.Flags().Changed("stores"))
		},
	}
	df.register(cmd.Flags())
	cmd.Flags().StringVar(&stores, "stores", "", "comma-separated stores to change: system, nss, java (default: all found)")
	return cmd
}

// localRoot loads the local CA's root; trust creates the CA first if needed.
func localRoot(e *env, df *dataDirFlag, create bool) (truststore.Root, error) {
	dir := pki.LocalCADir(df.path())
	var ca *pki.CA
	var err error
	if create {
		var created bool
		ca, created, err = pki.InitLocalCA(dir, "")
		if created {
			fmt.Fprintf(e.stdout, "Created the local CA in %s\n", dir)
		}
	} else {
		ca, err = pki.LoadLocalCA(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return truststore.Root{}, fmt.Errorf("no local CA in %s, so there is nothing to remove (give --data-dir if it lives elsewhere)", dir)
		}
	}
	if err != nil {
		return truststore.Root{}, err
	}
	return truststore.Root{Cert: ca.Root, Path: pki.RootCertPath(dir)}, nil
}

func reportTrust(w io.Writer, res []truststore.Result, root truststore.Root, df *dataDirFlag, name string, explicit bool) error {
	fmt.Fprintf(w, "Local CA root %q (%s):\n", root.Cert.Subject.CommonName, root.Path)
	var failed, skipped int
	needsRoot := false
	for _, r := range res {
		fmt.Fprintf(w, "  %s\n", r)
		switch {
		case r.Err != nil:
			failed++
		case r.Skipped:
			skipped++
			needsRoot = needsRoot || r.NeedsRoot
		}
	}
	if needsRoot {
		fmt.Fprintf(w, "To change the system store too, run:\n  sudo tlsgate ca %s --stores system%s\n", name, dataDirArg(df, true))
	}
	if name == "trust" {
		fmt.Fprintf(w, "Python requests and httpx use certifi's bundle, not the system store; for them (and Node, curl) run:\n  eval \"$(tlsgate ca env%s)\"\n", dataDirArg(df, false))
	}
	switch {
	case failed > 0:
		return fmt.Errorf("%d trust store(s) could not be changed; see above", failed)
	case explicit && skipped > 0:
		return fmt.Errorf("%d of the trust stores asked for with --stores were skipped; see above", skipped)
	}
	return nil
}

func newCAEnvCmd(e *env) *cobra.Command {
	var df dataDirFlag
	var shell string
	cmd := &cobra.Command{
		Use:   "env [--data-dir DIR] [--shell sh|fish|powershell]",
		Short: "Print environment exports that make Python, Node and curl trust the local CA",
		Long: `Write a bundle of the system's trusted roots plus the local root to
DATA_DIR/ca/bundle.pem and print the exports that point clients at it:
SSL_CERT_FILE (Python ssl/urllib, OpenSSL), REQUESTS_CA_BUNDLE (requests),
CURL_CA_BUNDLE (curl) and NODE_EXTRA_CA_CERTS (Node, the local root alone; Node
adds it to its own roots). httpx reads SSL_CERT_FILE. Public sites keep
working, since the bundle holds the system roots too. Run it again after the
system's roots change.`,
		Example: `  eval "$(tlsgate ca env)"
  tlsgate ca env --shell fish | source
  tlsgate ca env --shell powershell | Invoke-Expression`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, ok := exportLine(shell, "", ""); !ok {
				return usage(fmt.Errorf("--shell %q: use sh, fish or powershell", shell))
			}
			dir := pki.LocalCADir(df.path())
			_, created, err := pki.InitLocalCA(dir, "")
			if err != nil {
				return err
			}
			if created {
				fmt.Fprintf(e.stderr, "Created the local CA in %s\n", dir)
			}
			rootPath := pki.RootCertPath(dir)
			rootPEM, err := os.ReadFile(rootPath)
			if err != nil {
				return err
			}
			bundle, from, err := truststore.Bundle(truststore.SystemBundlePaths(), rootPEM)
			if err != nil {
				return err
			}
			bundlePath := filepath.Join(dir, "bundle.pem")
			if err := pki.WriteFile(bundlePath, bundle, 0o644, true); err != nil {
				return err
			}
			if from == "" {
				fmt.Fprintln(e.stderr, "tlsgate: no system root bundle found; the bundle holds only the local root, so public HTTPS sites will fail with these settings")
				from = "no system roots found"
			}
			w := e.stdout
			fmt.Fprintf(w, "# tlsgate local CA bundle: the system roots (%s) plus %s\n", from, rootPath)
			for _, kv := range [][2]string{
				{"SSL_CERT_FILE", bundlePath},
				{"REQUESTS_CA_BUNDLE", bundlePath},
				{"CURL_CA_BUNDLE", bundlePath},
				{"NODE_EXTRA_CA_CERTS", rootPath},
			} {
				line, _ := exportLine(shell, kv[0], kv[1])
				fmt.Fprint(w, line)
			}
			fmt.Fprintf(w, "# Run this command as: %s\n", evalHint(shell, dataDirArg(&df, false)))
			return nil
		},
	}
	df.register(cmd.Flags())
	cmd.Flags().StringVar(&shell, "shell", "sh", "syntax of the exports: sh (also bash, zsh), fish or powershell")
	return cmd
}

// exportLine is `export NAME=VALUE` in shell's syntax, with VALUE quoted
// for it; ok is false for a shell we do not know.
func exportLine(shell, name, value string) (line string, ok bool) {
	switch shell {
	case "sh":
		return fmt.Sprintf("export %s=%s\n", name, shellQuote(value)), true
	case "fish":
		q := "'" + strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(value) + "'"
		return fmt.Sprintf("set -gx %s %s;\n", name, q), true
	case "powershell":
		return fmt.Sprintf("$env:%s = '%s'\n", name, strings.ReplaceAll(value, "'", "''")), true
	}
	return "", false
}

// evalHint is how to apply `tlsgate ca env` in shell.
// args are extra arguments such as " --data-dir DIR".
func evalHint(shell, args string) string {
	switch shell {
	case "fish":
		return "tlsgate ca env --shell fish" + args + " | source"
	case "powershell":
		return "tlsgate ca env --shell powershell" + args + " | Invoke-Expression"
	}
	return `eval "$(tlsgate ca env` + args + `)"`
}

// shellQuote single-quotes s for sh when it holds anything but plain path
// characters.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+:@%=,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
