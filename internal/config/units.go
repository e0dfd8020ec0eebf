package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration that also parses a "d" (day) unit: "30d", "1d12h".
type Duration time.Duration

// ByteSize is a number of bytes that parses "1MiB", "512KiB", "1MB", "4096".
type ByteSize int64

// ParseDuration parses a Go duration ("90s", "1h30m") that may also use the
// unit "d" for 24-hour days ("30d", "1d12h"). A bare "0" is zero; any other
// bare number is an error because its unit would be a guess.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty duration; write e.g. 90s, 10m, 12h or 30d")
	}
	if s == "0" || s == "-0" || s == "+0" {
		return 0, nil
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return 0, fmt.Errorf("%q has no unit; write e.g. %ss", s, s)
	}
	rest, neg := s, false
	if rest[0] == '-' || rest[0] == '+' {
		neg = rest[0] == '-'
		rest = rest[1:]
	}
	bad := fmt.Errorf("%q is not a duration; write e.g. 90s, 10m, 12h, 30d or 1d12h", s)
	var days time.Duration
	var plain strings.Builder
	for rest != "" {
		i := strings.IndexFunc(rest, func(r rune) bool { return !unicode.IsDigit(r) && r != '.' })
		if i <= 0 {
			return 0, bad
		}
		j := strings.IndexFunc(rest[i:], func(r rune) bool { return unicode.IsDigit(r) || r == '.' })
		if j < 0 {
			j = len(rest) - i
		}
		num, unit := rest[:i], rest[i:i+j]
		rest = rest[i+j:]
		if unit != "d" {
			plain.WriteString(num + unit)
			continue
		}
		h, err := time.ParseDuration(num + "h")
		if err != nil {
			return 0, bad
		}
		if h > (math.MaxInt64-days)/24 {
			return 0, fmt.Errorf("%q is too long", s)
		}
		days += h * 24
	}
	var d time.Duration
	if plain.Len() > 0 {
		var err error
		if d, err = time.ParseDuration(plain.String()); err != nil {
			return 0, bad
		}
	}
	if d > math.MaxInt64-days {
		return 0, fmt.Errorf("%q is too long", s)
	}
	d += days
	if neg {
		d = -d
	}
	return d, nil
}

// String formats d as a Go duration ("720h0m0s").
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML parses a scalar with ParseDuration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as 90s or 30d", n.Line)
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes d in the form ParseDuration reads.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// byteUnits maps a lower-case unit to its size. SI units (KB) are powers of
// 1000 and IEC units (KiB) powers of 1024, as their standards say.
func byteUnit(u string) (int64, bool) {
	switch strings.ToLower(u) {
	case "", "b":
		return 1, true
	case "k", "kb":
		return 1000, true
	case "ki", "kib":
		return 1 << 10, true
	case "m", "mb":
		return 1000 * 1000, true
	case "mi", "mib":
		return 1 << 20, true
	case "g", "gb":
		return 1000 * 1000 * 1000, true
	case "gi", "gib":
		return 1 << 30, true
	case "t", "tb":
		return 1000 * 1000 * 1000 * 1000, true
	case "ti", "tib":
		return 1 << 40, true
	}
	return 0, false
}

// ParseByteSize parses a size such as "4096", "512KiB", "1MiB" or "1MB"
// (KB, MB, GB, TB are powers of 1000; KiB, MiB, GiB, TiB powers of 1024).
// Units are case-insensitive; a fraction ("1.5MiB") is allowed.
func ParseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("%q is not a size; write e.g. 4096, 512KiB or 1MiB", s)
	i := strings.IndexFunc(s, func(r rune) bool { return !unicode.IsDigit(r) && r != '.' })
	if i < 0 {
		i = len(s)
	}
	if i == 0 {
		return 0, bad
	}
	mult, ok := byteUnit(strings.TrimSpace(s[i:]))
	if !ok {
		return 0, bad
	}
	num := s[:i]
	if !strings.Contains(num, ".") {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n > math.MaxInt64/mult {
			return 0, fmt.Errorf("%q is not a size or is too large", s)
		}
		return ByteSize(n * mult), nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, bad
	}
	v := f * float64(mult)
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return ByteSize(v), nil
}

// String formats b with the largest IEC unit that divides it ("1MiB"),
// else as plain bytes ("1500").
func (b ByteSize) String() string {
	for _, u := range []struct {
		name string
		size ByteSize
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if b != 0 && b%u.size == 0 {
			return strconv.FormatInt(int64(b/u.size), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// UnmarshalYAML parses a scalar with ParseByteSize.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a size such as 1MiB", n.Line)
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

// MarshalYAML writes b in the form ParseByteSize reads.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }
