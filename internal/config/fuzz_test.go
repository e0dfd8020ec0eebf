package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse: any bytes, with ${VAR} references to a fixed environment,
// either parse into a config that fills in defaults, or give an error;
// never a panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte("sites:\n  - hosts: [app.test]\n    routes: [{path: /, to: [\"http://127.0.0.1:3000\"]}]\n"))
	f.Add([]byte("listen: {https: \"${PORT:-:8443}\"}\nsites: [{hosts: [\"${HOST}\"], routes: [{respond: {body: \"$${LITERAL}\"}}]}]\n"))
	f.Add([]byte("limits: {max_body_bytes: 10MiB, body_read_timeout: 1m30s}\nstorage: {encryption_key_file: ${KEY?needed}}\n"))
	f.Add([]byte("a: &x [*x]\n"))
	// Every real config in the repository: mutations start from what
	// users write.
	files, _ := filepath.Glob("testdata/*.yaml")
	examples, _ := filepath.Glob("../../examples/*.yaml")
	for _, path := range append(files, examples...) {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		env := map[string]string{"HOST": "app.test", "PORT": ":9443", "EMPTY": ""}
		// Every other name is set too, so the examples' ${VAR}s expand and
		// decoding goes on (FuzzExpand covers unset names).
		opts := LoadOptions{LookupEnv: func(k string) (string, bool) {
			if v, ok := env[k]; ok {
				return v, true
			}
			return "fuzz", true
		}}
		c, err := Parse("fuzz.yaml", data, opts)
		if err != nil {
			return
		}
		c.WithDefaults()
	})
}

// FuzzUnits: duration and size parsing never panics, and what parses
// prints back to a string that parses to the same value.
func FuzzUnits(f *testing.F) {
	for _, s := range []string{"10s", "1m30s", "2h", "0", "-1s", "1d", "10MiB", "1.5GB", "512", "1e3KB", "9999999999999999999PiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := ParseDuration(s); err == nil {
			if d2, err := ParseDuration(d.String()); err != nil || d2 != d {
				t.Errorf("ParseDuration(%q) = %v; its String %q parses to %v, %v", s, d, d.String(), d2, err)
			}
		}
		if b, err := ParseByteSize(s); err == nil {
			if b2, err := ParseByteSize(b.String()); err != nil || b2 != b {
				t.Errorf("ParseByteSize(%q) = %d; its String %q parses to %d, %v", s, b, b.String(), b2, err)
			}
		}
	})
}

// FuzzExpand: ${VAR} expansion never panics; text without $ is kept as
// is; $$ writes any literal back ($ doubled, then expanded, is the
// literal); a variable's value is inserted as written, never expanded
// again, so a value holding "${X}" cannot pull in another variable.
func FuzzExpand(f *testing.F) {
	for _, s := range [][2]string{
		{"${HOST}", "a$b"}, {"${PORT:-:8443}", "$${X}"}, {"${UNSET-${HOST}}", ""}, {"${EMPTY:-x}", "${"},
		{"${KEY?needed}", "$"}, {"$${LITERAL} $x ${", "}"}, {"${A:-${B:-${C:-deep}}}", "$$$"}, {"${1X}", "}}"},
	} {
		f.Add(s[0], s[1])
	}
	env := map[string]string{"HOST": "app.test", "PORT": ":9443", "EMPTY": "", "TRICK": "${HOST}$$"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	f.Fuzz(func(t *testing.T, s, literal string) {
		got, err := expand(s, lookup)
		if !strings.Contains(s, "$") && (err != nil || got != s) {
			t.Fatalf("expand(%q) = %q, %v; want it unchanged", s, got, err)
		}
		if got, err := expand(strings.ReplaceAll(literal, "$", "$$"), lookup); err != nil || got != literal {
			t.Fatalf("expand of %q with $ doubled = %q, %v; want the literal back", literal, got, err)
		}
		if got, err := expand("${TRICK}"+s, lookup); err == nil && !strings.HasPrefix(got, env["TRICK"]) {
			t.Fatalf("expand(${TRICK}%s) = %q; the value was expanded again", s, got)
		}
	})
}
