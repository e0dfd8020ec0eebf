package h2

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// fuzzSeeds are frame sequences (after the preface) the corpus starts
// from: requests with and without bodies, trailers, resets, window
// updates, pings, priorities, CONTINUATION and settings changes.
func fuzzSeeds() [][]byte {
	var seeds [][]byte
	frames := func(write func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer)) {
		var buf, hb bytes.Buffer
		fr := http2.NewFramer(&buf, nil)
		enc := hpack.NewEncoder(&hb)
		fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 16})
		write(fr, enc, &hb)
		seeds = append(seeds, buf.Bytes())
	}
	block := func(enc *hpack.Encoder, hb *bytes.Buffer, method, path string, extra ...string) []byte {
		hb.Reset()
		for _, f := range [][2]string{{":method", method}, {":scheme", "https"}, {":authority", "a.test"}, {":path", path}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		for i := 0; i+1 < len(extra); i += 2 {
			enc.WriteField(hpack.HeaderField{Name: extra[i], Value: extra[i+1]})
		}
		return bytes.Clone(hb.Bytes())
	}
	frames(func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(enc, hb, "GET", "/"), EndStream: true, EndHeaders: true})
	})
	frames(func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(enc, hb, "POST", "/echo", "content-length", "5", "expect", "100-continue"), EndHeaders: true})
		fr.WriteData(1, false, []byte("he"))
		fr.WriteDataPadded(1, true, []byte("llo"), []byte{0, 0, 0})
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: block(enc, hb, "POST", "/trailers", "trailer", "x-t"), EndHeaders: true})
		fr.WriteData(3, false, []byte("body"))
		hb.Reset()
		enc.WriteField(hpack.HeaderField{Name: "x-t", Value: "v"})
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: bytes.Clone(hb.Bytes()), EndStream: true, EndHeaders: true})
	})
	frames(func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
		for id := uint32(1); id < 20; id += 2 {
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block(enc, hb, "GET", "/slow"), EndStream: true, EndHeaders: true})
			fr.WriteRSTStream(id, http2.ErrCodeCancel)
		}
		fr.WritePing(false, [8]byte{1})
		fr.WriteWindowUpdate(0, 1000)
		fr.WritePriority(21, http2.PriorityParam{StreamDep: 1, Weight: 3})
	})
	frames(func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
		b := block(enc, hb, "GET", "/big")
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:3], EndStream: true})
		fr.WriteContinuation(1, false, b[3:5])
		fr.WriteContinuation(1, true, b[5:])
		fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}, http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 14})
		fr.WriteWindowUpdate(1, 100)
		fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10})
		fr.WriteGoAway(1, http2.ErrCodeNo, nil)
	})
	return seeds
}

// FuzzFrames feeds arbitrary bytes after the preface to a Conn over
// net.Pipe: it must never panic, and once the client is gone Serve and
// every handler must return (no deadlock, nothing left running).
func FuzzFrames(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	var running atomic.Int32 // handlers running
	opts := &Options{
		MaxConcurrentStreams: 8,
		MaxHeaderBytes:       4 << 10,
		Logger:               slog.New(slog.DiscardHandler),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			running.Add(1)
			defer running.Add(-1)
			switch r.URL.Path {
			case "/echo":
				io.Copy(w, io.LimitReader(r.Body, 1<<20))
			case "/trailers":
				io.Copy(io.Discard, r.Body)
				w.Header().Set(http.TrailerPrefix+"X-Got", r.Trailer.Get("X-T"))
				w.Write([]byte("t"))
			case "/big":
				w.Write(bytes.Repeat([]byte("b"), 100<<10))
			case "/slow":
				<-r.Context().Done()
			default:
				w.WriteHeader(http.StatusEarlyHints)
				w.Write([]byte("ok"))
			}
		}),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		srv, cli := net.Pipe()
		c := NewConn(srv, opts)
		done := make(chan error, 1)
		go func() { done <- c.Serve(context.Background()) }()
		go io.Copy(io.Discard, cli) // a client that reads everything
		cli.SetWriteDeadline(time.Now().Add(2 * time.Second))
		io.WriteString(cli, http2.ClientPreface)
		cli.Write(data)
		cli.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Serve did not return after the client closed")
		}
		deadline := time.Now().Add(10 * time.Second)
		for running.Load() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%d handlers still running after the connection ended", running.Load())
			}
			time.Sleep(time.Millisecond)
		}
	})
}

// TestWriteFuzzSeeds writes fuzzSeeds as the committed corpus when
// H2_WRITE_SEEDS is set (run once by hand after changing them).
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("H2_WRITE_SEEDS") == "" {
		return
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzFrames")
	os.MkdirAll(dir, 0o755)
	for i, s := range fuzzSeeds() {
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(s)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, "seed"+strconv.Itoa(i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
