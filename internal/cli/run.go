package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/server"
)

// configFlags are how commands find the config file.
type configFlags struct {
	file    string
	envFile string
	dataDir string
}

func (f *configFlags) register(fs *pflag.FlagSet) {
	fs.StringVarP(&f.file, "config", "c", "", "config file (default ./tlsgate.yaml, else $TLSGATE_CONFIG)")
	fs.StringVar(&f.envFile, "env-file", "", "load variables for ${VAR} expansion from this .env file")
	fs.StringVar(&f.dataDir, "data-dir", "", "data directory (overrides data_dir in the config)")
}

// path resolves the config file name.
func (f *configFlags) path(e *env) (string, error) {
	if f.file != "" {
		return f.file, nil
	}
	if _, err := os.Stat("tlsgate.yaml"); err == nil {
		return "tlsgate.yaml", nil
	}
	if p := e.getenv("TLSGATE_CONFIG"); p != "" {
		return p, nil
	}
	return "", usage(errors.New("no config file: pass -c FILE, create ./tlsgate.yaml, or set TLSGATE_CONFIG (for one app without a config, try: tlsgate proxy --to http://127.0.0.1:8000)"))
}

// load reads and validates the config; its errors are the user's to fix.
func (f *configFlags) load(e *env) (*config.Config, error) {
	path, err := f.path(e)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(path, config.LoadOptions{EnvFile: f.envFile})
	if errors.Is(err, fs.ErrNotExist) {
		if _, statErr := os.Stat(path); statErr != nil {
			return nil, usage(fmt.Errorf("config file %s does not exist; pass the right one with -c FILE (examples/ has working configs)", path))
		}
	}
	if err != nil {
		return nil, usage(err)
	}
	if f.dataDir != "" {
		cfg.DataDir = f.dataDir
	}
	return cfg, nil
}

func newRunCmd(e *env) *cobra.Command {
	var cf configFlags
	var lf logFlags
	cmd := &cobra.Command{
		Use:   "run [-c FILE] [--env-file FILE]",
		Short: "Serve every site in the config file",
		Long: `Serve every site in the config file until stopped.

SIGHUP (or 'tlsgate reload') reloads the config: a config that does not load,
validate or compile is logged and the one in service keeps serving.
SIGINT/SIGTERM stop accepting connections, let requests in flight finish
(up to shutdown_timeout), and exit 0.

Under systemd with Type=notify (NOTIFY_SOCKET set), tlsgate reports READY=1
once its listeners are bound, RELOADING=1 and then READY=1 around every
reload, and STOPPING=1 when shutdown starts. Without NOTIFY_SOCKET it sends
nothing.`,
		Example: `  tlsgate run -c tlsgate.yaml
  tlsgate run -c tlsgate.yaml --env-file .env --log-format json
  TLSGATE_CONFIG=/etc/tlsgate/tlsgate.yaml tlsgate run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			logger, err := lf.logger(e.stderr)
			if err != nil {
				return err
			}
			return serve(cmd.Context(), server.Options{
				Load:    func() (*config.Config, error) { return cf.load(e) },
				Version: version(),
				Logger:  logger,
			}, nil)
		},
	}
	cf.register(cmd.Flags())
	lf.register(cmd.Flags())
	return cmd
}

// serve starts a server and runs it until SIGINT or SIGTERM; SIGHUP reloads.
// ready, when set, is called once the listeners are bound.
func serve(ctx context.Context, opts server.Options, ready func(*server.Server)) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serveUntil(ctx, opts, ready)
}

// serveUntil starts a server and runs it until ctx ends, then drains it;
// SIGHUP reloads. ready, when set, is called once the listeners are bound.
func serveUntil(ctx context.Context, opts server.Options, ready func(*server.Server)) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// SIGUSR1 reopens the access log (logrotate's convention); registered
	// before the server exists so an early signal does not kill it.
	usr1 := make(chan os.Signal, 1)
	if len(reopenSignals) > 0 {
		signal.Notify(usr1, reopenSignals...)
		defer signal.Stop(usr1)
	}
	reload := make(chan struct{})
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				select {
				case reload <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()

	if opts.Notify == nil {
		opts.Notify = sdNotifier(opts.Logger)
	}
	srv, err := server.New(ctx, opts)
	if err != nil {
		var ce *server.ConfigError
		if errors.As(err, &ce) {
			return usage(err)
		}
		return err
	}
	opts.Notify("READY=1") // listeners are bound
	if ready != nil {
		ready(srv)
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-usr1:
				srv.ReopenLogs()
			}
		}
	}()
	if err := srv.Run(ctx, reload); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

// sdNotifier sends states to systemd over $NOTIFY_SOCKET (Type=notify);
// without NOTIFY_SOCKET it does nothing. A failed write is logged, never
// fatal: serving matters more than telling systemd.
func sdNotifier(logger *slog.Logger) func(string) {
	return func(state string) {
		if _, err := daemon.SdNotify(false, state); err != nil && logger != nil {
			logger.Warn("telling systemd the service state failed", "state", state, "error", err)
		}
	}
}
