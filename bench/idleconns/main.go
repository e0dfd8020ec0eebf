// Command idleconns opens many TLS connections to a proxy, sends one request
// on each, reads the answer and then holds them all open and idle, so that
// bench/load.sh can read the proxy's resident memory with N idle keep-alive
// connections and compare it with none.
//
// It prints "ready OPENED FAILED" on stdout once every connection has been
// tried, then holds until -hold has passed or stdin is closed, whichever
// comes first. It is a benchmark tool, not part of tlsgate.
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

	"golang.org/x/net/http2"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9443", "proxy address (loopback)")
	sni := flag.String("sni", "localhost", "TLS server name and Host header")
	n := flag.Int("n", 2000, "connections to open")
	proto := flag.String("proto", "h1", "h1 (ALPN http/1.1) or h2 (ALPN h2)")
	workers := flag.Int("workers", 32, "connections opened in parallel")
	hold := flag.Duration("hold", 30*time.Second, "longest time to hold the connections")
	flag.Parse()
	if *proto != "h1" && *proto != "h2" {
		fmt.Fprintln(os.Stderr, "idleconns: -proto must be h1 or h2")
		os.Exit(2)
	}

	alpn := "http/1.1"
	if *proto == "h2" {
		alpn = "h2"
	}
	// The benchmark certificate is self-signed; what is measured is the
	// server's memory, not the client's trust decisions.
	cfg := &tls.Config{
		ServerName:         *sni,
		NextProtos:         []string{alpn},
		CurvePreferences:   []tls.CurveID{tls.X25519}, // as h2load and newconns
		InsecureSkipVerify: true,
	}
	h2t := &http2.Transport{}

	var (
		mu      sync.Mutex
		keep    []io.Closer
		failed  atomic.Int64
		lastErr atomic.Value
		next    atomic.Int64
		wg      sync.WaitGroup
	)
	for range *workers {
		wg.Go(func() {
			for next.Add(1) <= int64(*n) {
				c, err := open(*addr, *sni, cfg, h2t, *proto)
				if err != nil {
					failed.Add(1)
					lastErr.Store(err.Error())
					continue
				}
				mu.Lock()
				keep = append(keep, c)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if e, ok := lastErr.Load().(string); ok {
		fmt.Fprintln(os.Stderr, "idleconns: last error:", e)
	}
	fmt.Printf("ready %d %d\n", len(keep), failed.Load())

	done := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(done) }()
	select {
	case <-done:
	case <-time.After(*hold):
	}
	for _, c := range keep {
		c.Close()
	}
}

// open makes one TLS connection, sends one GET and reads the whole answer,
// leaving the connection idle and open.
func open(addr, host string, cfg *tls.Config, h2t *http2.Transport, proto string) (io.Closer, error) {
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, cfg)
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := conn.Handshake(); err != nil {
		raw.Close()
		return nil, err
	}
	req, _ := http.NewRequest("GET", "https://"+host+"/", nil)
	if proto == "h1" {
		err = requestH1(conn, req)
	} else {
		var cc *http2.ClientConn
		if cc, err = h2t.NewClientConn(conn); err == nil {
			err = requestH2(cc, req)
		}
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	return conn, nil
}

func requestH1(conn *tls.Conn, req *http.Request) error {
	if err := req.Write(conn); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || resp.Close {
		return fmt.Errorf("status %d, close %v", resp.StatusCode, resp.Close)
	}
	return nil
}

func requestH2(cc *http2.ClientConn, req *http.Request) error {
	resp, err := cc.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
