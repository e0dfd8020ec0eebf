package config

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestParseDuration(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{in: "90s", want: 90 * time.Second},
		{in: "30d", want: 30 * day},
		{in: "1d12h", want: day + 12*time.Hour},
		{in: "1.5d", want: 36 * time.Hour},
		{in: "2h1d", want: day + 2*time.Hour},
		{in: "365d", want: 365 * day},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "500ms", want: 500 * time.Millisecond},
		{in: "10µs", want: 10 * time.Microsecond},
		{in: "0", want: 0},
		{in: " 5m ", want: 5 * time.Minute},
		{in: "-1d", want: -day}, // parsed; Validate rejects negatives
		{in: "30", err: `"30" has no unit; write e.g. 30s`},
		{in: "", err: "empty duration"},
		{in: "d", err: "is not a duration"},
		{in: "1w", err: "is not a duration"},
		{in: "1d1x", err: "is not a duration"},
		{in: "1..5d", err: "is not a duration"},
		{in: "200000d", err: "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseDuration(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
		err  bool
	}{
		{in: "4096", want: 4096},
		{in: "512KiB", want: 512 << 10},
		{in: "1MiB", want: 1 << 20},
		{in: "1MB", want: 1000 * 1000},
		{in: "1mib", want: 1 << 20},
		{in: "2 GiB", want: 2 << 30},
		{in: "1.5KiB", want: 1536},
		{in: "10B", want: 10},
		{in: "1k", want: 1000},
		{in: "0", want: 0},
		{in: "", err: true},
		{in: "MiB", err: true},
		{in: "-1", err: true},
		{in: "1XB", err: true},
		{in: "1.2.3MB", err: true},
		{in: "99999999999TiB", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseByteSize(tt.in)
			if (err != nil) != tt.err || got != tt.want {
				t.Fatalf("ParseByteSize(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}

// String gives back text the parsers read to the same value.
func TestRoundTrip(t *testing.T) {
	for _, b := range []ByteSize{0, 1, 1500, 1 << 10, 1 << 20, 3 << 30, 5 << 40} {
		if got, err := ParseByteSize(b.String()); err != nil || got != b {
			t.Errorf("ParseByteSize(%q) = %v, %v; want %v", b.String(), got, err, b)
		}
	}
	for _, d := range []Duration{0, Duration(time.Second), Duration(36 * time.Hour), Duration(1500 * time.Millisecond)} {
		if got, err := ParseDuration(d.String()); err != nil || Duration(got) != d {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", d.String(), got, err, d)
		}
	}
}

// Packages that decode with yaml directly get the same scalar forms and
// the same strictness.
func TestUnmarshalYAML(t *testing.T) {
	var v struct {
		D  Duration `yaml:"d"`
		B  ByteSize `yaml:"b"`
		T1 *TLS     `yaml:"t1"`
		T2 TLS      `yaml:"t2"`
		S1 Static   `yaml:"s1"`
		S2 *Static  `yaml:"s2"`
	}
	in := "d: 1d\nb: 2KiB\nt1: local\nt2: {cert_file: c, key_file: k}\ns1: ./www\ns2: {root: /srv, browse: true}\n"
	if err := yaml.Unmarshal([]byte(in), &v); err != nil {
		t.Fatal(err)
	}
	if v.D != Duration(24*time.Hour) || v.B != 2048 || *v.T1 != (TLS{Mode: TLSLocal}) ||
		v.T2 != (TLS{Mode: TLSFile, CertFile: "c", KeyFile: "k"}) || v.S1.Root != "./www" || !v.S2.Browse || v.S2.Root != "/srv" {
		t.Fatalf("got %+v", v)
	}
	for _, bad := range []string{"t2: {cert: c}", "s1: {rooot: x}", "d: 5", "b: lots", "t1: [a]"} {
		if err := yaml.Unmarshal([]byte(bad), &v); err == nil {
			t.Errorf("yaml.Unmarshal(%q): no error", bad)
		}
	}
	out, err := yaml.Marshal(struct {
		T1 TLS `yaml:"t1"`
		T2 TLS `yaml:"t2"`
	}{TLS{Mode: TLSACME}, TLS{Mode: TLSFile, CertFile: "c", KeyFile: "k"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := "t1: acme\nt2:\n    cert_file: c\n    key_file: k\n    key_passphrase_file: \"\"\n"; string(out) != want {
		t.Errorf("yaml.Marshal = %q; want %q", out, want)
	}
}
