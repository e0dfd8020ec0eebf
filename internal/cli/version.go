package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// stampedVersion is set at link time by scripts/package.sh
// (-ldflags "-X github.com/tlsgate/tlsgate/internal/cli.stampedVersion=...")
// to the `git describe` of the release; empty in plain `go build`s. It is
// written only by the linker, never at run time.
var stampedVersion string

// version is the version stamped by the release build, else the module
// version this binary was built from, else "dev".
func version() string {
	if stampedVersion != "" {
		return stampedVersion
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func newVersionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the tlsgate version and the Go version it was built with",
		Example: "  tlsgate version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(e.stdout, "tlsgate %s (%s, %s/%s)\n", version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
