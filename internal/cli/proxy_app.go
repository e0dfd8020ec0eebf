package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/launch"
	"github.com/tlsgate/tlsgate/internal/server"
)

// defaultWaitTimeout is how long `proxy -- CMD` waits for the app to
// accept connections before it gives up.
const defaultWaitTimeout = 30 * time.Second

// serveWithApp is `tlsgate proxy --to URL -- CMD [ARGS...]`: start CMD,
// wait until --to accepts connections, serve until a signal or the app's
// exit, and leave nothing of the app running.
//
// On SIGINT/SIGTERM the server drains first, while the app still answers
// the requests in flight, and then the signal goes to the app's process
// group. Exit status: 0 after a signal when the app ends by that signal
// or with status 0; otherwise the app's status.
func (pf *proxyFlags) serveWithApp(ctx context.Context, e *env, cfg *config.Config, opts server.Options, argv []string) error {
	if len(pf.to) != 1 {
		return usage(errors.New("with -- CMD, give exactly one --to: the address CMD listens on"))
	}
	target, err := launch.ParseTarget(pf.to[0])
	if err != nil {
		return usage(fmt.Errorf("--to: %w", err))
	}
	// Before the child starts, so that no signal is missed.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	environ := os.Environ()
	if target.Port != "" {
		environ = append(environ, "PORT="+target.Port) // exec keeps the last PORT
	}
	child, err := launch.Start(argv[0], argv[1:], launch.Options{Env: environ, Stdout: e.stdout, Stderr: e.stderr})
	if err != nil {
		return err
	}
	defer child.Kill() // every path out ends the app's whole process group
	app := appName(argv)
	fmt.Fprintf(e.stderr, "tlsgate: started %s as PID %d; waiting for it to accept connections on %s\n", app, child.PID(), target)

	ctx, cancel := context.WithCancel(ctx)
	var stopSig os.Signal // set by watch before it cancels; read after <-watched
	watched := make(chan struct{})
	go func() { // watch: the first signal or the app's exit ends serving
		defer close(watched)
		select {
		case stopSig = <-sigs:
		case <-child.Done():
		case <-ctx.Done():
		}
		cancel()
	}()
	stopWatch := func() { cancel(); <-watched }
	defer stopWatch()

	grace := time.Duration(cfg.WithDefaults().ShutdownTimeout)
	wctx, wcancel := context.WithTimeout(ctx, pf.waitTimeout)
	err = launch.WaitListening(wctx, target, child)
	wcancel()
	if err != nil {
		stopWatch()
		return pf.notListening(e, child, app, target, stopSig, grace, err)
	}
	if err := serveUntil(ctx, opts, func(s *server.Server) { pf.printReady(e, cfg, s) }); err != nil {
		stopWatch()
		child.Stop(syscall.SIGTERM, grace)
		return err
	}
	stopWatch()
	return pf.appStopped(e, child, app, stopSig, grace)
}

// notListening explains why the wait for the app ended without a
// connection: a signal to tlsgate, the app's exit, or the timeout (err).
func (pf *proxyFlags) notListening(e *env, child *launch.Child, app string, target launch.Target, sig os.Signal, grace time.Duration, err error) error {
	if sig != nil {
		return pf.appStopped(e, child, app, sig, grace)
	}
	select {
	case <-child.Done():
		st := child.Status()
		fmt.Fprintf(e.stderr, "tlsgate: %s %s before it accepted connections on %s\n", app, st, target)
		return exitError{max(st.Code, exitFailure)} // an app that ends before serving is a failure
	default:
	}
	child.Stop(syscall.SIGTERM, time.Second)
	hint := "it listens on that address"
	if target.Port != "" {
		hint = fmt.Sprintf("it listens on that address (PORT=%s is in its environment)", target.Port)
	}
	cause := err
	if nl, ok := errors.AsType[*launch.NotListeningError](err); ok {
		cause = nl.Last
	}
	return fmt.Errorf("%s did not accept connections on %s within %s (last attempt: %w); check that %s, or give it longer with --wait-timeout",
		app, target, pf.waitTimeout, cause, hint)
}

// appStopped ends the app once the server has drained and picks the exit
// status: sig is the signal tlsgate received, nil when the app exited on
// its own.
func (pf *proxyFlags) appStopped(e *env, child *launch.Child, app string, sig os.Signal, grace time.Duration) error {
	if sig == nil {
		st := child.Status()
		fmt.Fprintf(e.stderr, "tlsgate: %s %s; stopped serving\n", app, st)
		if st.Code == 0 {
			return nil
		}
		return exitError{st.Code}
	}
	if !child.Stop(sig, grace) {
		fmt.Fprintf(e.stderr, "tlsgate: %s did not exit within %s of %v; killed it\n", app, grace, sig)
		return exitError{exitFailure}
	}
	if st := child.Status(); st.Signal == nil && st.Code != 0 {
		fmt.Fprintf(e.stderr, "tlsgate: %s %s while stopping\n", app, st)
		return exitError{st.Code}
	}
	return nil
}

// appName is how messages name the app: its command line, shortened.
func appName(argv []string) string {
	s := strings.Join(argv, " ")
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return fmt.Sprintf("the app (%s)", s)
}
