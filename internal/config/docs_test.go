package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestTrafficDocConfigs loads every complete config (a YAML block with a
// top-level sites:) in docs/TRAFFIC.md, so the copy-paste recipes stay
// valid as the schema changes. The files they name are made first.
func TestTrafficDocConfigs(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "TRAFFIC.md"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, d := range []string{"public", "app/static", "static", "errors"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, code := range []string{"413", "429", "502", "503", "504"} {
		if err := os.WriteFile(filepath.Join(dir, "errors", code+".html"), []byte("<h1>"+code+"</h1>"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	n := 0
	for _, b := range blocks {
		text := b[1]
		if !strings.HasPrefix(text, "sites:") && !strings.Contains(text, "\nsites:") {
			continue // a fragment
		}
		n++
		path := filepath.Join(dir, "tlsgate.yaml")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(path, LoadOptions{LookupEnv: noEnv}); err != nil {
			t.Errorf("docs/TRAFFIC.md config does not load: %v\n%s", err, text)
		}
	}
	if n < 5 {
		t.Fatalf("found %d complete configs in docs/TRAFFIC.md; want the recipes (at least 5)", n)
	}
}
