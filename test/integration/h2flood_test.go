package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// floodConfig: /slow and /big reach a backend (one waits for the request to
// end, one sends 4 MiB), / is answered by tlsgate itself. Small header and
// body-read limits so the floods meet them quickly.
const floodConfig = header + `
limits: {max_header_bytes: 64KiB, body_read_timeout: 1s, response_write_timeout: 1s}
sites:
  - hosts: [a.test]
    tls: local
    routes:
      - path: /slow
        to: ["%[1]s"]
      - path: /big
        to: ["%[1]s"]
      - path: /
        respond: {status: 200, body: "ok"}
`

// Bounds for every flood: how many goroutines and how much resident memory
// tlsgate may add while one hostile connection (or a few) floods it, and
// how close to its baseline goroutine count it must come back once they
// are gone. Generous: the point is "bounded", not a benchmark.
const (
	floodMaxExtraGoroutines = 3000
	floodMaxExtraRSS        = 400 << 20
	floodSettleGoroutines   = 40
)

// TestH2Floods plays HTTP/2 clients that try to exhaust tlsgate: rapid
// reset (CVE-2023-44487), a CONTINUATION flood (CVE-2023-45288), SETTINGS
// and PING floods whose answers are never read, streams that never end
// their request body, and a reader whose flow-control window is zero.
// During each, a normal request on a fresh connection is answered within
// 2 s, goroutines and memory stay bounded, and once the hostile connection
// is gone the goroutines come back to where they were.
func TestH2Floods(t *testing.T) {
	// Not parallel: its 2 s bounds are about tlsgate, not about sharing
	// two cores with the rest of the suite (sequential tests run alone).
	big := bytes.Repeat([]byte("x"), 4<<20)
	be := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Write(big)
			return
		}
		// /slow: read the body, then answer when the request ends or
		// after 10 s (net/http notices a closed connection only once the
		// body is read).
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	inst := startTLSGate(t, fmt.Sprintf(floodConfig, be))
	pool := inst.rootPool(t)

	floods := []struct {
		name string
		// settings are the client's SETTINGS; read says whether a
		// goroutine reads (and discards) what the server sends.
		settings []http2.Setting
		read     bool
		flood    func(c *h2Client) error
	}{
		{"rapid reset", nil, true, func(c *h2Client) error {
			for id := uint32(1); id < 40000; id += 2 {
				if err := c.request(id, "GET", "/slow", true); err != nil {
					return err
				}
				if err := c.fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
					return err
				}
				if err := c.flushEvery(id, 200); err != nil {
					return err
				}
			}
			return c.flush()
		}},
		{"CONTINUATION flood", nil, true, func(c *h2Client) error {
			if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: c.block("GET", "/"), EndStream: true}); err != nil {
				return err
			}
			frag := c.filler(16 << 10)
			for sent := 0; sent < 64<<20; sent += len(frag) {
				if err := c.fr.WriteContinuation(1, false, frag); err != nil {
					return err
				}
				if err := c.flushEvery(uint32(sent/len(frag)), 16); err != nil {
					return err
				}
			}
			return errors.New("64 MiB of CONTINUATION frames and the connection is still open")
		}},
		{"SETTINGS flood, answers never read", nil, false, func(c *h2Client) error {
			for i := uint32(0); i < 200000; i++ {
				if err := c.fr.WriteSettings(); err != nil {
					return err
				}
				if err := c.flushEvery(i, 1000); err != nil {
					return err
				}
			}
			return c.flush()
		}},
		{"PING flood, answers never read", nil, false, func(c *h2Client) error {
			for i := uint32(0); i < 200000; i++ {
				if err := c.fr.WritePing(false, [8]byte{byte(i)}); err != nil {
					return err
				}
				if err := c.flushEvery(i, 1000); err != nil {
					return err
				}
			}
			return c.flush()
		}},
		{"request bodies that never end", nil, true, func(c *h2Client) error {
			for id := uint32(1); id < 2*250; id += 2 {
				if err := c.request(id, "POST", "/slow", false); err != nil {
					return err
				}
			}
			if err := c.flush(); err != nil {
				return err
			}
			// body_read_timeout (1s) answers them 408; wait for that.
			return c.waitStatuses(250, 408, 10*time.Second)
		}},
		{"zero-window reader", []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 0}}, true, func(c *h2Client) error {
			for id := uint32(1); id < 2*100; id += 2 {
				if err := c.request(id, "GET", "/big", true); err != nil {
					return err
				}
			}
			if err := c.flush(); err != nil {
				return err
			}
			// The response headers arrive; no DATA can. Then
			// response_write_timeout (1s) resets every stream, while
			// the connection stays open.
			if err := c.waitStatuses(100, 200, 10*time.Second); err != nil {
				return err
			}
			return c.waitResets(100, 10*time.Second)
		}},
	}
	for _, f := range floods {
		t.Run(f.name, func(t *testing.T) {
			base := gateMetrics(t, inst)
			baseRSS := rssBytes(t, inst)
			c := dialH2(t, inst, pool, f.settings, f.read)
			errc := make(chan error, 1)
			go func() { errc <- f.flood(c) }()
			peak := sampleGoroutines(inst)

			// While it floods: a fresh connection is answered in time.
			probeWithin(t, inst, pool, 2*time.Second)
			err := <-errc
			probeWithin(t, inst, pool, 2*time.Second)
			rss := rssBytes(t, inst)
			g := peak()
			t.Logf("%s: flood ended with %v; peak goroutines %d (baseline %d), RSS %d MiB (baseline %d MiB), server sent %s",
				f.name, err, g, base.goroutines, rss>>20, baseRSS>>20, c.summary())
			if g > base.goroutines+floodMaxExtraGoroutines {
				t.Errorf("peak goroutines %d; want at most %d over the baseline %d", g, floodMaxExtraGoroutines, base.goroutines)
			}
			if rss > baseRSS+floodMaxExtraRSS {
				t.Errorf("RSS %d MiB; want at most %d MiB over the baseline %d MiB", rss>>20, floodMaxExtraRSS>>20, baseRSS>>20)
			}
			c.close()
			// Once tlsgate has seen the connection close, what it started
			// for it ends too.
			eventually(t, 15*time.Second, "goroutines back near the baseline after the hostile connection closed", func() error {
				m := gateMetrics(t, inst)
				if m.httpsOpen > base.httpsOpen {
					return fmt.Errorf("%v https connections open, baseline %v", m.httpsOpen, base.httpsOpen)
				}
				if m.goroutines > base.goroutines+floodSettleGoroutines {
					return fmt.Errorf("goroutines %d, baseline %d", m.goroutines, base.goroutines)
				}
				return nil
			})
		})
	}
}

