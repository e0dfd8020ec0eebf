package accesslog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/config"
)

// combinedRE is nginx's combined format, field by field, strictly.
var combinedRE = regexp.MustCompile(`^(\S+) - (\S+) \[(\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] "([^"\\]*(?:\\x[0-9A-F]{2}[^"\\]*)*)" (\d{3}) (\d+) "([^"]*)" "([^"]*)"\n$`)

func sample() *Record {
	return &Record{
		Time: time.Date(2026, 12, 3, 11, 4, 5, 0, time.FixedZone("", 3600)), RequestID: "abc", Site: "example.com",
		Route: "/", ClientIP: "192.0.2.7", Method: "GET", Host: "example.com", URI: "/a?b=1", Proto: "HTTP/1.1",
		Status: 200, BytesIn: 3, BytesOut: 1234, Duration: 1500 * time.Microsecond, Upstream: "http://127.0.0.1:8080",
		UpstreamD: time.Millisecond, TLSVersion: "TLSv1.3", SNI: "example.com", UserAgent: "curl/8.0", Referer: "https://r/",
	}
}

func TestFormats(t *testing.T) {
	r := sample()
	tests := []struct {
		format, want string
	}{
		{"common", "192.0.2.7 - - [03/Dec/2026:11:04:05 +0100] \"GET /a?b=1 HTTP/1.1\" 200 1234\n"},
		{"combined", "192.0.2.7 - - [03/Dec/2026:11:04:05 +0100] \"GET /a?b=1 HTTP/1.1\" 200 1234 \"https://r/\" \"curl/8.0\"\n"},
	}
	for _, tt := range tests {
		f, err := NewFormatter(tt.format)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(f(nil, r)); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.format, got, tt.want)
		}
	}
}

func TestCombinedEscapesAndMatchesNginx(t *testing.T) {
	r := sample()
	r.UserAgent = "evil\" agent\n\\"
	r.Referer = ""
	r.User = "bob smith"
	line := string(appendCombined(nil, r))
	m := combinedRE.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("line does not match nginx combined: %q", line)
	}
	if m[2] != "bob_smith" || m[7] != "-" || m[8] != `evil\x22 agent\x0A\x5C` {
		t.Errorf("fields: %q", m[1:])
	}
}

func TestJSONFields(t *testing.T) {
	var m map[string]any
	if err := json.Unmarshal(appendJSON(nil, sample()), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"ts", "request_id", "site", "route", "client_ip", "method", "host", "uri", "proto", "status",
		"bytes_in", "bytes_out", "duration_ms", "upstream", "upstream_ms", "tls_version", "sni", "user", "user_agent", "referer"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no field %q", k)
		}
	}
	if m["status"] != 200.0 || m["duration_ms"] != 1.5 || m["bytes_out"] != 1234.0 {
		t.Errorf("values: %v", m)
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/a", "/a"},
		{"/a?token=s3cret&x=1", "/a?token=REDACTED&x=1"},
		{"/a?x=1&TOKEN=s3cret", "/a?x=1&TOKEN=REDACTED"},
		{"/a?to%6Ben=s3cret", "/a?token=REDACTED"},
		{"/a?tokens=1", "/a?tokens=1"},
		{"/a?token", "/a?token=REDACTED"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in, []string{"token"}); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRequestID(t *testing.T) {
	if got := RequestID("abc-1.2_X", true); got != "abc-1.2_X" {
		t.Errorf("trusted valid id replaced: %q", got)
	}
	for _, tt := range []struct {
		got     string
		trusted bool
	}{{"abc", false}, {"", true}, {"a b", true}, {strings.Repeat("a", 129), true}, {"a\"b", true}} {
		id := RequestID(tt.got, tt.trusted)
		if id == tt.got || len(id) != 32 || !validID(id) {
			t.Errorf("RequestID(%q, %v) = %q", tt.got, tt.trusted, id)
		}
	}
}

// startWriter is NewWriter with a bound of limit pending bytes.
func startWriter(o Output, limit int, dropped func()) *Writer {
	w := newWriter(o, limit, dropped)
	go w.run()
	return w
}

func TestWriterDropsWhenFull(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	dropped := 0
	w := startWriter(Output{Path: path}, 4, func() { dropped++ })
	// Fill faster than any disk: at most queue + in-flight lines wait, the
	// rest are dropped, and Line never blocks.
	for range 10000 {
		w.Line([]byte("x\n"))
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	written := strings.Count(string(b), "\n")
	if written+dropped != 10000 {
		t.Errorf("written %d + dropped %d != 10000", written, dropped)
	}
	if dropped == 0 {
		t.Errorf("a queue of 4 bytes took 10000 lines without dropping")
	}
}

func TestWriterReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	w := startWriter(Output{Path: path}, 1<<20, nil)
	w.Line([]byte("one\n"))
	waitFor(t, func() bool { b, _ := os.ReadFile(path); return string(b) == "one\n" })
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	w.Reopen()
	// Lines racing the signal may still reach the old file; every line
	// lands in one of the two, and a new file appears.
	sent := 1
	for ; sent < 10000; sent++ {
		if _, err := os.Stat(path); err == nil {
			break
		}
		w.Line([]byte("two\n"))
		time.Sleep(time.Millisecond)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if len(cur) == 0 || strings.Count(string(old)+string(cur), "\n") != sent || !strings.HasPrefix(string(old), "one\n") {
		t.Errorf("sent %d; old %q, new %q", sent, old, cur)
	}
}

func TestMiddleware(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	sink := &Sink{Metrics: NewMetrics()}
	m := &Middleware{Sink: sink, W: startWriter(Output{Path: path}, 1<<20, nil), Format: appendJSON, Redact: []string{"token"}}
	var backendID string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetSite(r, "example.com", false)
		SetRoute(r.Context(), "/api/", false)
		SetUser(r.Context(), "bob")
		backendID = r.Header.Get(HeaderRequestID)
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(201)
		w.Write([]byte("hello"))
	})
	r := httptest.NewRequest("POST", "https://example.com/api/x?token=s3cret", strings.NewReader("body"))
	r.Header.Set("Authorization", "Basic c2VjcmV0")
	r.Header.Set(HeaderRequestID, "client-chosen")
	rw := httptest.NewRecorder()
	m.Serve(rw, r, h)
	if err := m.W.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%v: %q", err, b)
	}
	id := rw.Header().Get(HeaderRequestID)
	if id == "client-chosen" || id != backendID || got["request_id"] != id {
		t.Errorf("request id: answer %q backend %q log %v", id, backendID, got["request_id"])
	}
	if got["status"] != 201.0 || got["bytes_out"] != 5.0 || got["bytes_in"] != 4.0 || got["user"] != "bob" || got["route"] != "/api/" {
		t.Errorf("line: %s", b)
	}
	if strings.Contains(string(b), "s3cret") || strings.Contains(string(b), "c2VjcmV0") {
		t.Errorf("secret logged: %s", b)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatal("condition not met within 5s")
}

