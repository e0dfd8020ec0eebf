package server

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/testproc"
)

// TestLimitListener: past its cap the listener does not accept; a closed
// connection lets the next one in from the backlog, and the wait counts.
func TestLimitListener(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stats := &capStats{}
	ln := newLimitListener(raw, 2, stats)
	defer ln.Close()

	accepted := make(chan net.Conn, 3)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	for range 3 {
		c, err := net.Dial("tcp", raw.Addr().String()) // completes in the backlog
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	first, second := <-accepted, <-accepted
	// The accept loop counts its wait before blocking: from then on, no
	// third connection can have been accepted.
	testproc.Eventually(t, 5*time.Second, "the accept loop waiting at the cap", func() error {
		if stats.waits.Load() != 1 {
			return fmt.Errorf("waits = %d", stats.waits.Load())
		}
		return nil
	})
	if len(accepted) != 0 {
		t.Fatal("a third connection was accepted past max_connections 2")
	}
	if stats.seconds() <= 0 {
		t.Errorf("seconds at cap = %v; want the wait in progress counted", stats.seconds())
	}
	first.Close()
	first.Close() // a second Close must not free a second slot
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting connection was not accepted after one closed")
	}
	second.Close()
	ln.Close()
	for range accepted {
	}
}