// h2Client is a hand-driven HTTP/2 client connection.
type h2Client struct {
	conn *tls.Conn
	bw   *bufio.Writer
	fr   *http2.Framer
	hbuf bytes.Buffer
	enc  *hpack.Encoder
	done chan struct{} // closed when the reader goroutine ends (or at once if none)

	// Counted by the reader goroutine.
	goAway   atomic.Int32
	rst      atomic.Int32
	frames   atomic.Int64
	mu       sync.Mutex // guards statuses and streams
	statuses map[int]int
	streams  map[uint32]*h2Stream
}

// h2Stream is how the server answered one stream.
type h2Stream struct {
	status int            // the final :status; 0 = none yet
	seq    int            // the raw backend's X-Seq; -1 = not from it
	rst    *http2.ErrCode // the server reset the stream
}

// dialH2 opens an h2 connection to a.test, sends the preface and the
// client's SETTINGS, and with read starts a goroutine that reads and counts
// what the server sends (headers decoded for their :status). Cleanup
// closes the connection and waits for the goroutine.
func dialH2(t *testing.T, inst *instance, pool *x509.CertPool, settings []http2.Setting, read bool) *h2Client {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", inst.HTTPS,
		&tls.Config{ServerName: "a.test", RootCAs: pool, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		conn.Close()
		t.Fatalf("ALPN chose %q; want h2", p)
	}
	// No write may block past the test's bound.
	conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	c := &h2Client{conn: conn, bw: bufio.NewWriterSize(conn, 64<<10), done: make(chan struct{}),
		statuses: make(map[int]int), streams: make(map[uint32]*h2Stream)}
	c.fr = http2.NewFramer(c.bw, conn)
	c.enc = hpack.NewEncoder(&c.hbuf)
	t.Cleanup(c.close)
	if _, err := io.WriteString(c.bw, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := c.fr.WriteSettings(settings...); err != nil {
		t.Fatal(err)
	}
	if err := c.flush(); err != nil {
		t.Fatal(err)
	}
	if !read {
		close(c.done)
		return c
	}
	go c.readLoop()
	return c
}

func (c *h2Client) readLoop() {
	defer close(c.done)
	fr := http2.NewFramer(io.Discard, c.conn)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.MaxHeaderListSize = 1 << 20
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) {
				continue
			}
			return
		}
		c.frames.Add(1)
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			c.goAway.Add(1)
		case *http2.RSTStreamFrame:
			c.rst.Add(1)
			c.mu.Lock()
			code := f.ErrCode
			c.stream(f.StreamID).rst = &code
			c.mu.Unlock()
		case *http2.MetaHeadersFrame:
			if s, err := strconv.Atoi(f.PseudoValue("status")); err == nil && s >= 200 {
				c.mu.Lock()
				c.statuses[s]++
				st := c.stream(f.StreamID)
				st.status = s
				for _, hf := range f.RegularFields() {
					if hf.Name == "x-seq" {
						st.seq, _ = strconv.Atoi(hf.Value)
					}
				}
				c.mu.Unlock()
			}
		}
	}
}

