// Package testproc runs child processes for tests and hands out free
// loopback ports. It is for tests only (test/testenv and internal test helpers
// such as storage/storagetest); no program links it.
package testproc

import (
	"bytes"
	"net"
	"strconv"
	"sync"
	"testing"
)

// given is every port FreePort handed out in this process. The kernel may
// offer a port again as soon as FreePort's listener closes, and one test
// asking for two ports (HTTP and HTTPS) must not get the same one twice.
var given struct {
	mu    sync.Mutex
	ports map[int]bool
}

// FreePort asks the kernel for a free 127.0.0.1 port that this process has
// not handed out before, free for TCP and for UDP both: an HTTPS port is
// also HTTP/3's UDP port by default (listen.http3). Another process may take it before we use it; the
// window is small enough for tests.
func FreePort(t testing.TB) int {
	t.Helper()
	given.mu.Lock()
	defer given.mu.Unlock()
	if given.ports == nil {
		given.ports = map[int]bool{}
	}
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if given.ports[port] {
			continue
		}
		pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			given.ports[port] = true // taken for UDP: never offer it
			continue
		}
		pc.Close()
		given.ports[port] = true
		return port
	}
}

// SyncBuffer is a bytes.Buffer safe for a process writer and test readers.
type SyncBuffer struct {
	// mu guards buf.
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
