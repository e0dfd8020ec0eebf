package archtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestImportLayers runs `go list -json ./...` over the module and checks every
// import between tlsgate's packages against layers.
func TestImportLayers(t *testing.T) {
	pkgs := listPackages(t)
	var problems []string
	for _, p := range pkgs {
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			if msg := checkImport(p.ImportPath[len(module):], imp[len(module):]); msg != "" {
				problems = append(problems, msg)
			}
		}
	}
	for _, msg := range problems {
		t.Error(msg)
	}
}

// checkImport says what is wrong with from importing to, or "".
func checkImport(from, to string) string {
	if strings.HasPrefix(to, "test/") && strings.HasPrefix(from, "internal/") {
		return fmt.Sprintf("%s imports %s: internal packages never depend on test/", from, to)
	}
	if slices.Contains(testOnly, to) && !isTestHelper(from) {
		return fmt.Sprintf("%s imports %s, which is for tests only", from, to)
	}
	if isTestHelper(from) || isTestHelper(to) {
		return ""
	}
	fl, fromListed := layerOf(from)
	tl, toListed := layerOf(to)
	switch {
	case !fromListed && toListed && tl > unlistedMax:
		return fmt.Sprintf("%s imports %s (layer %d): a package not in archtest's layers may import layers up to %d only; see docs/ARCHITECTURE.md", from, to, tl, unlistedMax)
	case fromListed && !toListed && fl == 0:
		return fmt.Sprintf("%s (layer 0) imports %s: layer 0 imports no internal package", from, to)
	case fromListed && toListed && tl >= fl:
		return fmt.Sprintf("%s (layer %d) imports %s (layer %d): imports point down, never up or sideways; see docs/ARCHITECTURE.md", from, fl, to, tl)
	}
	return ""
}

// layerOf finds a package's layer; a sub-package (internal/x/y) takes the
// layer of internal/x.
func layerOf(pkg string) (int, bool) {
	for p := pkg; p != "." && p != ""; p = parent(p) {
		if l, ok := layers[p]; ok {
			return l, true
		}
	}
	return 0, false
}

func parent(p string) string {
	i := strings.LastIndex(p, "/")
	if i < 0 {
		return ""
	}
	return p[:i]
}

func isTestHelper(pkg string) bool {
	return strings.HasPrefix(pkg, "test/") || slices.Contains(testOnly, pkg) || strings.HasSuffix(pkg, "test")
}

type listed struct {
	ImportPath string
	Imports    []string
}

func listPackages(t *testing.T) []listed {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", module+"...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []listed
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p listed
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < len(layers) {
		t.Fatalf("go list found %d packages; want at least %d", len(pkgs), len(layers))
	}
	return pkgs
}

// TestCheckImport: the rules themselves, on made-up imports.
func TestCheckImport(t *testing.T) {
	tests := []struct {
		from, to string
		bad      bool
	}{
		{"internal/server", "internal/proxy", false},
		{"internal/proxy", "internal/server", true},     // up
		{"internal/certs", "internal/storage", true},    // sideways
		{"internal/config", "internal/pki", true},       // layer 0 imports nothing internal
		{"internal/config", "internal/access", true},    // nor unlisted packages
		{"internal/access", "internal/config", false},   // a new package may use libraries
		{"internal/access", "internal/server", true},    // but not the instance
		{"internal/proxy", "internal/compress", false},  // handlers may use new packages
		{"internal/storage", "internal/testproc", true}, // test-only
		{"internal/storage/storagetest", "internal/testproc", false},
		{"internal/storage/storagetest", "test/testenv", true}, // internal never imports test/
		{"test/integration", "internal/cli", false},
		{"internal/storage/storagetest", "internal/storage", false},
	}
	for _, tt := range tests {
		if got := checkImport(tt.from, tt.to) != ""; got != tt.bad {
			t.Errorf("%s → %s: bad = %v; want %v", tt.from, tt.to, got, tt.bad)
		}
	}
}
