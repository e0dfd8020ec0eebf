package integration

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	idleConns      = 2000
	slowlorisConns = 200
	// slowHeaderTimeout is the test's read_header_timeout.
	slowHeaderTimeout = 2 * time.Second
)

// TestIdleAndSlowloris holds 2,000 idle keep-alive TLS connections and 200
// slowloris connections (a header block sent one byte every 100 ms, never
// finished) against tlsgate at once. A normal request on a fresh
// connection is answered within 2 s throughout; every slowloris connection
// is closed by read_header_timeout without an answer; the idle ones stay
// open and usable (idle_timeout is 2m).
func TestIdleAndSlowloris(t *testing.T) {
	// Not parallel: its 2 s bounds are about tlsgate, not about sharing
	// two cores with the rest of the suite (sequential tests run alone).
	raiseFDLimit(t, 3*(idleConns+slowlorisConns))
	inst := startTLSGate(t, header+`
limits: {read_header_timeout: 2s}
sites:
  - hosts: [a.test]
    tls: local
    routes:
      - path: /
        respond: {status: 200, body: "ok"}
`)
	pool := inst.rootPool(t)
	// Resumed sessions and X25519 alone (no ML-KEM): cheaper handshakes,
	// so 2,200 of them fit the test's seconds on two cores.
	cfg := &tls.Config{ServerName: "a.test", RootCAs: pool, NextProtos: []string{"http/1.1"},
		ClientSessionCache: tls.NewLRUClientSessionCache(64), CurvePreferences: []tls.CurveID{tls.X25519}}
	dial := func() (*tls.Conn, error) {
		return tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", inst.HTTPS, cfg)
	}

	// The idle connections: one request each, then kept alive, idle.
	idle := make([]*idleConn, idleConns)
	t.Cleanup(func() {
		for _, c := range idle {
			if c != nil {
				c.conn.Close()
			}
		}
	})
	start := time.Now()
	var resumed atomic.Int32
	if err := parallel(16, idleConns, func(i int) error {
		conn, err := dial()
		if err != nil {
			return err
		}
		if conn.ConnectionState().DidResume {
			resumed.Add(1)
		}
		idle[i] = &idleConn{conn: conn, br: bufio.NewReader(conn)}
		return idle[i].get()
	}); err != nil {
		t.Fatalf("opening idle connections: %v", err)
	}
	t.Logf("%d idle keep-alive connections open after %s (%d TLS sessions resumed)", idleConns, time.Since(start).Round(time.Millisecond), resumed.Load())

	// The slowloris connections.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() { close(stop); wg.Wait() })
	closed := make(chan slowResult, slowlorisConns)
	var slowMu sync.Mutex // guards slow
	var slow []*tls.Conn
	var dialed []time.Time // when each handshake completed: read_header_timeout runs from there
	if err := parallel(16, slowlorisConns, func(int) error {
		conn, err := dial()
		if err != nil {
			return err
		}
		slowMu.Lock()
		slow, dialed = append(slow, conn), append(dialed, time.Now())
		slowMu.Unlock()
		return nil
	}); err != nil {
		for _, c := range slow {
			c.Close()
		}
		t.Fatalf("slowloris connections: %v", err)
	}
	for i, conn := range slow {
		wg.Add(2)
		go func() { defer wg.Done(); slowlorisWrite(conn, stop) }()
		go func() { defer wg.Done(); closed <- slowlorisRead(conn, dialed[i], stop) }()
	}
	if m := gateMetrics(t, inst); m.httpsOpen < idleConns+slowlorisConns {
		t.Errorf("tlsgate has %v https connections open; want at least %d", m.httpsOpen, idleConns+slowlorisConns)
	}
	slowStart := time.Now()

	// Throughout: a fresh connection is answered within 2 s, over
	// HTTP/1.1 and HTTP/2.
	probe := func(when string) {
		t.Helper()
		for _, h2 := range []bool{false, true} {
			c := inst.client(t, pool, h2)
			c.Timeout = 2 * time.Second
			begin := time.Now()
			status, _, err := tryGet(c, inst.url("a.test", "/"))
			if err != nil || status != 200 {
				t.Errorf("%s: a normal request (h2 %v): %d %v after %s; want 200 within 2s", when, h2, status, err, time.Since(begin).Round(time.Millisecond))
			}
			c.CloseIdleConnections()
		}
	}
	probe("while the slowloris connections send")

	// Every slowloris connection is closed by read_header_timeout.
	deadline := time.After(slowHeaderTimeout + 8*time.Second) // generous: two loaded cores
	var last time.Duration
	for i := range slowlorisConns {
		select {
		case r := <-closed:
			// Over TLS, Go's server answers a header read that timed out
			// with a bare 400 (over plain TCP it just closes).
			if r.answer != "" && !strings.HasPrefix(r.answer, "HTTP/1.1 400 ") {
				t.Errorf("a slowloris connection got %q: its header block was never finished", r.answer)
			}
			if r.after < slowHeaderTimeout-250*time.Millisecond {
				t.Errorf("a slowloris connection was closed after %s, before read_header_timeout %s", r.after, slowHeaderTimeout)
			}
			last = max(last, r.after)
		case <-deadline:
			t.Fatalf("%d of %d slowloris connections still open %s after they started; want them closed by read_header_timeout %s",
				slowlorisConns-i, slowlorisConns, time.Since(slowStart).Round(time.Millisecond), slowHeaderTimeout)
		}
	}
	t.Logf("all %d slowloris connections closed; the last %s after it started", slowlorisConns, last.Round(time.Millisecond))
	probe("after the slowloris connections closed")

	// The idle connections are still open and in step: every 50th answers.
	for i := 0; i < idleConns; i += 50 {
		if err := idle[i].get(); err != nil {
			t.Errorf("idle connection %d after %s: %v", i, time.Since(start).Round(time.Millisecond), err)
		}
	}
}

// idleConn is a keep-alive HTTP/1.1 connection with its reader.
type idleConn struct {
	conn *tls.Conn
	br   *bufio.Reader
}

// get sends one request and reads its answer.
func (c *idleConn) get() error {
	c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.conn.SetDeadline(time.Time{})
	if _, err := io.WriteString(c.conn, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// slowResult is how a slowloris connection ended.
type slowResult struct {
	after  time.Duration // from the handshake to the close
	answer string        // what the server sent before closing
}

// slowlorisWrite sends a header block that never ends, one byte (one TLS
// record) every 100 ms, until a write fails or stop is closed.
func slowlorisWrite(conn *tls.Conn, stop <-chan struct{}) {
	const head = "GET / HTTP/1.1\r\nHost: a.test\r\nX-Slow: "
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		b := byte('a')
		if i < len(head) {
			b = head[i]
		}
		if _, err := conn.Write([]byte{b}); err != nil {
			return
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

// slowlorisRead waits for the server to close conn (or stop, which closes
// it) and reports when, and whether anything was answered.
func slowlorisRead(conn *tls.Conn, begin time.Time, stop <-chan struct{}) slowResult {
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-stop:
		case <-done:
		}
		conn.Close()
	}()
	b, _ := io.ReadAll(conn)
	return slowResult{after: time.Since(begin), answer: string(b)}
}

// parallel runs f(0..n-1) on workers goroutines and returns the first error.
func parallel(workers, n int, f func(i int) error) error {
	next := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var first error
feed:
	for i := range n {
		select {
		case next <- i:
		case first = <-errs:
			break feed
		}
	}
	close(next)
	wg.Wait()
	close(errs)
	if first == nil {
		first = <-errs
	}
	return first
}
