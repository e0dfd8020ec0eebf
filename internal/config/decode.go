package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxDepth bounds nesting, so an alias that refers to its own ancestor
// (a: &x [*x]) ends in an error instead of a stack overflow.
const maxDepth = 64

var (
	durationType = reflect.TypeFor[Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
	tlsType      = reflect.TypeFor[TLS]()
	staticType   = reflect.TypeFor[Static]()
	compressType = reflect.TypeFor[Compress]()
	configType   = reflect.TypeFor[Config]()
)

// decoder fills the schema structs from a yaml.Node tree. It is strict
// (unknown and repeated keys are errors), keeps going after an error so one
// run reports every problem, and records where each key path was written.
// yaml's own Decode stops at the first type error and reports only lines.
type decoder struct {
	file string
	// lookup resolves ${NAME}; nil leaves values as written.
	lookup func(string) (string, bool)
	errs   []error
	keys   map[string]Pos // where each key was written
	values map[string]Pos // where each value starts
	depth  int
}

func newDecoder(file string, lookup func(string) (string, bool)) *decoder {
	return &decoder{file: file, lookup: lookup, keys: map[string]Pos{}, values: map[string]Pos{}}
}

// decodeStandalone is the UnmarshalYAML of TLS and Static: the same strict
// decoding, for callers that use yaml directly.
func decodeStandalone(n *yaml.Node, v any) error {
	d := newDecoder("", nil)
	d.decode(n, reflect.ValueOf(v).Elem(), "")
	return errors.Join(d.errs...)
}

func (d *decoder) pos(n *yaml.Node) Pos {
	return Pos{File: d.file, Line: n.Line, Col: n.Column}
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, &Error{Pos: d.pos(n), Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) record(path string, key, value *yaml.Node) {
	d.keys[path] = d.pos(key)
	d.values[path] = d.pos(value)
}

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < maxDepth; i++ {
		n = n.Alias
	}
	return n
}

// decode fills v from n; path names v in errors ("sites[0].tls").
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if d.depth >= maxDepth {
		d.fail(n, path, "nested too deeply (an alias that refers to itself?); simplify the anchors")
		return
	}
	d.depth++
	defer func() { d.depth-- }()
	n = deref(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty value leaves the zero value: the default
	}
	switch v.Type() {
	case durationType, byteSizeType:
		d.decodeUnit(n, v, path)
		return
	case tlsType:
		if n.Kind == yaml.MappingNode {
			d.decodeStruct(n, v, path)
			v.FieldByName("Mode").SetString(TLSFile)
		} else if s, ok := d.scalar(n, path, "acme, local, adhoc, on_demand or a mapping {cert_file: F, key_file: F}"); ok {
			v.FieldByName("Mode").SetString(s)
		}
		return
	case compressType:
		if n.Kind == yaml.MappingNode {
			d.decodeStruct(n, v, path)
			v.FieldByName("Enabled").SetBool(true)
		} else {
			d.decodeBool(n, v.FieldByName("Enabled"), path)
		}
		return
	case staticType:
		if n.Kind == yaml.MappingNode {
			d.decodeStruct(n, v, path)
		} else if s, ok := d.scalar(n, path, "a directory or a mapping {root: DIR}"); ok {
			v.FieldByName("Root").SetString(s)
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		d.decode(n, p.Elem(), path)
		v.Set(p)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.String:
		if s, ok := d.scalar(n, path, "a single value"); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		d.decodeBool(n, v, path)
	case reflect.Int, reflect.Int64:
		if s, ok := d.scalar(n, path, "a whole number"); ok {
			i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil {
				d.fail(n, path, "%q is not a whole number; write digits only, e.g. 200", s)
				return
			}
			v.SetInt(i)
		}
	default:
		// Programmer error: the schema gained a type this decoder lacks.
		panic(fmt.Sprintf("config: cannot decode into %s", v.Type()))
	}
}

// scalar returns n's value with ${VAR} expanded. want describes what was
// expected, for the error when n is a list or a mapping.
func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "want %s, got %s", want, kindName(n))
		return "", false
	}
	if d.lookup == nil {
		return n.Value, true
	}
	s, err := expand(n.Value, d.lookup)
	if err != nil {
		d.fail(n, path, "%v", err)
		return "", false
	}
	return s, true
}

func (d *decoder) decodeUnit(n *yaml.Node, v reflect.Value, path string) {
	want := "a duration such as 90s, 10m or 30d"
	if v.Type() == byteSizeType {
		want = "a size such as 4096, 512KiB or 1MiB"
	}
	s, ok := d.scalar(n, path, want)
	if !ok {
		return
	}
	var i int64
	var err error
	if v.Type() == durationType {
		var dur Duration
		dur, err = parseDurationValue(s)
		i = int64(dur)
	} else {
		var b ByteSize
		b, err = ParseByteSize(s)
		i = int64(b)
	}
	if err != nil {
		d.fail(n, path, "%v", err)
		return
	}
	v.SetInt(i)
}