// stream returns the record of stream id, made on first use. c.mu must be
// held.
func (c *h2Client) stream(id uint32) *h2Stream {
	st, ok := c.streams[id]
	if !ok {
		st = &h2Stream{seq: -1}
		c.streams[id] = st
	}
	return st
}

// waitStream waits until stream id is answered or reset, or the
// connection closes, and returns what happened to it.
func (c *h2Client) waitStream(id uint32, d time.Duration) h2Stream {
	deadline := time.Now().Add(d)
	for {
		c.mu.Lock()
		st, ok := c.streams[id]
		var got h2Stream
		if ok {
			got = *st
		}
		c.mu.Unlock()
		if ok && (got.status != 0 || got.rst != nil) {
			return got
		}
		select {
		case <-c.done:
			return h2Stream{seq: -1}
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return h2Stream{seq: -1}
		}
	}
}

// close closes the connection and waits for the reader.
func (c *h2Client) close() {
	c.conn.Close()
	<-c.done
}

func (c *h2Client) flush() error { return c.bw.Flush() }

// flushEvery flushes on every n-th i, so floods go out in large writes.
func (c *h2Client) flushEvery(i, n uint32) error {
	if i%n == 0 {
		return c.flush()
	}
	return nil
}

// block is the HPACK block of a request for path on a.test.
func (c *h2Client) block(method, path string) []byte {
	c.hbuf.Reset()
	for _, f := range [][2]string{{":method", method}, {":scheme", "https"}, {":authority", "a.test"}, {":path", path}} {
		c.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return append([]byte(nil), c.hbuf.Bytes()...)
}

// filler is about n bytes of never-indexed literal headers, the same bytes
// however often they are sent.
func (c *h2Client) filler(n int) []byte {
	c.hbuf.Reset()
	for i := 0; c.hbuf.Len() < n; i++ {
		c.enc.WriteField(hpack.HeaderField{Name: "x-flood", Value: strings.Repeat("f", 200), Sensitive: true})
	}
	return append([]byte(nil), c.hbuf.Bytes()...)
}

// rawHeaders sends a HEADERS frame opening stream id with fields exactly
// as given, valid or not.
func (c *h2Client) rawHeaders(id uint32, fields [][2]string, endStream bool) error {
	c.hbuf.Reset()
	for _, f := range fields {
		c.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: append([]byte(nil), c.hbuf.Bytes()...), EndStream: endStream, EndHeaders: true})
}

