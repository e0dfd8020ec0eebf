package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pkiRun runs the command line with vars as the whole environment and
// returns the exit code and output, as Run would.
func pkiRun(t *testing.T, vars map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string { return vars[k] }}
	root := newRootCmd(e)
	root.SetArgs(args)
	root.SetIn(e.stdin)
	root.SetOut(&out)
	root.SetErr(&errb)
	err := root.ExecuteContext(context.Background())
	switch {
	case err == nil:
		return exitOK, out.String(), errb.String()
	case errors.As(err, new(usageError)) || isFlagError(err):
		return exitUsage, out.String(), err.Error()
	}
	return exitFailure, out.String(), err.Error()
}

func writeTemp(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPassphraseSourceOrder(t *testing.T) {
	dir := t.TempDir()
	file := writeTemp(t, dir, "pass", "from-file\n")
	vars := map[string]string{envKeyPassphrase: "from-env"}
	e := &env{stdin: strings.NewReader(""), stderr: &bytes.Buffer{}, getenv: func(k string) string { return vars[k] }}

	src := &passphraseSource{flag: "key-passphrase-file", file: file, envVar: envKeyPassphrase, what: "the key"}
	if p, from, err := src.get(e, "k is encrypted", false); err != nil || string(p) != "from-file" || !strings.Contains(from, file) {
		t.Errorf("file and env set: %q from %q, %v; want the file to win", p, from, err)
	}
	src.file = ""
	if p, from, err := src.get(e, "k is encrypted", false); err != nil || string(p) != "from-env" || from != "$"+envKeyPassphrase {
		t.Errorf("env set: %q from %q, %v", p, from, err)
	}
	delete(vars, envKeyPassphrase)
	_, _, err := src.get(e, "k is encrypted", false)
	if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), "--key-passphrase-file") || !strings.Contains(err.Error(), envKeyPassphrase) {
		t.Errorf("nothing set, no terminal: %v; want a usage error naming the flag and the variable", err)
	}
}
