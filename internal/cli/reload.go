package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func newReloadCmd(e *env) *cobra.Command {
	var cf configFlags
	cmd := &cobra.Command{
		Use:   "reload [-c FILE]",
		Short: "Ask a running tlsgate to reload its config",
		Long: `Ask the running instance to reload its config file through its admin API
(the admin address is read from the config). Same as sending it SIGHUP, but it
waits for the answer: a config that does not load is reported here, and the
instance keeps serving the previous one.`,
		Example: `  tlsgate reload -c tlsgate.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, err := cf.adminAddr(e, "send SIGHUP to the tlsgate process instead")
			if err != nil {
				return err
			}
			if err := adminCall(cmd.Context(), addr, http.MethodPost, "/reload", nil); err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, "reloaded")
			return nil
		},
	}
	cf.register(cmd.Flags())
	return cmd
}

// adminAddr is the admin API address of the instance the config describes;
// instead says what to do when the config turns the admin API off.
func (f *configFlags) adminAddr(e *env, instead string) (string, error) {
	cfg, err := f.load(e)
	if err != nil {
		return "", err
	}
	addr := *cfg.WithDefaults().Admin
	if addr == "" {
		return "", usage(fmt.Errorf("the admin API is off in this config (admin: \"\"); %s", instead))
	}
	return addr, nil
}

// errNotRunning means no instance answered on the admin address.
var errNotRunning = errors.New("no tlsgate answers")

// adminCall sends one request to a running instance's admin API at addr
// (host:port or unix:/path) and decodes its JSON answer into out.
func adminCall(ctx context.Context, addr, method, path string, out any) error {
	client := &http.Client{Timeout: 2 * time.Minute}
	base := "http://" + addr
	if sock, ok := strings.CutPrefix(addr, "unix:"); ok {
		base = "http://unix"
		client.Transport = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%w on the admin address %s: is it running with this config? (start it with: tlsgate run -c FILE)", errNotRunning, addr)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read admin answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("admin API answered %s", resp.Status)
	}
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}