// A request still in flight when a reload retired its writer logs into a
// closed Writer: the line is dropped and counted, never a panic.
func TestLineAfterClose(t *testing.T) {
	var dropped int
	w := startWriter(Output{Path: filepath.Join(t.TempDir(), "a.log")}, 10, func() { dropped++ })
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.Line([]byte("late\n"))
	if dropped != 1 {
		t.Errorf("dropped = %d; want 1", dropped)
	}
}

// chunkRecorder records each Write the log writer makes to its output.
type chunkRecorder struct {
	mu     sync.Mutex
	chunks [][]byte
}

func (c *chunkRecorder) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.chunks = append(c.chunks, append([]byte(nil), p...))
	return len(p), nil
}

// Every write to the output holds whole lines: lumberjack rotates between
// writes, so a line split across two would be split across two files.
func TestWritesHoldWholeLines(t *testing.T) {
	rec := &chunkRecorder{}
	w := newWriter(Output{Path: "stdout"}, 1<<20, nil)
	w.out = rec
	// Queue a burst before the goroutine starts, so a batch is over a chunk.
	for i := range 500 {
		w.Line([]byte(fmt.Sprintf("%d %s\n", i, strings.Repeat("x", 100+i*7%3000))))
	}
	w.Line([]byte(strings.Repeat("y", 100<<10) + "\n")) // longer than the buffer
	go w.run()
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	total := 0
	for i, c := range rec.chunks {
		if len(c) == 0 || c[len(c)-1] != '\n' {
			t.Fatalf("write %d of %d ends mid-line (%d bytes)", i, len(rec.chunks), len(c))
		}
		total += bytes.Count(c, []byte("\n"))
	}
	if total != 501 {
		t.Errorf("%d lines written; want 501", total)
	}
}

// TestFormatterForEveryConfigFormat: the formats are config's constants,
// so every value config accepts has a formatter.
func TestFormatterForEveryConfigFormat(t *testing.T) {
	for _, f := range []string{config.AccessLogJSON, config.AccessLogCommon, config.AccessLogCombined} {
		if _, err := NewFormatter(f); err != nil {
			t.Errorf("NewFormatter(%q): %v", f, err)
		}
	}
	if _, err := NewFormatter("xml"); err == nil {
		t.Error(`NewFormatter("xml") succeeded`)
	}
}
