// Command floor is the least a Go program can spend per proxied HTTP/1.1
// request on this machine: the floor under tlsgate's figure in
// docs/BENCHMARKS.md. It terminates TLS with crypto/tls (as tlsgate does),
// reads each request's head as raw bytes up to the blank line (no parsing,
// no header map, no validation: none of what a proxy must do), sends one
// fixed request to the backend on a pooled keep-alive connection, reads the
// answer by its Content-Length and writes it back. One goroutine per client
// connection, no allocation per request.
//
// What it still pays is what every Go proxy pays: crypto/tls records, the
// Go scheduler and netpoller (a read that returns EAGAIN and a park before
// each answer arrives), and the kernel's loopback TCP path. bench/load.sh
// runs it as the "floor" target beside tlsgate and the peers.
//
// It is a benchmark tool, not part of tlsgate: it answers nothing but the
// GET the load generator sends.
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"flag"
	"io"
	"log"
	"net"
	"strconv"
	"sync"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9443", "TLS listen address (loopback)")
	backend := flag.String("backend", "127.0.0.1:9000", "HTTP/1.1 backend address")
	certFile := flag.String("cert", "cert.pem", "certificate file")
	keyFile := flag.String("key", "key.pem", "key file")
	flag.Parse()

	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := tls.Listen("tcp", *addr, &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"http/1.1"},
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		log.Fatal(err)
	}
	p := &pool{addr: *backend}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serve(c, p)
	}
}

// upstreamRequest is what every client request becomes: the headers a
// proxy adds (as the bench's other targets add them) and nothing else.
var upstreamRequest = []byte("GET / HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: 127.0.0.1\r\n" +
	"X-Forwarded-Proto: https\r\nX-Forwarded-Host: localhost\r\n\r\n")

func serve(c net.Conn, p *pool) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 4096)
	out := make([]byte, 0, 4096)
	for {
		if err := skipHead(br); err != nil {
			return
		}
		var err error
		if out, err = p.exchange(out[:0]); err != nil {
			io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			return
		}
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// skipHead consumes one request head, up to and including its blank line.
func skipHead(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			return nil
		}
	}
}

// pool holds idle keep-alive backend connections.
type pool struct {
	addr string
	mu   sync.Mutex
	idle []*upstream
}

type upstream struct {
	c  net.Conn
	br *bufio.Reader
}

// exchange sends upstreamRequest and appends the whole answer to out.
func (p *pool) exchange(out []byte) ([]byte, error) {
	p.mu.Lock()
	var u *upstream
	if n := len(p.idle); n > 0 {
		u, p.idle = p.idle[n-1], p.idle[:n-1]
	}
	p.mu.Unlock()
	if u == nil {
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			return out, err
		}
		u = &upstream{c: c, br: bufio.NewReaderSize(c, 4096)}
	}
	out, err := u.roundTrip(out)
	if err != nil {
		u.c.Close()
		return out, err
	}
	p.mu.Lock()
	p.idle = append(p.idle, u)
	p.mu.Unlock()
	return out, nil
}

var contentLength = []byte("content-length:")

func (u *upstream) roundTrip(out []byte) ([]byte, error) {
	if _, err := u.c.Write(upstreamRequest); err != nil {
		return out, err
	}
	length := -1
	for {
		line, err := u.br.ReadSlice('\n')
		if err != nil {
			return out, err
		}
		out = append(out, line...)
		if len(line) <= 2 {
			break
		}
		if len(line) > len(contentLength) && bytes.EqualFold(line[:len(contentLength)], contentLength) {
			length, _ = strconv.Atoi(string(bytes.TrimSpace(line[len(contentLength):])))
		}
	}
	if length < 0 {
		return out, errors.New("backend answer without Content-Length")
	}
	start := len(out)
	out = append(out, make([]byte, length)...)
	_, err := io.ReadFull(u.br, out[start:])
	return out, err
}
