package h2

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestWriteDeadlineClientNotReading: a client that grants every window
// but never reads its socket; the handler's write deadline still ends its
// write, so the handler returns.
func TestWriteDeadlineClientNotReading(t *testing.T) {
	returned := make(chan error, 1)
	s := startServer(t, &Options{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.NewResponseController(w).SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		chunk := bytes.Repeat([]byte("x"), 1<<20)
		var err error
		for range 512 {
			if _, err = w.Write(chunk); err != nil {
				break
			}
		}
		returned <- err
	})})
	rc := s.raw(t)
	rc.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
	rc.fr.WriteWindowUpdate(0, 1<<31-1-65535)
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "a.test"}, {":path", "/"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true})
	select {
	case err := <-returned:
		if err == nil {
			t.Error("512 MiB written to a client that reads nothing")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler is still writing to a client that reads nothing, past its write deadline")
	}
}
