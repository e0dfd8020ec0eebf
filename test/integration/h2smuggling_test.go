package integration

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// h2SmugglingCase is one hostile HTTP/2 request, which tlsgate turns into
// HTTP/1.1 for the upstream: HPACK carries any byte, so whatever net/http's
// HTTP/2 server lets through reaches the HTTP/1.1 writers (the lean one for
// requests without a body). want is the stream's answer: a status, or
// "reset" when the server resets the stream or closes the connection.
type h2SmugglingCase struct {
	name   string
	fields [][2]string // after :method, :scheme, :authority, :path unless they are set here
	data   string      // a DATA frame with END_STREAM; "" = END_STREAM on HEADERS
	want   string
	// backend, when set, is the request line the backend must see.
	backend string
}

var h2SmugglingCases = []h2SmugglingCase{
	{"content-length under the DATA", [][2]string{{":method", "POST"}, {"content-length", "5"}}, "hello" + smuggled, "reset", ""},
	{"content-length over the DATA", [][2]string{{":method", "POST"}, {"content-length", "100"}}, "hello", "400", ""},
	// net/http's HTTP/2 server frames by the first value, and tlsgate
	// sends the upstream that one length with the body it framed.
	{"content-length twice, different", [][2]string{{":method", "POST"}, {"content-length", "5"}, {"content-length", "46"}}, "hello", "200", ""},
	{"transfer-encoding chunked", [][2]string{{":method", "POST"}, {"transfer-encoding", "chunked"}}, "0\r\n\r\n" + smuggled, "400", ""},
	{"connection header", [][2]string{{"connection", "keep-alive"}}, "", "400", ""},
	{"te other than trailers", [][2]string{{"te", "gzip"}}, "", "400", ""},
	{"CRLF in a header value", [][2]string{{"x-a", "a\r\nX-Injected: 1"}}, "", "reset", ""},
	{"LF in a header value", [][2]string{{"x-a", "a\nX-Injected: 1"}}, "", "reset", ""},
	{"NUL in a header value", [][2]string{{"x-a", "a\x00b"}}, "", "reset", ""},
	{"upper-case header name", [][2]string{{"X-Upper", "1"}}, "", "reset", ""},
	{"space in a header name", [][2]string{{"x a", "1"}}, "", "reset", ""},
	{"colon in a header name", [][2]string{{"x:a", "1"}}, "", "reset", ""},
	{"CRLF in :path", [][2]string{{":path", "/p HTTP/1.1\r\nHost: a.test\r\n\r\nGET /smuggled"}}, "", "reset", ""},
	// A space is escaped on the way out: the request line stays one line.
	{"space in :path", [][2]string{{":path", "/p HTTP/1.1"}}, "", "200", "GET /p%20HTTP/1.1 HTTP/1.1"},
	{"CRLF in :method", [][2]string{{":method", "GET /smuggled HTTP/1.1\r\nHost: a.test\r\n\r\nGET"}}, "", "reset", ""},
	{"CRLF in :authority", [][2]string{{":authority", "a.test\r\nX-Injected: 1"}}, "", "reset", ""},
	// :authority is the host; a host header beside it does not replace it.
	{"host header other than :authority", [][2]string{{"host", "evil.test"}}, "", "200", ""},
}

// TestH2Smuggling sends each hostile HTTP/2 request on its own connection,
// then a normal request on the same connection when it is still open, to
// tlsgate in front of the naive raw backend: the stream gets the answer the
// table expects, and the backend never parses a request tlsgate did not
// answer, never a header named X-Injected, never a Host other than a.test.
func TestH2Smuggling(t *testing.T) {
	t.Parallel()
	be := newRawBackend(t)
	inst := startTLSGate(t, fmt.Sprintf(smugglingConfig, be.URL()))
	pool := inst.rootPool(t)
	answered := make(map[int]bool)
	aborted := make(map[string]bool)
	for i, tc := range h2SmugglingCases {
		c := dialH2(t, inst, pool, nil, true)
		path := fmt.Sprintf("/h2-%d", i)
		fields := h2Fields(path, tc.fields)
		if err := c.rawHeaders(1, fields, tc.data == ""); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if tc.data != "" {
			if err := c.fr.WriteData(1, true, []byte(tc.data)); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
		}
		if err := c.flush(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		st := c.waitStream(1, 5*time.Second)
		got := "reset"
		if st.status != 0 {
			got = strconv.Itoa(st.status)
		}
		if st.seq >= 0 {
			answered[st.seq] = true
		} else {
			aborted[h2RequestLine(fields)] = true
		}
		if got != tc.want {
			t.Errorf("%s: got %s (stream %+v, %s); want %s", tc.name, got, st, c.summary(), tc.want)
		}
		if tc.backend != "" {
			if seen := be.Seen(); st.seq < 0 || st.seq >= len(seen) || seen[st.seq].Line != tc.backend {
				t.Errorf("%s: the backend saw request %d of %v; want %q", tc.name, st.seq, seen, tc.backend)
			}
		}
		// The connection, when it is still open, is in step.
		select {
		case <-c.done:
		default:
			if err := c.request(3, "GET", "/probe", true); err == nil && c.flush() == nil {
				if p := c.waitStream(3, 5*time.Second); p.seq >= 0 {
					answered[p.seq] = true
				} else if p.status != 0 || p.rst != nil {
					t.Errorf("%s: the probe after it got %+v; want the backend's 200", tc.name, p)
				}
			}
		}
		c.close()
	}
	for seq, req := range be.Seen() {
		if !answered[seq] && !aborted[req.Line] {
			t.Errorf("the backend parsed %q (seq %d), which no client was answered for: smuggled", req.Line, seq)
		}
		if req.Host != "a.test" {
			t.Errorf("the backend got %q with Host %q; want a.test", req.Line, req.Host)
		}
		for _, n := range req.Names {
			if n == "x-injected" {
				t.Errorf("the backend got %q with an X-Injected header: a header was injected", req.Line)
			}
		}
	}
}

// h2Fields is a request's header block: the pseudo-headers of a GET for
// path on a.test, with those in extra replacing them, then extra's others.
func h2Fields(path string, extra [][2]string) [][2]string {
	fields := [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "a.test"}, {":path", path}}
	for _, e := range extra {
		replaced := false
		for i := range fields {
			if strings.HasPrefix(e[0], ":") && fields[i][0] == e[0] {
				fields[i][1], replaced = e[1], true
			}
		}
		if !replaced {
			fields = append(fields, e)
		}
	}
	return fields
}

// h2RequestLine is the HTTP/1.1 request line tlsgate would send for fields.
func h2RequestLine(fields [][2]string) string {
	var method, path string
	for _, f := range fields {
		switch f[0] {
		case ":method":
			method = f[1]
		case ":path":
			path = f[1]
		}
	}
	return method + " " + path + " HTTP/1.1"
}
