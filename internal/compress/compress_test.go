package compress

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/tlsgate/tlsgate/internal/config"
)

var all = []string{config.EncodingZstd, config.EncodingBr, config.EncodingGzip}

func TestNegotiate(t *testing.T) {
	tests := []struct{ accept, want string }{
		{"gzip, deflate, br, zstd", config.EncodingZstd}, // equal q: the server's order
		{"gzip, br", config.EncodingBr},
		{"gzip", config.EncodingGzip},
		{"", ""},
		{"identity", ""},
		{"gzip;q=0", ""},
		{"gzip;q=0, br;q=0.5", config.EncodingBr},
		{"zstd;q=0.1, gzip;q=0.9", config.EncodingGzip},
		{"*", config.EncodingZstd},
		{"*;q=0, gzip", config.EncodingGzip},
		{"zstd;q=0, *", config.EncodingBr},
		{"GZIP", config.EncodingGzip},
		{"gzip;q=abc", ""}, // a malformed q is not a yes
		{"gzip;q=2", ""},
	}
	for _, tt := range tests {
		if got := Negotiate(tt.accept, all); got != tt.want {
			t.Errorf("Negotiate(%q) = %q; want %q", tt.accept, got, tt.want)
		}
	}
}

func FuzzAcceptEncoding(f *testing.F) {
	for _, s := range []string{"gzip, br, zstd", "gzip;q=0", "*;q=0.5, br;q=1", "identity;q=1, *;q=0", ";;q=,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		got := Negotiate(accept, all)
		if got != "" && qFor(accept, got) <= 0 {
			t.Fatalf("Negotiate(%q) = %q, which the client refused", accept, got)
		}
	})
}

var text = strings.Repeat("hello tlsgate compression ", 400)

func serve(t *testing.T, h http.Handler, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", "/", nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	Handler(h, Options{Encodings: all, MinLength: 512, Types: []string{"text/*", "application/json"}}).ServeHTTP(w, req)
	return w
}

func decode(t *testing.T, enc string, b []byte) string {
	t.Helper()
	var r io.Reader
	var err error
	switch enc {
	case config.EncodingGzip:
		r, err = gzip.NewReader(bytes.NewReader(b))
	case config.EncodingBr:
		r = brotli.NewReader(bytes.NewReader(b))
	case config.EncodingZstd:
		var d *zstd.Decoder
		d, err = zstd.NewReader(bytes.NewReader(b))
		r = d
	default:
		return string(b)
	}
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestHandler(t *testing.T) {
	textH := func(extra map[string]string, body string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("ETag", `"v1"`)
			for k, v := range extra {
				w.Header().Set(k, v)
			}
			io.WriteString(w, body)
		})
	}
	tests := []struct {
		name    string
		h       http.Handler
		req     map[string]string
		wantEnc string
		vary    bool
	}{
		{"zstd first", textH(nil, text), map[string]string{"Accept-Encoding": "gzip, br, zstd"}, config.EncodingZstd, true},
		{"br", textH(nil, text), map[string]string{"Accept-Encoding": "gzip, br"}, config.EncodingBr, true},
		{"gzip", textH(nil, text), map[string]string{"Accept-Encoding": "gzip"}, config.EncodingGzip, true},
		{"identity", textH(nil, text), map[string]string{"Accept-Encoding": "identity"}, "", true},
		{"gzip q=0", textH(nil, text), map[string]string{"Accept-Encoding": "gzip;q=0"}, "", true},
		{"range", textH(nil, text), map[string]string{"Accept-Encoding": "gzip", "Range": "bytes=0-10"}, "", false},
		{"small", textH(nil, "tiny"), map[string]string{"Accept-Encoding": "gzip"}, "", true},
		{"no-transform", textH(map[string]string{"Cache-Control": "no-transform"}, text), map[string]string{"Accept-Encoding": "gzip"}, "", false},
		{"already encoded", textH(map[string]string{"Content-Encoding": "br"}, text), map[string]string{"Accept-Encoding": "gzip"}, "br", false},
		{"type outside types", textH(map[string]string{"Content-Type": "image/png"}, text), map[string]string{"Accept-Encoding": "gzip"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(t, tt.h, tt.req)
			enc := w.Header().Get("Content-Encoding")
			if enc != tt.wantEnc {
				t.Fatalf("Content-Encoding = %q; want %q", enc, tt.wantEnc)
			}
			if got := w.Header().Get("Vary") == "Accept-Encoding"; got != tt.vary {
				t.Fatalf("Vary = %q; want it %v", w.Header().Get("Vary"), tt.vary)
			}
			if tt.wantEnc == "br" && tt.name == "already encoded" {
				return
			}
			if enc != "" && w.Header().Get("ETag") != `W/"v1"` {
				t.Fatalf("ETag = %q; want weak", w.Header().Get("ETag"))
			}
			if got := decode(t, enc, w.Body.Bytes()); got != text && got != "tiny" {
				t.Fatalf("decoded body differs (%d bytes)", len(got))
			}
		})
	}
}

// A streaming body is sent at each Flush, not held for MinLength.
func TestHandlerFlush(t *testing.T) {
	step := make(chan struct{})
	got := make(chan string, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		<-step
	})
	srv := httptest.NewServer(Handler(h, Options{Encodings: all, MinLength: 512, Types: []string{"text/*"}}))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	go func() {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			got <- err.Error()
			return
		}
		b := make([]byte, 64)
		n, _ := io.ReadAtLeast(zr, b, len("data: one\n\n"))
		got <- string(b[:n])
	}()
	if s := <-got; s != "data: one\n\n" {
		t.Fatalf("first event = %q; want it before the handler ends", s)
	}
	close(step)
}

// TestEncoderForEveryConfigEncoding: the encoding names are config's, so
// every one config accepts (and its default list) has an encoder here.
func TestEncoderForEveryConfigEncoding(t *testing.T) {
	c := Handler(http.NotFoundHandler(), Options{}).(*compressor)
	d := (&config.Config{Sites: []config.Site{{Compress: &config.Compress{Enabled: true}}}}).WithDefaults()
	for _, e := range d.Sites[0].Compress.Encodings {
		if c.pools[e] == nil {
			t.Errorf("no encoder for %q", e)
		}
	}
	if len(d.Sites[0].Compress.Encodings) != len(c.pools) {
		t.Errorf("config offers %v; compress has %d encoders", d.Sites[0].Compress.Encodings, len(c.pools))
	}
}
