package route

import (
	"io/fs"
	"net/http"
	"os"
	"strconv"

	"github.com/tlsgate/tlsgate/internal/compress"
	"github.com/tlsgate/tlsgate/internal/config"
)

// siblings are the precompressed files a static file may have beside it
// (made by `zstd -k`, `brotli -k`, `gzip -k`, or a build step), by the
// encoding they hold, in the order tlsgate prefers among equal q-values.
var siblings = []struct{ enc, ext string }{
	{config.EncodingZstd, ".zst"},
	{config.EncodingBr, ".br"},
	{config.EncodingGzip, ".gz"},
}

// precompressed opens the sibling of rel that the client's Accept-Encoding
// prefers, if any is there: a regular file at least as new as the original
// (a stale one, left by a deploy that changed the original only, is never
// served). It reports whether any sibling exists, so the answer says it
// varies by Accept-Encoding even when the original is sent. Range
// requests get the original: ranges of the encoded bytes are of no use to
// a client that wants part of the file.
func precompressed(r *http.Request, root *os.Root, rel string, orig fs.FileInfo) (f *os.File, fi fs.FileInfo, enc string, vary bool) {
	type found struct {
		f  *os.File
		fi fs.FileInfo
	}
	have := map[string]found{}
	var offered []string
	for _, s := range siblings {
		sf, err := root.Open(rel + s.ext)
		if err != nil {
			continue
		}
		st, err := sf.Stat()
		if err != nil || !st.Mode().IsRegular() || st.ModTime().Before(orig.ModTime()) {
			sf.Close()
			continue
		}
		have[s.enc] = found{sf, st}
		offered = append(offered, s.enc)
	}
	if len(offered) == 0 {
		return nil, nil, "", false
	}
	if r.Header.Get("Range") == "" {
		enc = compress.Negotiate(r.Header.Get("Accept-Encoding"), offered)
	}
	for e, s := range have {
		if e != enc {
			s.f.Close()
		}
	}
	if enc == "" {
		return nil, nil, "", true
	}
	return have[enc].f, have[enc].fi, enc, true
}

// etag is a file's validator: weak, from its modification time and size,
// with the encoding it is sent in, so each representation has its own.
func etag(fi fs.FileInfo, enc string) string {
	tag := strconv.FormatInt(fi.ModTime().UnixNano(), 36) + "-" + strconv.FormatInt(fi.Size(), 36)
	if enc != "" {
		tag += "-" + enc
	}
	return `W/"` + tag + `"`
}
