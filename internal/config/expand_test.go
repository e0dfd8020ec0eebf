package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExpand(t *testing.T) {
	env := envOf(map[string]string{"HOST": "app.test", "EMPTY": "", "PORT": "8000"})
	tests := []struct {
		in, want, err string
	}{
		{in: "plain", want: "plain"},
		{in: "${HOST}", want: "app.test"},
		{in: "http://${HOST}:${PORT}/x", want: "http://app.test:8000/x"},
		{in: "${NOPE:-fallback}", want: "fallback"},
		{in: "${EMPTY:-fallback}", want: "fallback"}, // :- also covers empty
		{in: "${EMPTY-fallback}", want: ""},          // - covers unset only
		{in: "${NOPE-fallback}", want: "fallback"},
		{in: "${HOST:-fallback}", want: "app.test"},
		{in: "${NOPE:-}", want: ""},
		{in: "${NOPE:-${HOST}}", want: "app.test"}, // a default may expand too
		{in: "$${HOST}", want: "${HOST}"},          // $$ escapes
		{in: "cost $$5", want: "cost $5"},
		{in: "$$$${HOST}", want: "$${HOST}"},
		{in: "$2y$10$hash", want: "$2y$10$hash"}, // a lone $ stays
		{in: "trailing $", want: "trailing $"},
		{in: "${NOPE}", err: "${NOPE} is not set; set NOPE in the environment or the env file, or write ${NOPE:-default}"},
		{in: "${NOPE:-${ALSO_NOPE}}", err: "${ALSO_NOPE} is not set"},
		{in: "${HOST", err: "without a closing }"},
		{in: "${1X}", err: "not a variable name"},
		{in: "${}", err: "not a variable name"},
		{in: "${HOST:?required}", err: "is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := expand(tt.in, env)
			switch {
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("expand(%q) error = %v; want one containing %q", tt.in, err, tt.err)
			case tt.err == "" && err != nil:
				t.Fatalf("expand(%q): %v", tt.in, err)
			case got != tt.want:
				t.Fatalf("expand(%q) = %q; want %q", tt.in, got, tt.want)
			}
		})
	}
}

// Expansion happens before a value is parsed, so ${VAR} works in typed
// values too, and with an env file the real environment wins.
func TestExpandInConfig(t *testing.T) {
	dir := t.TempDir()
	envFile := filepath.Join(dir, "prod.env")
	err := os.WriteFile(envFile, []byte("# comment\nHOST=from-file.test\nTIMEOUT=45s\nSTRIP=true\nEMAIL=file@example.com\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	text := `email: ${EMAIL}
shutdown_timeout: ${TIMEOUT}
limits: {max_header_bytes: "${MAXHDR:-64KiB}"}
sites:
  - hosts: ["${HOST}"]
    routes: [{path: /a/, to: ["http://127.0.0.1:${PORT:-8000}"], strip_prefix: "${STRIP}"}]
`
	path := writeConfig(t, text)
	tests := []struct {
		name      string
		env       map[string]string
		envFile   string
		host      string
		email     string
		upstream  string
		wantError string
	}{
		{name: "environment only", env: map[string]string{"HOST": "env.test", "TIMEOUT": "1m", "STRIP": "true", "EMAIL": "a@b.test"},
			host: "env.test", email: "a@b.test", upstream: "http://127.0.0.1:8000"},
		{name: "env file only", envFile: envFile, host: "from-file.test", email: "file@example.com", upstream: "http://127.0.0.1:8000"},
		{name: "environment wins over env file", env: map[string]string{"HOST": "env.test", "PORT": "9000"}, envFile: envFile,
			host: "env.test", email: "file@example.com", upstream: "http://127.0.0.1:9000"},
		{name: "unset", env: map[string]string{"HOST": "env.test"}, wantError: "2:19: shutdown_timeout: ${TIMEOUT} is not set"},
		{name: "missing env file", envFile: filepath.Join(dir, "nope.env"), wantError: "read env file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(path, LoadOptions{EnvFile: tt.envFile, LookupEnv: envOf(tt.env)})
			if tt.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantError) {
					t.Fatalf("Load = %v; want an error containing %q", err, tt.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r := c.Sites[0].Routes[0]
			if c.Sites[0].Hosts[0] != tt.host || c.Email != tt.email || r.To[0] != tt.upstream || !r.StripPrefix {
				t.Errorf("got host %q email %q upstream %q strip %v; want %q %q %q true",
					c.Sites[0].Hosts[0], c.Email, r.To[0], r.StripPrefix, tt.host, tt.email, tt.upstream)
			}
			if c.Limits.MaxHeaderBytes != 64<<10 {
				t.Errorf("max_header_bytes = %d; want 64KiB from the default", c.Limits.MaxHeaderBytes)
			}
		})
	}
	// The env file never leaks into the process environment.
	if _, ok := os.LookupEnv("TIMEOUT"); ok {
		t.Error("TIMEOUT from the env file is in the process environment")
	}
	if c, err := Load(path, LoadOptions{EnvFile: envFile, LookupEnv: noEnv}); err != nil || c.ShutdownTimeout != Duration(45*time.Second) {
		t.Errorf("shutdown_timeout from env file = %v, %v; want 45s", c, err)
	}
}
