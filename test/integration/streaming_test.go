package integration

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// sseBackend sends three events per stream. After each event it waits
// until the test says it has received it, so an event that the proxy holds
// back can never arrive before the backend finishes: the test would stall.
type sseBackend struct {
	mu   sync.Mutex
	next map[string]chan struct{} // guarded by mu; one per stream id
}

func (b *sseBackend) gate(id string) chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.next == nil {
		b.next = map[string]chan struct{}{}
	}
	if b.next[id] == nil {
		b.next[id] = make(chan struct{}, 3)
	}
	return b.next[id]
}

func (b *sseBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	next := b.gate(r.URL.Query().Get("id"))
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(w, "data: event %d\n\n", i)
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-next:
		case <-r.Context().Done():
			return
		case <-time.After(15 * time.Second):
			return
		}
	}
}

// wsEcho sends every message back whole, as one message.
func wsEcho(ws *websocket.Conn) {
	for {
		var msg string
		if err := websocket.Message.Receive(ws, &msg); err != nil {
			return
		}
		if err := websocket.Message.Send(ws, msg); err != nil {
			return
		}
	}
}

func TestStreaming(t *testing.T) {
	t.Parallel()
	sse := &sseBackend{}
	sseURL := backend(t, sse)
	wsURL := backend(t, websocket.Handler(wsEcho))
	inst := startTLSGate(t, fmt.Sprintf(header+`
sites:
  - hosts: [a.test]
    tls: local
    routes:
      - path: /events
        to: ["%s"]
      - path: /ws/
        to: ["%s"]
`, sseURL, wsURL))
	pool := inst.rootPool(t)

	for _, h2 := range []bool{true, false} {
		name := map[bool]string{true: "SSE over h2", false: "SSE over http/1.1"}[h2]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			id := strings.ReplaceAll(name, " ", "-")
			next := sse.gate(id)
			resp, err := inst.client(t, pool, h2).Get(inst.url("a.test", "/events?id="+id))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
				t.Errorf("Content-Type %q; want text/event-stream", ct)
			}
			lines := make(chan string)
			go func() {
				defer close(lines)
				sc := bufio.NewScanner(resp.Body)
				for sc.Scan() {
					if l := sc.Text(); l != "" {
						lines <- l
					}
				}
			}()
			for i := 1; i <= 3; i++ {
				select {
				case l, ok := <-lines:
					if want := fmt.Sprintf("data: event %d", i); !ok || l != want {
						t.Fatalf("got %q (open=%v); want %q", l, ok, want)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("event %d not delivered while the backend waits for it: the proxy buffers the stream", i)
				}
				next <- struct{}{}
			}
		})
	}

	t.Run("websocket echo", func(t *testing.T) {
		t.Parallel()
		conn, err := tls.Dial("tcp", inst.HTTPS, &tls.Config{ServerName: "a.test", RootCAs: pool, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(15 * time.Second))
		cfg, err := websocket.NewConfig(inst.url("a.test", "/ws/echo"), "https://a.test")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Location.Scheme = "wss"
		ws, err := websocket.NewClient(cfg, conn)
		if err != nil {
			t.Fatalf("websocket handshake through tlsgate: %v", err)
		}
		defer ws.Close()
		for _, msg := range []string{"hello", "second message", strings.Repeat("x", 70000)} {
			if err := websocket.Message.Send(ws, msg); err != nil {
				t.Fatalf("send: %v", err)
			}
			var got string
			if err := websocket.Message.Receive(ws, &got); err != nil {
				t.Fatalf("receive: %v", err)
			}
			if got != msg {
				t.Errorf("echo of %d bytes came back as %d bytes", len(msg), len(got))
			}
		}
	})
}
