package urlpath

import (
	"path"
	"strings"
	"testing"
)

func TestClean(t *testing.T) {
	tests := []struct {
		in, want string
		clean    bool
	}{
		{"/", "/", true},
		{"/a/b", "/a/b", true},
		{"/a/b/", "/a/b/", true},
		{"/a..b/.c", "/a..b/.c", true},
		{"", "/", false},
		{"a/b", "/a/b", false},
		{"//a", "/a", false},
		{"/a//b/", "/a/b/", false},
		{"/a/./b", "/a/b", false},
		{"/a/.", "/a", false},
		{"/a/../b", "/b", false},
		{"/a/..", "/", false},
		{"/../../x/", "/x/", false},
		{"/./", "/", false},
	}
	for _, tt := range tests {
		if got := IsClean(tt.in); got != tt.clean {
			t.Errorf("IsClean(%q) = %v; want %v", tt.in, got, tt.clean)
		}
		if got := Clean(tt.in); got != tt.want {
			t.Errorf("Clean(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzClean: Clean agrees with path.Clean (trailing slash aside), and
// IsClean says true exactly for paths Clean leaves as they are.
func FuzzClean(f *testing.F) {
	for _, s := range []string{"/", "/a/../b", "//x/./y/", "a", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c := Clean(p)
		if strings.TrimSuffix(c, "/") != strings.TrimSuffix(path.Clean("/"+p), "/") {
			t.Fatalf("Clean(%q) = %q; path.Clean gives %q", p, c, path.Clean("/"+p))
		}
		if IsClean(p) != (c == p) {
			t.Fatalf("IsClean(%q) = %v but Clean gives %q", p, IsClean(p), c)
		}
	})
}

func TestCleanDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { Clean("/api/v1/users/") }); n != 0 {
		t.Errorf("Clean of a clean path: %v allocations; want 0", n)
	}
}
