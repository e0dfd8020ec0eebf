package compress

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/tlsgate/tlsgate/internal/config"
)

// Options say what to compress. The zero value is not useful; config fills
// every field (see config's compress defaults).
type Options struct {
	// Encodings offered, in order of preference (zstd, br, gzip).
	Encodings []string
	// MinLength: bodies known to be shorter are sent as they are.
	MinLength int
	// Types are media types ("application/json") or "text/*" prefixes.
	Types []string
}

// Handler compresses h's responses. Encoders are pooled per Handler.
func Handler(h http.Handler, o Options) http.Handler {
	c := &compressor{h: h, o: o}
	c.pools = map[string]*sync.Pool{
		config.EncodingGzip: {New: func() any { w, _ := gzip.NewWriterLevel(nil, 5); return w }},
		config.EncodingBr:   {New: func() any { return brotli.NewWriterLevel(nil, 4) }},
		config.EncodingZstd: {New: func() any {
			w, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault))
			return w
		}},
	}
	return c
}

type compressor struct {
	h     http.Handler
	o     Options
	pools map[string]*sync.Pool
}

// encoder is what the three encoders have in common.
type encoder interface {
	io.WriteCloser
	Flush() error
	Reset(io.Writer)
}

func (c *compressor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Ranges address bytes of the identity body; HEAD has no body.
	if r.Header.Get("Range") != "" || r.Method == http.MethodHead {
		c.h.ServeHTTP(w, r)
		return
	}
	enc := Negotiate(r.Header.Get("Accept-Encoding"), c.o.Encodings)
	cw := &writer{ResponseWriter: w, c: c, enc: enc}
	defer cw.finish()
	c.h.ServeHTTP(cw, r)
}

// writer decides at WriteHeader whether to compress, then either passes
// writes through or feeds the pooled encoder.
type writer struct {
	http.ResponseWriter
	c       *compressor
	enc     string // negotiated; "" = identity
	code    int
	decided bool
	e       encoder
	buf     []byte // held until MinLength is known to be reached
}

func (w *writer) WriteHeader(code int) {
	if w.code != 0 {
		return
	}
	if code < 200 {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.code = code
	if !w.eligible() {
		w.decide(false)
		return
	}
	w.Header().Add("Vary", "Accept-Encoding")
	if w.enc == "" {
		w.decide(false)
		return
	}
	if cl, err := strconv.Atoi(w.Header().Get("Content-Length")); err == nil {
		w.decide(cl >= w.c.o.MinLength)
	}
	// Length unknown: hold writes until MinLength bytes, a Flush or the end.
}

// eligible reports whether the response could be compressed for some client.
func (w *writer) eligible() bool {
	h := w.Header()
	switch {
	case w.code == http.StatusNoContent, w.code == http.StatusNotModified, w.code == http.StatusPartialContent,
		h.Get("Content-Encoding") != "", h.Get("Content-Range") != "",
		strings.Contains(strings.ToLower(h.Get("Cache-Control")), "no-transform"):
		return false
	}
	return typeAllowed(h.Get("Content-Type"), w.c.o.Types)
}

func typeAllowed(ct string, types []string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	if mt == "" {
		return false
	}
	for _, t := range types {
		if p, ok := strings.CutSuffix(t, "/*"); ok {
			if strings.HasPrefix(mt, p+"/") {
				return true
			}
		} else if mt == t {
			return true
		}
	}
	return false
}

// decide sends the header, compressed or not, and any held bytes.
func (w *writer) decide(compress bool) {
	if w.decided {
		return
	}
	w.decided = true
	h := w.Header()
	if compress {
		h.Del("Content-Length")
		h.Set("Content-Encoding", w.enc)
		if et := h.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
			h.Set("ETag", "W/"+et) // the bytes differ from the identity variant's
		}
		w.e = w.c.pools[w.enc].Get().(encoder)
		w.e.Reset(w.ResponseWriter)
	}
	w.ResponseWriter.WriteHeader(w.code)
	if len(w.buf) > 0 {
		buf := w.buf
		w.buf = nil
		w.write(buf)
	}
}

func (w *writer) write(p []byte) (int, error) {
	if w.e != nil {
		return w.e.Write(p)
	}
	return w.ResponseWriter.Write(p)
}

func (w *writer) Write(p []byte) (int, error) {
	if w.code == 0 {
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", http.DetectContentType(p))
		}
		w.WriteHeader(http.StatusOK)
	}
	if w.decided {
		return w.write(p)
	}
	w.buf = append(w.buf, p...)
	if len(w.buf) >= w.c.o.MinLength {
		w.decide(true)
	}
	return len(p), nil
}

// Flush sends what is held: a streaming body (SSE) is compressed and
// flushed as it comes.
func (w *writer) Flush() {
	if w.code == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.decided {
		w.decide(true)
	}
	if w.e != nil {
		w.e.Flush()
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

// finish ends the body: a short held body goes out as it is.
func (w *writer) finish() {
	if w.code == 0 {
		return // nothing was written; net/http answers 200 with no body
	}
	if !w.decided {
		w.decide(len(w.buf) >= w.c.o.MinLength)
	}
	if w.e != nil {
		w.e.Close()
		w.e.Reset(nil)
		w.c.pools[w.enc].Put(w.e)
		w.e = nil
	}
}

// Hijack is for upgrades (WebSocket), which are never compressed.
func (w *writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach deadlines.
func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