// request sends a HEADERS frame opening stream id.
func (c *h2Client) request(id uint32, method, path string, endStream bool) error {
	return c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.block(method, path), EndStream: endStream, EndHeaders: true})
}

// waitStatuses waits until n answers with status have arrived.
func (c *h2Client) waitStatuses(n, status int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c.mu.Lock()
		got := c.statuses[status]
		c.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-c.done:
			return fmt.Errorf("connection closed after %d answers %d of %d", got, status, n)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d answers %d of %d after %s", got, status, n, d)
		}
	}
}

// waitResets waits until the server has reset n streams.
func (c *h2Client) waitResets(n int32, d time.Duration) error {
	deadline := time.Now().Add(d)
	for c.rst.Load() < n {
		select {
		case <-c.done:
			return fmt.Errorf("connection closed after %d of %d streams reset", c.rst.Load(), n)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d streams reset after %s", c.rst.Load(), n, d)
		}
	}
	return nil
}

func (c *h2Client) summary() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("%d frames (%d GOAWAY, %d RST_STREAM), statuses %v", c.frames.Load(), c.goAway.Load(), c.rst.Load(), c.statuses)
}

// probeWithin makes a normal HTTP/2 request on a fresh connection and fails
// unless it is answered 200 within d.
func probeWithin(t *testing.T, inst *instance, pool *x509.CertPool, d time.Duration) {
	t.Helper()
	c := inst.client(t, pool, true)
	c.Timeout = d
	start := time.Now()
	status, _, err := tryGet(c, inst.url("a.test", "/"))
	if err != nil || status != 200 {
		t.Errorf("a normal request during the flood: %d %v after %s; want 200 within %s", status, err, time.Since(start).Round(time.Millisecond), d)
	}
	c.CloseIdleConnections()
}

// gateSample is what the floods read from the admin API's /metrics.
type gateSample struct {
	goroutines int
	httpsOpen  float64 // tlsgate_connections_open{listener="https"}
}

// gateMetrics reads go_goroutines and the open https connections.
func gateMetrics(t *testing.T, inst *instance) gateSample {
	t.Helper()
	m, err := readGateMetrics(inst)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func readGateMetrics(inst *instance) (gateSample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+inst.Admin+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return gateSample{}, fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	var m gateSample
	found := false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, v, _ := strings.Cut(sc.Text(), " ")
		switch name {
		case "go_goroutines":
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return m, fmt.Errorf("go_goroutines %q: %w", v, err)
			}
			m.goroutines, found = int(n), true
		case `tlsgate_connections_open{listener="https"}`:
			m.httpsOpen, _ = strconv.ParseFloat(v, 64)
		}
	}
	if !found {
		return m, errors.New("no go_goroutines in /metrics")
	}
	return m, sc.Err()
}

// sampleGoroutines polls go_goroutines every 50 ms until the function it
// returns is called, which stops the poller and returns the peak seen.
func sampleGoroutines(inst *instance) func() int {
	stop, done := make(chan struct{}), make(chan int)
	go func() {
		peak := 0
		for {
			if m, err := readGateMetrics(inst); err == nil {
				peak = max(peak, m.goroutines)
			}
			select {
			case <-stop:
				done <- peak
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return func() int { close(stop); return <-done }
}

// rssBytes reads tlsgate's resident set size from /proc.
func rssBytes(t *testing.T, inst *instance) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", inst.Cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/PID/status")
	return 0
}
