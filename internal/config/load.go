package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/joho/godotenv"
	"go.yaml.in/yaml/v3"
)

// LoadOptions say where ${VAR} values come from.
type LoadOptions struct {
	// EnvFile is a .env file (KEY=value lines) whose values ${VAR} may use.
	// It does not change the process environment, and a variable set in the
	// real environment wins over the file, as in docker compose.
	// "" means no env file. A relative path is relative to the working
	// directory, like any command-line path.
	EnvFile string

	// LookupEnv reads the real environment. Nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// lookup returns the function ${VAR} expansion uses: the real environment,
// then the env file.
func (o LoadOptions) lookup() (func(string) (string, bool), error) {
	env := o.LookupEnv
	if env == nil {
		env = os.LookupEnv
	}
	if o.EnvFile == "" {
		return env, nil
	}
	file, err := godotenv.Read(o.EnvFile)
	if err != nil {
		return nil, fmt.Errorf("read env file %s: %w", o.EnvFile, err)
	}
	return func(name string) (string, bool) {
		if v, ok := env(name); ok {
			return v, true
		}
		v, ok := file[name]
		return v, ok
	}, nil
}

// Load reads, expands, decodes and validates the config file at path.
// Relative paths in the file are made absolute against the file's
// directory. Defaults are not applied; call WithDefaults on the result.
//
// A config problem is returned as one *Error or several joined with
// errors.Join (see Errors), each formatted FILE:LINE:COL: key.path: message.
// An unreadable config or env file is an ordinary wrapped error.
func Load(path string, opts LoadOptions) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config %s: %w", path, err)
	}
	return Parse(path, data, opts)
}

// Parse is Load for a config already in memory. file names it in errors and
// positions, and relative paths resolve against its directory ("" means the
// working directory).
func Parse(file string, data []byte, opts LoadOptions) (*Config, error) {
	lookup, err := opts.lookup()
	if err != nil {
		return nil, err
	}
	root, err := parseYAML(file, data)
	if err != nil {
		return nil, err
	}
	c := &Config{File: file}
	d := newDecoder(file, lookup)
	if root != nil {
		d.decode(root, reflect.ValueOf(c).Elem(), "")
	}
	c.positions, c.values = d.keys, d.values
	if len(d.errs) > 0 {
		// Report every problem at once: validation still runs on what did
		// decode, minus its findings about values that did not.
		if c.resolvePaths() == nil {
			for _, e := range unrelated(Errors(c.Validate()), Errors(errors.Join(d.errs...))) {
				d.errs = append(d.errs, e)
			}
		}
		return nil, joinSorted(d.errs)
	}
	if err := c.resolvePaths(); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// unrelated returns the validation errors that are not about the mapping
// that holds a value that failed to decode (a misspelt key leaves its
// mapping's intent unclear: "hostz" would also read as "no hosts"): those
// would only repeat the decode error in other words.
func unrelated(validation, decode []*Error) []*Error {
	var out []*Error
	for _, v := range validation {
		related := false
		for _, d := range decode {
			base := parentPath(d.Path)
			if base == "" {
				base = d.Path // a top-level key stands alone
			}
			if pathWithin(v.Path, base) || pathWithin(base, v.Path) {
				related = true
				break
			}
		}
		if !related {
			out = append(out, v)
		}
	}
	return out
}

// pathWithin reports whether key path p is base or lies under it.
func pathWithin(p, base string) bool {
	if base == "" || p == base {
		return true
	}
	return strings.HasPrefix(p, base) && (p[len(base)] == '.' || p[len(base)] == '[')
}

// parseYAML returns the root node of the single document in data, or nil
// for an empty file.
func parseYAML(file string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxError(file, data, err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxError(file, data, err)
	default:
		return nil, &Error{Pos: Pos{File: file, Line: next.Line, Col: next.Column},
			Msg: "a second YAML document starts here; a config file holds one document, so remove the ---"}
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns yaml's "yaml: line 3: did not find expected key" into an
// *Error. yaml reports no column for syntax errors, so the column is 1.
func syntaxError(file string, data []byte, err error) error {
	msg := err.Error()
	pos := Pos{File: file}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		pos.Line, pos.Col, msg = problemLine(data, line, m[2]), 1, m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	hint := "check the indentation and quoting on this line and the one before"
	if strings.Contains(msg, "cannot start any token") {
		hint = "indent with spaces, not tabs, and quote values that start with @, ` or %"
	}
	return &Error{Pos: pos, Msg: "YAML syntax: " + msg + "; " + hint}
}

// problemLine finds the line a YAML syntax error is on. For parser errors
// yaml names the line where the enclosing block starts, which can be far
// above the mistake; the first prefix of the file, from that line on, that
// fails with the same message ends at the offending line.
func problemLine(data []byte, reported int, msg string) int {
	const maxScan = 1000 // bounds the quadratic work on huge files
	lines := bytes.SplitAfter(data, []byte("\n"))
	for k := max(reported, 1); k <= len(lines) && k < reported+maxScan; k++ {
		var n yaml.Node
		err := yaml.Unmarshal(bytes.Join(lines[:k], nil), &n)
		if m := yamlLine.FindStringSubmatch(fmt.Sprint(err)); m != nil && m[2] == msg {
			return k
		}
	}
	return reported
}

// Position returns where the key path (such as "sites[0].tls.cert_file" or
// "sites[1].hosts[0]") was written: the key's position for a mapping entry,
// the item's for a list item. It is the zero Pos for a path that was not in
// the file (absent keys, defaults, configs built in code). Copies made by
// WithDefaults answer the same.
func (c *Config) Position(path string) Pos {
	return c.positions[path]
}

// ValuePosition is like Position but returns where the value starts, which
// is where an error about the value should point.
func (c *Config) ValuePosition(path string) Pos {
	return c.values[path]
}

// nearestPosition returns where path's value was written, else where its
// closest written parent was, else the top of the file: an error about a
// missing key points at the mapping that lacks it.
func (c *Config) nearestPosition(path string) Pos {
	for p := path; p != ""; p = parentPath(p) {
		if pos, ok := c.values[p]; ok {
			return pos
		}
	}
	if c.File == "" {
		return Pos{}
	}
	return Pos{File: c.File, Line: 1, Col: 1}
}

// parentPath strips the last key or index: "a.b[2]" → "a.b" → "a" → "".
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}
