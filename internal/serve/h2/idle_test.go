//lint:file-ignore SA1019 net/http's h2 server for comparison is x/net's ServeConn

package h2

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestIdleMemory measures what an idle HTTP/2 connection costs the
// server beyond a TLS connection parked in Read: n clients each send one
// request, read the answer and stay idle; the heap and stacks in use are
// compared with the same n clients whose server only parks in Read. Run
// with H2_IDLE_MEMORY=1 (it is a measurement; it asserts nothing).
func TestIdleMemory(t *testing.T) {
	if os.Getenv("H2_IDLE_MEMORY") == "" {
		t.Skip("a measurement: H2_IDLE_MEMORY=1")
	}
	const n = 300
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	serveWith := map[string]func(net.Conn){
		"parked": func(c net.Conn) {
			var b [1]byte
			for {
				if _, err := c.Read(b[:]); err != nil {
					return
				}
			}
		},
		"tlsgate": func(c net.Conn) {
			NewConn(c, &Options{Handler: handler}).Serve(t.Context())
		},
		"net-http": func(c net.Conn) {
			(&http2.Server{}).ServeConn(c, &http2.ServeConnOpts{Handler: handler})
		},
	}
	cert := testCert(t)
	measure := func(serve func(net.Conn), answers bool) float64 {
		ln, _ := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}})
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { c.(*tls.Conn).Handshake(); serve(c) }()
			}
		}()
		before := inUse()
		var conns []net.Conn
		for range n {
			c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			oneRequest(t, c, answers)
		}
		time.Sleep(200 * time.Millisecond)
		after := inUse()
		for _, c := range conns {
			c.Close()
		}
		return float64(after-before) / n / 1024
	}
	base := measure(serveWith["parked"], false)
	for _, name := range []string{"tlsgate", "net-http"} {
		got := measure(serveWith[name], true)
		t.Logf("%s: %.1f KiB per idle connection (both ends) vs %.1f KiB for a TLS connection parked in Read: +%.1f KiB", name, got, base, got-base)
	}
}

func inUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// oneRequest sends the preface, SETTINGS and one GET and reads until the
// answer's END_STREAM (or, for the parked server, sends them only).
func oneRequest(t *testing.T, c net.Conn, answers bool) {
	io.WriteString(c, http2.ClientPreface)
	fr := http2.NewFramer(c, c)
	fr.WriteSettings()
	fr.WriteSettingsAck()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "a.test"}, {":path", "/"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true})
	if !answers {
		return
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if f.Header().Type == http2.FrameData && f.Header().Flags.Has(http2.FlagDataEndStream) {
			return
		}
	}
}
