// Package cli is tlsgate's command line: one file per command group. It
// parses flags, wires the internal packages together, prints results and
// picks exit codes; the work itself lives in the other packages.
//
// Start at Run.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// env is what every command may use besides its flags.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// Run runs the tlsgate command line with args (without the program name)
// and returns the process exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	root := newRootCmd(e)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ex exitError
	if errors.As(err, &ex) {
		return ex.code // the command has already said why
	}
	fmt.Fprintf(stderr, "tlsgate: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) || isFlagError(err) {
		return exitUsage
	}
	return exitFailure
}

func newRootCmd(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "tlsgate",
		Short: "HTTPS in front of your web apps: certificates, TLS and proxying in one program",
		Long: `tlsgate terminates TLS for your web apps (FastAPI, Flask, uwsgi, anything that
speaks HTTP), gets and renews their certificates, and forwards plain HTTP to them
with the headers they need to know they are behind HTTPS.`,
		Example: `  # HTTPS for an app on port 8000, right now, with a local CA:
  tlsgate proxy --to http://127.0.0.1:8000

  # Serve everything in a config file:
  tlsgate run -c tlsgate.yaml

  # Check a config file without serving:
  tlsgate validate -c tlsgate.yaml`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usage(fmt.Errorf("%w (see '%s --help')", err, c.CommandPath()))
	})
	root.AddCommand(
		newRunCmd(e),
		newProxyCmd(e),
		newValidateCmd(e),
		newReloadCmd(e),
		newCertsCmd(e),
		newRenewCmd(e),
		newEventsCmd(e),
		newCACmd(e),
		newVersionCmd(e),
		newKeyCmd(e), newCSRCmd(e), newInspectCmd(e), newStorageCmd(e),
		newDoctorCmd(e),
		newHashPasswordCmd(e),
		newECHCmd(e),
		newGenManCmd(e),
	)
	return root
}

// isFlagError recognises cobra's own argument errors (unknown command,
// wrong number of arguments, missing required flag), which do not pass
// through the flag error func.
func isFlagError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "unknown flag", "unknown shorthand", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
