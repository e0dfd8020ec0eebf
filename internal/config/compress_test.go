package config

import (
	"slices"
	"testing"
)

func TestCompressForms(t *testing.T) {
	c := mustLoad(t, "sites:\n  - hosts: [app.test]\n    compress: true\n    routes:\n      - path: /sse/\n        compress: false\n        respond: {status: 200}\n      - path: /api/\n        compress: {encodings: [gzip], min_length: 1KiB}\n        respond: {status: 200}\n").WithDefaults()
	s := c.Sites[0]
	if !s.Compress.Enabled || !slices.Equal(s.Compress.Encodings, []string{"zstd", "br", "gzip"}) || s.Compress.MinLength != 512 {
		t.Fatalf("site compress = %+v; want on with defaults", s.Compress)
	}
	if s.Routes[0].Compress.Enabled {
		t.Fatal("compress: false on a route: got on")
	}
	if r := s.Routes[1].Compress; !r.Enabled || !slices.Equal(r.Encodings, []string{"gzip"}) || r.MinLength != 1024 || len(r.Types) == 0 {
		t.Fatalf("route compress = %+v; want gzip, 1KiB, default types", r)
	}
}

func TestCompressValidation(t *testing.T) {
	_, err := Load(writeConfig(t, siteWith("    compress: {encodings: [deflate]}\n")), LoadOptions{LookupEnv: noEnv})
	checkErrors(t, err, errorWant{"sites[0].compress.encodings[0]", "3:28", "unknown"})
}
