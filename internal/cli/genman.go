package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newGenManCmd writes one man page per command; packaging/deb.sh runs it to
// put the pages into the .deb. Hidden: it is a build step, not a feature.
func newGenManCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:    "gen-man DIR",
		Short:  "Write tlsgate's man pages (section 1) into DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("man pages: %w", err)
			}
			// Pages carry no date, so two builds of one version are identical.
			hdr := &doc.GenManHeader{Title: "TLSGATE", Section: "1", Source: "tlsgate " + version(), Manual: "tlsgate manual"}
			root := cmd.Root()
			root.DisableAutoGenTag = true
			if err := doc.GenManTree(root, hdr, dir); err != nil {
				return fmt.Errorf("man pages into %s: %w", dir, err)
			}
			fmt.Fprintf(e.stdout, "man pages written to %s\n", dir)
			return nil
		},
	}
}