func parseDurationValue(s string) (Duration, error) {
	v, err := ParseDuration(s)
	return Duration(v), err
}

func (d *decoder) decodeBool(n *yaml.Node, v reflect.Value, path string) {
	s, ok := d.scalar(n, path, "true or false")
	if !ok {
		return
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true":
		v.SetBool(true)
	case "false":
		v.SetBool(false)
	default:
		d.fail(n, path, "%q is not a boolean; write true or false", s)
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		hint := ""
		if n.Kind == yaml.ScalarNode {
			hint = fmt.Sprintf("; write [%s]", n.Value)
		}
		d.fail(n, path, "want a list, got %s%s", kindName(n), hint)
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		d.record(p, item, deref(item))
		d.decode(item, s.Index(i), p)
	}
	v.Set(s)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping (name: value), got %s", kindName(n))
		return
	}
	m := reflect.MakeMap(v.Type())
	for _, kv := range d.pairs(n, path) {
		p := joinPath(path, kv.key.Value)
		d.record(p, kv.key, deref(kv.value))
		e := reflect.New(v.Type().Elem()).Elem()
		d.decode(kv.value, e, p)
		m.SetMapIndex(reflect.ValueOf(kv.key.Value), e)
	}
	v.Set(m)
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping (key: value), got %s", kindName(n))
		return
	}
	fields, names := yamlFields(v.Type())
	for _, kv := range d.pairs(n, path) {
		p := joinPath(path, kv.key.Value)
		idx, ok := fields[kv.key.Value]
		if !ok && v.Type() == configType && strings.HasPrefix(kv.key.Value, "x-") {
			continue // a top-level extension key, as in docker compose: room for anchors
		}
		if !ok {
			d.unknownKey(kv.key, p, names)
			continue
		}
		d.record(p, kv.key, deref(kv.value))
		d.decode(kv.value, v.Field(idx), p)
	}
}

func (d *decoder) unknownKey(k *yaml.Node, path string, known []string) {
	if s := suggest(k.Value, known); s != "" {
		d.fail(k, path, "unknown key %q; did you mean %q?", k.Value, s)
		return
	}
	d.fail(k, path, "unknown key %q; keys here are %s", k.Value, strings.Join(known, ", "))
}

// yamlFields maps each yaml key of struct type t to its field index, and
// lists the keys in declaration order for messages.
func yamlFields(t reflect.Type) (map[string]int, []string) {
	fields := map[string]int{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		fields[name] = i
		names = append(names, name)
	}
	return fields, names
}

type keyValue struct{ key, value *yaml.Node }

// pairs lists a mapping's entries with YAML merge keys (<<: *anchor) applied:
// keys written in the mapping win over merged ones, and among merged sources
// the first wins. A key written twice is an error.
func (d *decoder) pairs(n *yaml.Node, path string) []keyValue {
	var own, merged []keyValue
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			merged = append(merged, d.mergeSources(v, path)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, "a key must be a plain name, not %s", kindName(k))
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			d.fail(k, joinPath(path, k.Value), "key %q is already set at line %d; keep one of them", k.Value, prev.Line)
			continue
		}
		seen[k.Value] = k
		own = append(own, keyValue{k, v})
	}
	for _, kv := range merged {
		if _, dup := seen[kv.key.Value]; !dup {
			seen[kv.key.Value] = kv.key
			own = append(own, kv)
		}
	}
	return own
}

func (d *decoder) mergeSources(v *yaml.Node, path string) []keyValue {
	v = deref(v)
	var srcs []*yaml.Node
	switch v.Kind {
	case yaml.MappingNode:
		srcs = []*yaml.Node{v}
	case yaml.SequenceNode:
		srcs = v.Content
	}
	var out []keyValue
	for _, s := range srcs {
		s = deref(s)
		if s.Kind != yaml.MappingNode {
			d.fail(s, path, "<< merges mappings only; point it at a mapping anchor (<<: *name)")
			continue
		}
		for i := 0; i+1 < len(s.Content); i += 2 {
			if !slices.ContainsFunc(out, func(kv keyValue) bool { return kv.key.Value == s.Content[i].Value }) {
				out = append(out, keyValue{s.Content[i], s.Content[i+1]})
			}
		}
	}
	return out
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "nothing"
}

// joinPath appends key to a dotted key path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
