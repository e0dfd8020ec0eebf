package route

import (
	"errors"
	"fmt"
	"html"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/tlsgate/tlsgate/internal/answer"
)

// static is the handler Static returns.
type static struct {
	dir    string
	browse bool
	index  []string
}

// Static returns a handler serving the files under root.
//
// Requests never reach outside root: the path is cleaned, and files are
// opened through an os.Root, so neither "..", encoded slashes nor symlinks
// pointing out of root escape it. Names starting with a dot (".git", ".env")
// are hidden, except ".well-known". A directory is answered with its first
// index file (default index.html), else a listing when browse is set, else
// 404. Errors are plain 404 or 403 answers that never include OS messages.
//
// The root is opened per request, so a root directory that is replaced
// (deploy by rename) is picked up, and no descriptor outlives a reload.
func Static(root string, browse bool, index []string) (http.Handler, error) {
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("static root %s: %w", root, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("static root %s: not a directory", root)
	}
	if len(index) == 0 {
		index = []string{"index.html"}
	}
	return &static{dir: root, browse: browse, index: slices.Clone(index)}, nil
}

var (
	forbiddenBody = []byte("403 forbidden\n")
	methodBody    = []byte("405 method not allowed\n")
)

func (s *static) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		answer.Text(w, http.StatusMethodNotAllowed, methodBody)
		return
	}
	name := path.Clean("/" + r.URL.Path)
	if hidden(name) || strings.IndexByte(name, 0) >= 0 {
		notFound(w)
		return
	}
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		s.fail(w, err)
		return
	}
	defer root.Close()

	rel := "." + name // "./a/b"; "." for the root itself
	f, err := root.Open(rel)
	if err != nil {
		s.fail(w, err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		s.fail(w, err)
		return
	}
	if !fi.IsDir() {
		serveFile(w, r, root, rel, f, fi)
		return
	}
	if !strings.HasSuffix(r.URL.Path, "/") {
		// Relative, so it stays right behind a stripped route prefix.
		target := (&url.URL{Path: "./" + path.Base(r.URL.Path) + "/"}).EscapedPath()
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		w.Header().Set("Location", target)
		w.WriteHeader(http.StatusMovedPermanently)
		return
	}
	s.serveDir(w, r, root, rel, f)
}

// serveDir answers for a directory: an index file, a listing, or 404.
func (s *static) serveDir(w http.ResponseWriter, r *http.Request, root *os.Root, rel string, dir *os.File) {
	for _, idx := range s.index {
		name := path.Join(rel, idx)
		f, err := root.Open(name)
		if err != nil {
			continue
		}
		fi, err := f.Stat()
		if err == nil && fi.Mode().IsRegular() {
			serveFile(w, r, root, name, f, fi)
			f.Close()
			return
		}
		f.Close()
	}
	if !s.browse {
		notFound(w)
		return
	}
	entries, err := dir.ReadDir(-1)
	if err != nil {
		s.fail(w, err)
		return
	}
	listing(w, entries)
}

// serveFile sends the regular file f (rel in root), or the precompressed
// sibling the client prefers; the Content-Type is the original's either way.
func serveFile(w http.ResponseWriter, r *http.Request, root *os.Root, rel string, f *os.File, fi fs.FileInfo) {
	if !fi.Mode().IsRegular() {
		notFound(w)
		return
	}
	name := fi.Name()
	h := w.Header()
	if cf, cfi, enc, vary := precompressed(r, root, rel, fi); vary {
		h.Add("Vary", "Accept-Encoding")
		if cf != nil {
			defer cf.Close()
			h.Set("Content-Type", contentType(name, f))
			h.Set("Content-Encoding", enc)
			f, fi = cf, cfi
		}
	}
	h.Set("ETag", etag(fi, h.Get("Content-Encoding")))
	http.ServeContent(w, r, name, fi.ModTime(), f)
}

// contentType is what http.ServeContent would say for the original file:
// by extension, else sniffed from its first bytes (never from the
// compressed sibling's, which would say application/gzip).
func contentType(name string, f *os.File) string {
	if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
		return ct
	}
	buf := make([]byte, 512)
	n, _ := f.ReadAt(buf, 0)
	return http.DetectContentType(buf[:n])
}

// listing writes a minimal HTML index of a directory; hidden entries are left out.
func listing(w http.ResponseWriter, entries []os.DirEntry) {
	var b strings.Builder
	b.WriteString("<!doctype html>\n<meta charset=\"utf-8\">\n<pre>\n<a href=\"../\">../</a>\n")
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		if e.IsDir() {
			name += "/"
		}
		href := (&url.URL{Path: "./" + name}).EscapedPath()
		fmt.Fprintf(&b, "<a href=\"%s\">%s</a>\n", html.EscapeString(href), html.EscapeString(name))
	}
	b.WriteString("</pre>\n")
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h["X-Content-Type-Options"] = nosniff
	w.Write([]byte(b.String()))
}

// fail answers for an open or read error without revealing it: permission
// problems are 403, everything else (missing, escaping root, broken
// symlink) is 404.
func (s *static) fail(w http.ResponseWriter, err error) {
	if errors.Is(err, fs.ErrPermission) {
		answer.Text(w, http.StatusForbidden, forbiddenBody)
		return
	}
	notFound(w)
}

// hidden reports whether a cleaned path has a segment starting with a dot,
// other than ".well-known".
func hidden(name string) bool {
	for seg := range strings.SplitSeq(name, "/") {
		if strings.HasPrefix(seg, ".") && seg != ".well-known" {
			return true
		}
	}
	return false
}
