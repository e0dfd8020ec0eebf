package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/spf13/cobra"

	"github.com/tlsgate/tlsgate/internal/certs"
	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/server"
	"github.com/tlsgate/tlsgate/internal/storage"
)

func newCertsCmd(e *env) *cobra.Command {
	var cf configFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "certs [-c FILE | --data-dir DIR] [--json]",
		Short: "List managed certificates: names, issuer, expiry, next renewal, last error",
		Long: `List the certificates tlsgate manages. With a config whose instance is
running, the list comes from its admin API (and includes file and ad-hoc
certificates, and names still waiting for their first certificate); otherwise
it is read from the data directory.

Let's Encrypt no longer e-mails before a certificate expires: check the LAST
ERROR column, or alert on tlsgate_certificate_not_after_seconds from /metrics.`,
		Example: `  tlsgate certs -c tlsgate.yaml
  tlsgate certs --data-dir /var/lib/tlsgate --json | jq '.[] | select(.last_error != "")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			list, err := listCerts(cmd.Context(), e, &cf)
			if err != nil {
				return err
			}
			if asJSON {
				if list == nil {
					list = []certs.CertInfo{}
				}
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(list)
			}
			printCertTable(e.stdout, list, time.Now())
			return nil
		},
	}
	cf.register(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON for scripts")
	return cmd
}

// listCerts asks a running instance when the config names one that answers,
// and reads the data directory otherwise.
func listCerts(ctx context.Context, e *env, cf *configFlags) ([]certs.CertInfo, error) {
	if cf.file == "" && cf.dataDir != "" {
		return certs.ListStored(ctx, &certmagic.FileStorage{Path: cf.dataDir})
	}
	cfg, err := cf.load(e)
	if err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	if addr := *cfg.Admin; addr != "" {
		var list []certs.CertInfo
		err := adminCall(ctx, addr, http.MethodGet, "/certs", &list)
		if err == nil {
			return list, nil
		}
		if !errors.Is(err, errNotRunning) {
			return nil, err
		}
	}
	// No instance answers: read the config's storage (file or etcd).
	store, closer, err := storage.Open(cfg.Storage, cfg.DataDir, nil)
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return certs.ListStored(ctx, store)
}

func printCertTable(w io.Writer, list []certs.CertInfo, now time.Time) {
	if len(list) == 0 {
		fmt.Fprintln(w, "No certificates yet.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMES\tSOURCE\tISSUER\tNOT AFTER\tNEXT RENEWAL\tLAST ERROR")
	for _, c := range list {
		lastErr := c.LastError
		if c.NextAttempt != nil {
			lastErr += " (next attempt " + c.NextAttempt.Local().Format("2006-01-02 15:04") + ")"
		}
		if len(lastErr) > 120 {
			lastErr = lastErr[:117] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", strings.Join(c.Names, ","), c.Source, orDash(c.Issuer),
			whenLeft(c.NotAfter, now), whenLeft(c.NextRenewal, now), orDash(lastErr))
	}
	tw.Flush()
}

func whenLeft(t *time.Time, now time.Time) string {
	if t == nil {
		return "-"
	}
	days := int(t.Sub(now).Hours() / 24)
	return fmt.Sprintf("%s (%dd)", t.Local().Format("2006-01-02 15:04"), days)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newRenewCmd(e *env) *cobra.Command {
	var cf configFlags
	var force bool
	cmd := &cobra.Command{
		Use:   "renew [-c FILE] [--force] NAME...",
		Short: "Renew certificates now",
		Long: `Renew the certificates of NAME...; each returns when the new certificate is
in service, printing its serial and expiry. With a running instance the work is
done by it, through its admin API. With none, tlsgate starts the config's
listeners just long enough to answer the CA's challenges, renews, and stops.

Without --force only certificates that are due are renewed. --force also clears
the backoff that failed attempts left behind.`,
		Example: `  tlsgate renew -c tlsgate.yaml app.example.com
  tlsgate renew -c tlsgate.yaml --force app.example.com www.app.example.com`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			renew, done, err := renewer(cmd.Context(), e, &cf)
			if err != nil {
				return err
			}
			defer done()
			var errs []error
			for _, name := range args {
				fmt.Fprintf(e.stderr, "renewing %s ...\n", name)
				info, err := renew(cmd.Context(), strings.ToLower(name), force)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				notAfter := "-"
				if info.NotAfter != nil {
					notAfter = info.NotAfter.Format(time.RFC3339)
				}
				fmt.Fprintf(e.stdout, "%s: serial %s, not after %s\n", name, info.Serial, notAfter)
			}
			return errors.Join(errs...)
		},
	}
	cf.register(cmd.Flags())
	cmd.Flags().BoolVar(&force, "force", false, "renew even when not due, and retry now despite backoff")
	return cmd
}

type renewFunc func(ctx context.Context, name string, force bool) (certs.CertInfo, error)

// renewer renews through the running instance's admin API when one answers,
// and otherwise through an instance of its own, started for the purpose
// (done stops it).
func renewer(ctx context.Context, e *env, cf *configFlags) (renew renewFunc, done func(), err error) {
	cfg, err := cf.load(e)
	if err != nil {
		return nil, nil, err
	}
	if addr := *cfg.WithDefaults().Admin; addr != "" {
		err := adminCall(ctx, addr, http.MethodGet, "/status", nil)
		if err == nil {
			return func(ctx context.Context, name string, force bool) (certs.CertInfo, error) {
				return renewByAdmin(ctx, addr, name, force)
			}, func() {}, nil
		}
		if !errors.Is(err, errNotRunning) {
			return nil, nil, err
		}
	}
	fmt.Fprintln(e.stderr, "no running instance answers; starting the config's listeners to renew")
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.New(ctx, server.Options{
		Load:    func() (*config.Config, error) { return cfg, nil },
		Version: version(),
		Logger:  logger,
	})
	if err != nil {
		var ce *server.ConfigError
		if errors.As(err, &ce) {
			return nil, nil, usage(err)
		}
		return nil, nil, err
	}
	return srv.Renew, func() { _ = srv.Close() }, nil
}

func renewByAdmin(ctx context.Context, addr, name string, force bool) (certs.CertInfo, error) {
	q := url.Values{"name": {name}}
	if force {
		q.Set("force", "1")
	}
	var info certs.CertInfo
	if err := adminCall(ctx, addr, http.MethodPost, "/renew?"+q.Encode(), &info); err != nil {
		return info, err
	}
	if info.Serial == "" {
		return info, fmt.Errorf("%s: the program on %s did not answer like tlsgate; is admin the address of a tlsgate instance?", name, addr)
	}
	return info, nil
}
