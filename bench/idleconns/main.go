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
	"context"
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

	// The benchmark certificate is self-signed; what is measured is the
	// server's memory, not the client's trust decisions.
	var protos http.Protocols
	if *proto == "h1" {
		protos.SetHTTP1(true)
	} else {
		protos.SetHTTP2(true)
	}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{
			ServerName:         *sni,
			CurvePreferences:   []tls.CurveID{tls.X25519}, // as h2load and newconns
			InsecureSkipVerify: true,
		},
		Protocols:           &protos,
		DisableCompression:  true,
		TLSHandshakeTimeout: 10 * time.Second,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}

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
				c, err := open(tr, *addr, *sni)
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
func open(tr *http.Transport, addr, host string) (io.Closer, error) {
	// The connection lives as long as the context given to NewClientConn,
	// so only the dial and the request are bounded.
	cc, err := tr.NewClientConn(context.Background(), "https", addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "https://"+host+"/", nil)
	if err != nil {
		cc.Close()
		return nil, err
	}
	resp, err := cc.RoundTrip(req)
	if err != nil {
		cc.Close()
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	if err != nil {
		cc.Close()
		return nil, err
	}
	return cc, nil
}
