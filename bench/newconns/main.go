// Command newconns measures how many new TLS connections per second a server
// takes: -c clients each open a connection, make a full TLS handshake, send
// one HTTP/1.1 request with "Connection: close", read the answer until the
// server closes, and start over, until -n connections have been made.
//
// Every handshake is a full one: the client keeps no session cache, so there
// is no resumption (h2load and wrk resume TLS sessions, which skips the
// server's certificate signature). The client offers only X25519, so Go
// servers (which would pick X25519MLKEM768 with a Go client) and OpenSSL
// servers do the same key exchange. It does not verify the certificate: what
// is measured is the server.
//
// It prints one line: "conns N failed F seconds S rate R". It is a benchmark
// tool, not part of tlsgate.
package main

import (
	"bufio"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9443", "server address (loopback)")
	sni := flag.String("sni", "localhost", "TLS server name and Host header")
	n := flag.Int("n", 5000, "connections to make in all")
	c := flag.Int("c", 32, "connections in flight at a time")
	flag.Parse()

	cfg := &tls.Config{
		ServerName:         *sni,
		NextProtos:         []string{"http/1.1"},
		MinVersion:         tls.VersionTLS13,
		CurvePreferences:   []tls.CurveID{tls.X25519},
		InsecureSkipVerify: true,
	}
	req := []byte("GET / HTTP/1.1\r\nHost: " + *sni + "\r\nConnection: close\r\n\r\n")

	var (
		next, failed atomic.Int64
		lastErr      atomic.Value
		wg           sync.WaitGroup
	)
	start := time.Now()
	for range *c {
		wg.Go(func() {
			for next.Add(1) <= int64(*n) {
				if err := once(*addr, cfg, req); err != nil {
					failed.Add(1)
					lastErr.Store(err.Error())
				}
			}
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	if e, ok := lastErr.Load().(string); ok {
		fmt.Fprintln(os.Stderr, "newconns: last error:", e)
	}
	ok := int64(*n) - failed.Load()
	fmt.Printf("conns %d failed %d seconds %.3f rate %.0f\n", ok, failed.Load(), secs, float64(ok)/secs)
}

// once makes one connection, one request, and waits for the server to close.
func once(addr string, cfg *tls.Config, req []byte) error {
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	conn := tls.Client(raw, cfg)
	if err := conn.Handshake(); err != nil {
		return err
	}
	if _, err := conn.Write(req); err != nil {
		return err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	// Let the server close first, as it does for "Connection: close", so
	// the TIME_WAIT state stays on its side and client ports do not run out.
	io.Copy(io.Discard, br)
	return nil
}
