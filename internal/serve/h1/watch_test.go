package h1_test

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/serve"
)

// TestClientGoneCancels: a client that leaves while its handler runs
// cancels r.Context(), as net/http's background read does.
func TestClientGoneCancels(t *testing.T) {
	canceled := make(chan bool, 1)
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		close(started)
		select {
		case <-r.Context().Done():
			canceled <- true
		case <-time.After(5 * time.Second):
			canceled <- false
		}
	})
	addr := start(t, &serve.Server{Handler: h})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi")
	<-started
	c.Close()
	if !<-canceled {
		t.Fatal("the handler's context was not canceled when the client left")
	}
}
