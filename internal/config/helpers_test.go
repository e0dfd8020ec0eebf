package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// noEnv is an empty environment, so tests do not depend on the caller's.
func noEnv(string) (string, bool) { return "", false }

// envOf returns a LookupEnv over m.
func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// writeConfig writes text as tlsgate.yaml in a new temporary directory,
// next to an empty file for each name in files, and returns its path.
func writeConfig(t *testing.T, text string, files ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range files {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "tlsgate.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// mustLoad loads text (see writeConfig) and fails the test on any error.
func mustLoad(t *testing.T, text string, files ...string) *Config {
	t.Helper()
	c, err := Load(writeConfig(t, text, files...), LoadOptions{LookupEnv: noEnv})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

// errorWant is one expected config error: its key path, "LINE:COL", and a
// piece of its message.
type errorWant struct {
	path, pos, msg string
}

// checkErrors fails unless err holds exactly the wanted errors, in order.
func checkErrors(t *testing.T, err error, want ...errorWant) {
	t.Helper()
	got := Errors(err)
	if err == nil || len(got) != len(want) {
		t.Fatalf("got %d errors; want %d:\n%v", len(got), len(want), err)
	}
	for i, w := range want {
		e := got[i]
		pos := fmt.Sprintf("%d:%d", e.Pos.Line, e.Pos.Col)
		if e.Path != w.path || pos != w.pos || !strings.Contains(e.Msg, w.msg) {
			t.Errorf("error %d = %s %s %q; want %s %s containing %q", i, pos, e.Path, e.Msg, w.pos, w.path, w.msg)
		}
		if filepath.Base(e.Pos.File) != "tlsgate.yaml" {
			t.Errorf("error %d file = %q; want the config file", i, e.Pos.File)
		}
	}
}
