package dns

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libdns/libdns"
)

// writeScript writes an executable shell script into a temp dir.
func writeScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hook.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExecArguments(t *testing.T) {
	out := filepath.Join(t.TempDir(), "calls")
	p := &Exec{Command: writeScript(t, `echo "$@" >> `+out+"\n")}
	rec := []libdns.Record{libdns.TXT{Name: "_acme-challenge.app", Text: "tok"}}
	ctx := context.Background()
	if _, err := p.AppendRecords(ctx, "example.com.", rec); err != nil {
		t.Fatal(err)
	}
	// A caller that knows no zone passes the record as the zone's apex.
	if _, err := p.DeleteRecords(ctx, "_acme-challenge.app.example.com.", []libdns.Record{libdns.TXT{Name: "@", Text: "tok"}}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := "present _acme-challenge.app.example.com. tok\ncleanup _acme-challenge.app.example.com. tok\n"
	if string(data) != want {
		t.Errorf("calls:\n%s\nwant:\n%s", data, want)
	}
}

func TestExecErrors(t *testing.T) {
	rec := []libdns.Record{libdns.TXT{Name: "_acme-challenge", Text: "v"}}
	for _, tc := range []struct {
		name    string
		command string
		timeout time.Duration
		substr  []string
	}{
		{"exit status with stderr", writeScript(t, "echo 'API said: quota exceeded' >&2\nexit 3\n"), 0,
			[]string{"exec: present _acme-challenge.example.com.", "exit status 3", "stderr: API said: quota exceeded"}},
		{"timeout", writeScript(t, "sleep 5\n"), 100 * time.Millisecond, []string{"did not finish within 100ms"}},
		{"not found", "/nonexistent/hook", 0, []string{"/nonexistent/hook"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Exec{Command: tc.command, Timeout: tc.timeout}
			_, err := p.AppendRecords(context.Background(), "example.com.", rec)
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range tc.substr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("got %q; want it to contain %q", err, s)
				}
			}
		})
	}
}

func TestExecCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := &Exec{Command: writeScript(t, "exit 0\n")}
	_, err := p.AppendRecords(ctx, "example.com.", []libdns.Record{libdns.TXT{Name: "x", Text: "v"}})
	if !errors.Is(err, context.Canceled) && (err == nil || !strings.Contains(err.Error(), "canceled")) {
		t.Errorf("got %v; want a cancellation error", err)
	}
}
