package integration

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// rawBackend is an HTTP/1.1 upstream written on a bare TCP socket, so the
// test, not net/http, decides how the bytes tlsgate forwards are framed.
// It frames naively, the way smuggling attacks hope a backend does:
// Content-Length wins over Transfer-Encoding, and anything after a body is
// the next request. Every request it parses is recorded with a sequence
// number, and its answer carries that number (X-Seq) and the request line,
// so a test can tell whether each request the backend saw was one the
// client was answered for.
type rawBackend struct {
	ln     net.Listener
	scheme string // http or https
	wg     sync.WaitGroup

	// mu guards seen and conns.
	mu    sync.Mutex
	seen  []rawRequest // by sequence number
	conns map[net.Conn]struct{}
}

// newRawBackend listens on a free loopback port; cleanup closes it and
// every connection and waits for their goroutines.
func newRawBackend(t *testing.T) *rawBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startRawBackend(t, ln, "http")
}

// newRawBackendTLS is newRawBackend behind TLS (HTTP/1.1 only), with a
// self-signed certificate for 127.0.0.1 whose PEM file it returns for
// upstream_tls.ca_files.
func newRawBackendTLS(t *testing.T) (*rawBackend, string) {
	t.Helper()
	certFile, keyFile := writeSelfSigned(t, t.TempDir(), "raw-backend")
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{pair}, NextProtos: []string{"http/1.1"}})
	return startRawBackend(t, ln, "https"), certFile
}

func startRawBackend(t *testing.T, ln net.Listener, scheme string) *rawBackend {
	t.Helper()
	b := &rawBackend{ln: ln, scheme: scheme, conns: make(map[net.Conn]struct{})}
	b.wg.Add(1)
	go b.acceptLoop()
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		for c := range b.conns {
			c.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	return b
}

// URL is the backend's http:// or https:// address.
func (b *rawBackend) URL() string { return b.scheme + "://" + b.ln.Addr().String() }

// rawRequest is what the backend parsed of one request.
type rawRequest struct {
	Line  string   // the request line
	Host  string   // the first Host header
	Names []string // the header names, lower-cased
}

// Seen returns the requests parsed so far, by sequence number.
func (b *rawBackend) Seen() []rawRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]rawRequest(nil), b.seen...)
}

func (b *rawBackend) acceptLoop() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		b.conns[c] = struct{}{}
		b.mu.Unlock()
		b.wg.Add(1)
		go b.serveConn(c)
	}
}

func (b *rawBackend) serveConn(c net.Conn) {
	defer b.wg.Done()
	defer func() {
		c.Close()
		b.mu.Lock()
		delete(b.conns, c)
		b.mu.Unlock()
	}()
	br := bufio.NewReader(c)
	for {
		line, hdr, err := readRawHead(br)
		if err != nil {
			return
		}
		b.mu.Lock()
		seq := len(b.seen)
		var host string
		if h := hdr["host"]; len(h) > 0 {
			host = h[0]
		}
		var names []string
		for name := range hdr {
			names = append(names, name)
		}
		b.seen = append(b.seen, rawRequest{Line: line, Host: host, Names: names})
		b.mu.Unlock()
		if err := readRawBody(br, hdr); err != nil {
			return
		}
		body := line + "\n"
		if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Seq: %d\r\n\r\n%s", len(body), seq, body); err != nil {
			return
		}
	}
}

// readRawHead reads a request line and header lines (LF or CRLF endings)
// up to the blank line. Header names are lower-cased; values trimmed.
func readRawHead(br *bufio.Reader) (string, map[string][]string, error) {
	line, err := readRawLine(br)
	if err != nil {
		return "", nil, err
	}
	hdr := make(map[string][]string) // the backend only needs names and values
	for {
		l, err := readRawLine(br)
		if err != nil {
			return "", nil, err
		}
		if l == "" {
			return line, hdr, nil
		}
		name, value, _ := strings.Cut(l, ":")
		name = strings.ToLower(strings.TrimSpace(name))
		hdr[name] = append(hdr[name], strings.TrimSpace(value))
	}
}

func readRawLine(br *bufio.Reader) (string, error) {
	l, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimRight(l, "\r\n"), nil
}

// readRawBody skips a body framed the naive way: Content-Length first,
// else chunked, else none.
func readRawBody(br *bufio.Reader, hdr map[string][]string) error {
	if cl := hdr["content-length"]; len(cl) > 0 {
		n, err := strconv.ParseInt(cl[0], 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("content-length %q", cl[0])
		}
		_, err = io.CopyN(io.Discard, br, n)
		return err
	}
	if te := hdr["transfer-encoding"]; len(te) > 0 && strings.Contains(strings.ToLower(strings.Join(te, ",")), "chunked") {
		for {
			l, err := readRawLine(br)
			if err != nil {
				return err
			}
			size, _, _ := strings.Cut(l, ";")
			n, err := strconv.ParseInt(strings.TrimSpace(size), 16, 64)
			if err != nil || n < 0 {
				return fmt.Errorf("chunk size %q", l)
			}
			if n == 0 {
				for { // trailers up to the blank line
					l, err := readRawLine(br)
					if err != nil || l == "" {
						return err
					}
				}
			}
			if _, err := io.CopyN(io.Discard, br, n+2); err != nil {
				return err
			}
		}
	}
	return nil
}
