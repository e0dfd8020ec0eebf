package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tlsgate/tlsgate/internal/events"
)

func newEventsCmd(e *env) *cobra.Command {
	var cf configFlags
	var asJSON, test bool
	cmd := &cobra.Command{
		Use:   "events [-c FILE] [--json] [--test]",
		Short: "Show a running tlsgate's recent events, or send a test alert",
		Long: `Show the recent events (certificates obtained, renewed, failed and expiring,
upstreams down and up, failed reloads) of the running instance, oldest first,
read from its admin API (GET /events).

--test asks the instance to send an alert_test event through its alerts sinks
(webhook, exec), to check that they reach you; the instance's log says whether
the delivery failed.`,
		Example: `  tlsgate events -c tlsgate.yaml
  tlsgate events -c tlsgate.yaml --json | jq 'select(.event == "cert_failed")'
  tlsgate events -c tlsgate.yaml --test`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, err := cf.adminAddr(e, "read the events from the instance's log instead")
			if err != nil {
				return err
			}
			if test {
				if err := adminCall(cmd.Context(), addr, http.MethodPost, "/events/test", nil); err != nil {
					return err
				}
				fmt.Fprintln(e.stdout, "sent alert_test to the configured alerts sinks")
				return nil
			}
			var list []events.Event
			if err := adminCall(cmd.Context(), addr, http.MethodGet, "/events", &list); err != nil {
				return err
			}
			slices.Reverse(list) // the API gives newest first; a terminal reads down
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				for _, ev := range list {
					if err := enc.Encode(ev); err != nil {
						return err
					}
				}
				return nil
			}
			return printEvents(e.stdout, list)
		},
	}
	cf.register(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per line for scripts")
	cmd.Flags().BoolVar(&test, "test", false, "send an alert_test event through the alerts sinks")
	return cmd
}

func printEvents(w io.Writer, list []events.Event) error {
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "no events yet")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tEVENT\tNAME\tDETAIL")
	for _, ev := range list {
		var detail []string
		for _, k := range slices.Sorted(maps.Keys(ev.Detail)) {
			detail = append(detail, fmt.Sprintf("%s=%v", k, ev.Detail[k]))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", ev.Time.UTC().Format(time.RFC3339), ev.Event, ev.Name, strings.Join(detail, " "))
	}
	return tw.Flush()
}
