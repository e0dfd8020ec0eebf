package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// accessLogFiles lists the current file and lumberjack's backups
// (access-TIMESTAMP.log) in dir.
func accessLogFiles(t *testing.T, dir, base string) (current string, backups []string) {
	t.Helper()
	backups, err := filepath.Glob(filepath.Join(dir, base+"-*.log"))
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, base+".log"), backups
}

// The file rotates at max_size with no line lost, keeping max_backups;
// a reload that changes output and format switches files at once.
func TestAccessLogRotationAndReload(t *testing.T) {
	t.Parallel()
	conf := header + `
access_log: {output: {{.Dir}}/logs/access.log, format: json, max_size: 1MiB, max_backups: 1}
sites:
  - hosts: [a.test]
    routes: [{path: /, respond: {body: ok}}]
`
	inst := startTLSGate(t, conf)
	c := inst.client(t, inst.rootPool(t), true)
	dir := filepath.Join(inst.Dir, "logs")
	// About 2.2 KiB per line: 1,200 lines are 2.6 MiB, two rotations.
	pad := strings.Repeat("x", 2000)
	const sent = 1200
	for i := range sent {
		if code, _ := get(t, c, inst.url("a.test", fmt.Sprintf("/?n=%d&pad=%s", i, pad))); code != 200 {
			t.Fatalf("request %d: %d", i, code)
		}
	}
	var current string
	var backups []string
	// Lines reach the file in batches (accesslog's flushDelay): wait for
	// the last request's.
	last := fmt.Sprintf("/?n=%d&", sent-1)
	eventually(t, 10*time.Second, "a rotated file ending with the last request", func() error {
		current, backups = accessLogFiles(t, dir, "access")
		if len(backups) == 0 {
			return fmt.Errorf("no backup in %s", dir)
		}
		if b, _ := os.ReadFile(current); !strings.Contains(string(b), last) {
			return fmt.Errorf("%s has no line for %s yet", current, last)
		}
		return nil
	})
	// max_backups: 1 keeps one old file; lumberjack removes the others
	// in the background after a rotation.
	eventually(t, 10*time.Second, "one backup kept", func() error {
		if _, backups = accessLogFiles(t, dir, "access"); len(backups) != 1 {
			return fmt.Errorf("backups %v; want 1", backups)
		}
		return nil
	})
	fi, err := os.Stat(current)
	if err != nil || fi.Size() > 1<<20 {
		t.Fatalf("current file %s: %v, size %d; want at most 1MiB", current, err, fi.Size())
	}
	bfi, _ := os.Stat(backups[0])
	if bfi.Size() > 1<<20 || bfi.Size() < 1<<19 {
		t.Errorf("backup is %d bytes; want close to 1MiB", bfi.Size())
	}
	// The newest lines are all there: the current file ends with the last
	// request and the backup continues into it without a gap.
	lines := append(readLines(t, backups[0]), readLines(t, current)...)
	var prev = -1
	for _, l := range lines {
		var v struct {
			URI string `json:"uri"`
		}
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("not JSON: %.100q: %v", l, err)
		}
		var n int
		fmt.Sscanf(strings.TrimPrefix(v.URI, "/?n="), "%d", &n)
		if prev >= 0 && n != prev+1 {
			t.Fatalf("line for request %d follows %d: a line was lost in rotation", n, prev)
		}
		prev = n
	}
	if prev != sent-1 {
		t.Errorf("last line is request %d; want %d", prev, sent-1)
	}

	// Reload to a new file and format: new lines go there, none to the old.
	before := len(readLines(t, current))
	inst.writeConfig(t, strings.Replace(strings.Replace(conf, "logs/access.log", "logs/other.log", 1), "format: json", "format: combined", 1))
	resp, err := http.Post("http://"+inst.Admin+"/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("reload: %d", resp.StatusCode)
	}
	c = inst.client(t, inst.rootPool(t), true) // a new connection: the new Runtime
	for range 5 {
		get(t, c, inst.url("a.test", "/after-reload"))
	}
	other := waitLines(t, 5, filepath.Join(dir, "other.log"))
	for _, l := range other {
		if !combinedLine.MatchString(l) || !strings.Contains(l, "/after-reload") {
			t.Errorf("not a combined line for /after-reload: %q", l)
		}
	}
	if n := len(readLines(t, current)); n != before {
		t.Errorf("the old file got %d lines after the reload", n-before)
	}
}

