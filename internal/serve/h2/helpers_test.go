//lint:file-ignore SA1019 the tests drive the server with x/net/http2's own client (Transport), the reference HTTP/2 client the brief names
package h2

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// testCert is a self-signed certificate for 127.0.0.1 and a.test.
func testCert(t testing.TB) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "a.test"},
		DNSNames:     []string{"a.test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// testServer accepts TLS connections and serves each with a Conn.
type testServer struct {
	ln    net.Listener
	addr  string
	opts  *Options
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[*Conn]bool
	// served counts connections whose Serve returned.
	served int
}

func startServer(t testing.TB, opts *Options) *testServer {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cert := testCert(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{ln: ln, addr: ln.Addr().String(), opts: opts, conns: map[*Conn]bool{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				tc := nc.(*tls.Conn)
				tc.SetDeadline(time.Now().Add(5 * time.Second))
				if err := tc.Handshake(); err != nil {
					nc.Close()
					return
				}
				tc.SetDeadline(time.Time{})
				c := NewConn(nc, opts)
				s.mu.Lock()
				s.conns[c] = true
				s.mu.Unlock()
				c.Serve(context.Background())
				s.mu.Lock()
				delete(s.conns, c)
				s.served++
				s.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *testServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *testServer) shutdownAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Shutdown()
	}
}

func (s *testServer) servedConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns) + s.served
}

func (s *testServer) openConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// client returns an HTTP/2 client (x/net's Transport) for s.
func (s *testServer) client(t testing.TB) (*http.Client, *http2.Transport) {
	tr := &http2.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}, tr
}

func (s *testServer) url(path string) string { return "https://" + s.addr + path }

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rawConn is a Framer-driven client for hostile sequences.
type rawConn struct {
	t  testing.TB
	nc *tls.Conn
	fr *http2.Framer
}

func (s *testServer) raw(t testing.TB) *rawConn {
	t.Helper()
	nc, err := tls.Dial("tcp", s.addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if _, err := io.WriteString(nc, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(nc, nc)
	rc := &rawConn{t: t, nc: nc, fr: fr}
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return rc
}

func errDeadline() error { return osErrDeadlineExceeded }

var osErrDeadlineExceeded = os.ErrDeadlineExceeded
