package cli

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/server"
)

// proxyFlags are the options of the quick mode.
type proxyFlags struct {
	to        []string
	from      []string
	tls       string
	cors      []string
	dataDir   dataDirFlag
	httpPort  int
	httpsPort int
	logs      logFlags
	// waitTimeout bounds the wait for the app started after "--".
	waitTimeout time.Duration
}

func newProxyCmd(e *env) *cobra.Command {
	var pf proxyFlags
	cmd := &cobra.Command{
		Use:   "proxy --to URL [--from HOST[:PORT]]... [--tls MODE] [-- CMD [ARGS...]]",
		Short: "Put HTTPS in front of one app, no config file needed",
		Long: `Quick mode: serve https://HOST:PORT/ and forward every request to the app at
--to, with the X-Forwarded-* and Forwarded headers apps need. Local names
(localhost, *.test, IP addresses, ...) get a certificate from tlsgate's local CA,
which is created on first use; the command prints its path and a curl line that
trusts it.

Without root the ports are 8443 (HTTPS) and 8080 (HTTP, redirects to HTTPS);
as root 443 and 80. --http-port 0 turns plain HTTP off.

With -- CMD [ARGS...], tlsgate also starts your app: CMD runs as a child in
its own process group, with PORT set to --to's port, and its output goes
unchanged to tlsgate's stdout and stderr. tlsgate serves once --to accepts
connections (up to --wait-timeout). Ctrl+C or SIGTERM drains tlsgate, then
goes to the app; tlsgate exits 0 when the app ends by that signal or with 0.
When the app exits on its own, tlsgate drains and exits with its status.
Nothing the app started is left running.`,
		Example: `  # Start the app and put HTTPS in front of it, in one command:
  tlsgate proxy --to http://127.0.0.1:8000 -- uvicorn main:app --port 8000
  tlsgate proxy --to http://127.0.0.1:5000 -- flask --app app run

  # FastAPI on Uvicorn (start it with --proxy-headers):
  uvicorn main:app --port 8000 --proxy-headers &
  tlsgate proxy --to http://127.0.0.1:8000

  # A Vite dev server on :5173 calling the API behind tlsgate:
  tlsgate proxy --to http://127.0.0.1:8000 --cors-origin http://localhost:5173

  # Two names, other ports, a unix-socket upstream:
  tlsgate proxy --to unix:/run/app.sock --from localhost --from app.test --https-port 9443`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && cmd.ArgsLenAtDash() != 0 {
				return usage(fmt.Errorf("unexpected argument %q; put the command that starts your app after --, e.g. tlsgate proxy --to http://127.0.0.1:8000 -- uvicorn main:app --port 8000", args[0]))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			for i, to := range pf.to {
				pf.to[i] = expandTo(to)
			}
			cfg, err := pf.config()
			if err != nil {
				return usage(err)
			}
			if err := cfg.Validate(); err != nil {
				return usage(err)
			}
			logger, err := pf.logs.logger(e.stderr)
			if err != nil {
				return err
			}
			opts := server.Options{
				Load:    func() (*config.Config, error) { return cfg, nil },
				Version: version(),
				Logger:  logger,
			}
			if len(args) > 0 {
				return pf.serveWithApp(cmd.Context(), e, cfg, opts, args)
			}
			return serve(cmd.Context(), opts, func(s *server.Server) { pf.printReady(e, cfg, s) })
		},
	}
	root := os.Geteuid() == 0
	defHTTPS, defHTTP := 8443, 8080
	if root {
		defHTTPS, defHTTP = 443, 80
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&pf.to, "to", nil, "the app's address: http://HOST:PORT or unix:/path.sock; :PORT means http://127.0.0.1:PORT (repeat for round robin)")
	fs.StringArrayVar(&pf.from, "from", []string{"localhost"}, "name to serve, optionally with the HTTPS port (repeatable)")
	fs.StringVar(&pf.tls, "tls", "", "certificate source: local, adhoc or acme (default: local for local names, else acme)")
	fs.StringArrayVar(&pf.cors, "cors-origin", nil, "allow browser calls from this origin, e.g. http://localhost:5173 (repeatable; \"*\" for any, without credentials)")
	fs.IntVar(&pf.httpsPort, "https-port", defHTTPS, "HTTPS port")
	fs.IntVar(&pf.httpPort, "http-port", defHTTP, "plain HTTP port that redirects to HTTPS; 0 turns it off")
	fs.DurationVar(&pf.waitTimeout, "wait-timeout", defaultWaitTimeout, "with -- CMD: how long to wait for the app to accept connections on --to")
	pf.dataDir.register(fs)
	pf.logs.register(fs)
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

// expandTo reads the short forms of --to that people type for an app on
// this machine: ":8000" and "8000" are http://127.0.0.1:8000 (where
// uvicorn and flask run listen by default), "HOST:PORT" is
// http://HOST:PORT. A URL or a unix: path is kept as given, and so is
// anything else, for the config's own error.
func expandTo(to string) string {
	if strings.Contains(to, "://") || strings.HasPrefix(to, "unix:") {
		return to
	}
	addr := to
	if !strings.Contains(addr, ":") {
		addr = ":" + addr
	}
	host, port, err := net.SplitHostPort(addr)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 1 || n > 65535 {
		return to
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// config builds the config the quick mode serves.
func (pf *proxyFlags) config() (*config.Config, error) {
	httpsPort := pf.httpsPort
	fromPort := "" // the --from that set httpsPort, for the error
	var hosts []string
	for _, f := range pf.from {
		host, port, err := net.SplitHostPort(f)
		if err != nil {
			host = f
		} else {
			n, err := strconv.Atoi(port)
			if err != nil || n <= 0 || n > 65535 {
				return nil, fmt.Errorf("--from %s: the port must be a number from 1 to 65535", f)
			}
			if fromPort != "" && n != httpsPort {
				return nil, fmt.Errorf("--from %s and --from %s name different ports; one HTTPS port serves every name", fromPort, f)
			}
			httpsPort, fromPort = n, f
		}
		hosts = append(hosts, strings.ToLower(strings.Trim(host, "[]")))
	}
	if len(pf.to) == 0 {
		return nil, errors.New("--to is required: the address of your app, e.g. --to http://127.0.0.1:8000")
	}
	httpsAddr := ":" + strconv.Itoa(httpsPort)
	httpAddr := ""
	if pf.httpPort > 0 {
		httpAddr = ":" + strconv.Itoa(pf.httpPort)
	}
	off := ""
	site := config.Site{Hosts: hosts, Routes: []config.Route{{Path: "/", To: pf.to}}}
	if pf.tls != "" {
		site.TLS = &config.TLS{Mode: pf.tls}
	}
	if len(pf.cors) > 0 {
		// A dev frontend on another port calling its API: any method and
		// header, and cookies unless every origin is allowed (browsers
		// refuse credentials with "*").
		site.CORS = &config.CORS{
			AllowOrigins:     pf.cors,
			AllowMethods:     []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"},
			AllowHeaders:     []string{"*"},
			AllowCredentials: !slices.Contains(pf.cors, "*"),
		}
	}
	return &config.Config{
		DataDir: pf.dataDir.path(),
		Listen:  config.Listen{HTTP: &httpAddr, HTTPS: &httpsAddr},
		Admin:   &off,
		Sites:   []config.Site{site},
	}, nil
}

// printReady tells the user where to go next, once the listeners are bound.
func (pf *proxyFlags) printReady(e *env, cfg *config.Config, s *server.Server) {
	port := 443
	if a, ok := s.Addr("https").(*net.TCPAddr); ok {
		port = a.Port
	}
	host := cfg.Sites[0].Hosts[0]
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	url := "https://" + host + "/"
	if port != 443 {
		url = fmt.Sprintf("https://%s:%d/", host, port)
	}
	w := e.stdout
	fmt.Fprintf(w, "Serving %s -> %s\n", url, strings.Join(pf.to, ", "))
	if mode := cfg.Sites[0].TLS; mode == nil && config.DefaultTLSMode(cfg.Sites[0].Hosts) == config.TLSLocal || mode != nil && mode.Mode == config.TLSLocal {
		root := s.LocalRootPath()
		fmt.Fprintf(w, "Certificates come from tlsgate's local CA; its root certificate is\n  %s\n", root)
		fmt.Fprintf(w, "Try it:\n  curl --cacert %s %s\n", root, url)
		dd := ""
		if pf.dataDir.dir != "" {
			dd = " --data-dir " + cfg.DataDir
		}
		fmt.Fprintf(w, "Trust it in browsers and the system store:  tlsgate ca trust%s\n", dd)
		fmt.Fprintf(w, "Trust it in Python requests/httpx and Node:  eval \"$(tlsgate ca env%s)\"\n", dd)
	}
	if a := s.Addr("http"); a != nil {
		fmt.Fprintf(w, "Plain HTTP on %s redirects to HTTPS.\n", a)
	}
	fmt.Fprintln(w, "Press Ctrl+C to stop.")
}