// A 504 from a backend slower than the route's timeout is logged with its
// status, upstream, request ID and duration.
func TestAccessLog504(t *testing.T) {
	t.Parallel()
	slow := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	inst := startTLSGate(t, header+`
access_log: {output: {{.Dir}}/access.log}
sites:
  - hosts: [a.test]
    routes: [{path: /slow/, to: ["`+slow+`"], timeout: 300ms}]
`)
	c := inst.client(t, inst.rootPool(t), false)
	req, _ := http.NewRequest("GET", inst.url("a.test", "/slow/x"), nil)
	resp, _ := doReq(t, c, req)
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("slow backend: %d; want 504", resp.StatusCode)
	}
	lines := waitLines(t, 1, filepath.Join(inst.Dir, "access.log"))
	var v struct {
		Status    int     `json:"status"`
		Upstream  string  `json:"upstream"`
		RequestID string  `json:"request_id"`
		Route     string  `json:"route"`
		Duration  float64 `json:"duration_ms"`
		BytesOut  int64   `json:"bytes_out"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &v); err != nil {
		t.Fatalf("not JSON: %q", lines[0])
	}
	if v.Status != 504 || v.Upstream != slow || v.RequestID != resp.Header.Get("X-Request-ID") || v.Route != "/slow/" ||
		v.Duration < 300 || v.BytesOut == 0 {
		t.Errorf("504 line: %s", lines[0])
	}
}

// A header block over limits.max_header_bytes gets 431 from tlsgate
// itself, over HTTP/1.1 and HTTP/2, and the answer is logged.
func TestAccessLog431(t *testing.T) {
	t.Parallel()
	inst := startTLSGate(t, header+`
limits: {max_header_bytes: 4KiB}
access_log: {output: {{.Dir}}/access.log}
sites:
  - hosts: [a.test]
    routes: [{path: /, respond: {body: ok}}]
`)
	pool := inst.rootPool(t)
	var ids []string
	for _, h2 := range []bool{false, true} {
		req, _ := http.NewRequest("GET", inst.url("a.test", "/big"), nil)
		req.Header.Set("X-Big", strings.Repeat("a", 16<<10))
		resp, body := doReq(t, inst.client(t, pool, h2), req)
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || !strings.HasPrefix(body, "431 ") {
			t.Fatalf("16KiB header (h2 %v): %d %q; want 431", h2, resp.StatusCode, body)
		}
		ids = append(ids, resp.Header.Get("X-Request-ID"))
	}
	lines := waitLines(t, 2, filepath.Join(inst.Dir, "access.log"))
	for i, l := range lines {
		var v struct {
			Status    int    `json:"status"`
			Site      string `json:"site"`
			URI       string `json:"uri"`
			RequestID string `json:"request_id"`
			BytesOut  int64  `json:"bytes_out"`
		}
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("not JSON: %.200q", l)
		}
		if v.Status != 431 || v.Site != "a.test" || v.URI != "/big" || v.RequestID != ids[i] || v.BytesOut == 0 {
			t.Errorf("431 line %d: %.300s", i, l)
		}
		if strings.Contains(l, "aaaaaaaa") {
			t.Errorf("the oversized header is in the log: %.200s", l)
		}
	}
	// A small request on the same instance still passes.
	if code, _ := get(t, inst.client(t, pool, true), inst.url("a.test", "/")); code != 200 {
		t.Errorf("small request: %d", code)
	}
}
