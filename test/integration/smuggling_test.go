package integration

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// smugglingConfig puts a.test in front of one raw backend. The timeouts
// are short so a request that waits for bytes the client never sends ends
// within the test's seconds.
const smugglingConfig = header + `
limits: {read_header_timeout: 1s, body_read_timeout: 1s}
sites:
  - hosts: [a.test]
    tls: local
    routes:
      - path: /
        to: ["%s"]
`

// probe ends every case's bytes: when the connection is still in step
// after the case, the client gets this request's own answer last.
const probe = "GET /probe HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"

// smuggled is the request line attacks try to slip past tlsgate.
const smuggled = "GET /smuggled HTTP/1.1\r\nHost: a.test\r\n\r\n"

// smugglingCase is one hostile request. want lists the statuses the client
// gets on the connection, in order: the probe's 200 comes last when the
// connection survives the case. To an http:// upstream, requests with a
// body go through http.Transport and those without take the lean HTTP/1.1
// path (internal/proxy/h1.go), as does every probe after a case that keeps
// the connection; to an https:// upstream all go through http.Transport.
// backend, when set, is the request line the backend must see for the
// hostile request, with Host a.test.
type smugglingCase struct {
	name    string
	raw     string
	want    []int
	backend string
}

var (
	okKeep     = []int{200, 200}      // answered; the connection stays in step
	okClose    = []int{200}           // answered, then the connection closes
	okContinue = []int{100, 200, 200} // 100 Continue first
)

var smugglingCases = []smugglingCase{
	// Both framings (RFC 9112 6.1): chunked wins, the backend gets one
	// framing, and the connection closes after the answer, so what a
	// Content-Length proxy in front read as body is never a request here.
	{"CL+TE", "POST /cl-te HTTP/1.1\r\nHost: a.test\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, okClose, ""},
	{"TE+CL", "POST /te-cl HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n" +
		fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(smuggled), smuggled), okClose, ""},
	// Identical duplicates are one value (RFC 9110 8.6); different ones are not.
	{"CL duplicate same value", "POST /cl-dup HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", okKeep, ""},
	{"CL conflicting", "POST /cl-conflict HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nContent-Length: 46\r\n\r\nhello" + smuggled, []int{400}, ""},
	{"CL list", "POST /cl-list HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5, 46\r\n\r\nhello" + smuggled, []int{400}, ""},
	{"CL plus sign", "POST /cl-plus HTTP/1.1\r\nHost: a.test\r\nContent-Length: +5\r\n\r\nhello", []int{400}, ""},
	{"CL negative", "POST /cl-neg HTTP/1.1\r\nHost: a.test\r\nContent-Length: -1\r\n\r\n", []int{400}, ""},
	{"CL hex", "POST /cl-hex HTTP/1.1\r\nHost: a.test\r\nContent-Length: 0x5\r\n\r\nhello", []int{400}, ""},
	// Only a single "chunked" is a transfer coding here: 501 (RFC 9112 6.1).
	{"TE chunked, identity", "POST /te-ci HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", []int{501}, ""},
	{"TE identity", "POST /te-id HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nhello", []int{501}, ""},
	{"TE twice", "POST /te-twice HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", []int{501}, ""},
	{"TE xchunked", "POST /te-x HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: xchunked\r\nContent-Length: 5\r\n\r\nhello", []int{501}, ""},
	// HTTP/1.0 has no Transfer-Encoding: Content-Length frames it, and the
	// connection closes even when the client asked for keep-alive.
	{"TE on HTTP/1.0", "POST /te-10 HTTP/1.0\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", okClose, ""},
	{"TE on HTTP/1.0 keep-alive", "POST /te-10ka HTTP/1.0\r\nHost: a.test\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smuggled, okClose, ""},
	{"TE space before colon", "POST /te-sp HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", []int{400}, ""},
	// obs-fold is replaced by a space (RFC 9112 5.2), so this is chunked.
	{"TE obs-fold", "POST /te-fold HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding:\r\n chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", okClose, ""},
	{"obs-fold", "GET /fold HTTP/1.1\r\nHost: a.test\r\nX-Folded: a\r\n b\r\n\r\n", okKeep, "GET /fold HTTP/1.1"},
	// A lone LF ends a header line (RFC 9112 2.2 allows it), never a chunk line.
	{"bare LF headers", "GET /lf HTTP/1.1\nHost: a.test\nX-A: 1\n\n", okKeep, "GET /lf HTTP/1.1"},
	{"bare LF in chunk line", "POST /chunk-lf HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", []int{400}, ""},
	{"bare CR in value", "GET /cr HTTP/1.1\r\nHost: a.test\r\nX-A: a\rb\r\n\r\n", []int{400}, ""},
	{"NUL in value", "GET /nul-value HTTP/1.1\r\nHost: a.test\r\nX-A: a\x00b\r\n\r\n", []int{400}, ""},
	{"NUL in name", "GET /nul-name HTTP/1.1\r\nHost: a.test\r\nX-\x00A: 1\r\n\r\n", []int{400}, ""},
	{"CR in name", "GET /cr-name HTTP/1.1\r\nHost: a.test\r\nX-\rA: 1\r\n\r\n", []int{400}, ""},
	{"NUL in value, with body", "POST /nul-body HTTP/1.1\r\nHost: a.test\r\nX-A: a\x00b\r\nContent-Length: 5\r\n\r\nhello", []int{400}, ""},
	// Bad chunk framing is found while the body streams to the upstream:
	// the upstream request is aborted and the client gets 400 (issue 16:
	// these were 502 "the upstream did not answer properly").
	{"chunk size not hex", "POST /chunk-zz HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", []int{400}, ""},
	{"chunk size negative", "POST /chunk-neg HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", []int{400}, ""},
	{"chunk size 0x", "POST /chunk-0x HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", []int{400}, ""},
	{"chunk size overflow", "POST /chunk-big HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\nhello\r\n0\r\n\r\n", []int{400}, ""},
	{"chunk longer than its size", "POST /chunk-short HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", []int{400}, ""},
	{"chunk extension", "POST /chunk-ext HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n0\r\n\r\n", okClose, ""},
	{"chunk extension with LF", "POST /chunk-ext-lf HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n5;a\nb\r\nhello\r\n0\r\n\r\n", []int{400}, ""},
	// More than 16 KiB of chunk overhead beyond the data (CVE-2023-39326).
	{"chunk extension flood", "POST /chunk-ext-flood HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n" +
		strings.Repeat("1;"+strings.Repeat("x", 1000)+"\r\na\r\n", 24) + "0\r\n\r\n", []int{400}, ""},
	{"oversized chunk line", "POST /chunk-line HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n5;" + strings.Repeat("x", 8192) + "\r\nhello\r\n0\r\n\r\n", []int{400}, ""},
	// An absolute-form target's authority is the request's host (RFC 9112
	// 3.2.2): another host is refused like any Host no site lists.
	{"absolute-form other host", "GET http://evil.test/abs HTTP/1.1\r\nHost: a.test\r\n\r\n", []int{421, 200}, ""},
	{"absolute-form own host, Host other", "GET http://a.test/abs2 HTTP/1.1\r\nHost: evil.test\r\n\r\n", okKeep, "GET /abs2 HTTP/1.1"},
	{"Host twice", "GET /host2 HTTP/1.1\r\nHost: a.test\r\nHost: evil.test\r\n\r\n", []int{400}, ""},
	{"no Host", "GET /nohost HTTP/1.1\r\n\r\n", []int{400}, ""},
	{"space in target", "GET /a b HTTP/1.1\r\nHost: a.test\r\n\r\n", []int{400}, ""},
	// Escapes stay escapes on the way out: no header is made of %0d%0a.
	{"encoded CRLF in target", "GET /crlf%0d%0aX-Injected:%201 HTTP/1.1\r\nHost: a.test\r\n\r\n", okKeep, "GET /crlf%0d%0aX-Injected:%201 HTTP/1.1"},
	// 100-continue: the body is the body, whenever it comes.
	{"Expect 100-continue, body sent at once", "POST /expect HTTP/1.1\r\nHost: a.test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello", okContinue, ""},
	{"Expect 100-continue, body hides a request", "POST /expect-hide HTTP/1.1\r\nHost: a.test\r\nExpect: 100-continue\r\nContent-Length: " +
		strconv.Itoa(len(smuggled)) + "\r\n\r\n" + smuggled, okContinue, ""},
	{"Expect 100-continue, no body", "GET /expect-get HTTP/1.1\r\nHost: a.test\r\nExpect: 100-continue\r\n\r\n", okKeep, "GET /expect-get HTTP/1.1"},
	{"Expect unknown", "POST /expect-x HTTP/1.1\r\nHost: a.test\r\nExpect: 101-switch\r\nContent-Length: 5\r\n\r\nhello", []int{417}, ""},
	// A GET's body is a body, not the next request.
	{"GET with a body", "GET /get-body HTTP/1.1\r\nHost: a.test\r\nContent-Length: " + strconv.Itoa(len(smuggled)) + "\r\n\r\n" + smuggled, okKeep, ""},
}

// TestRequestSmuggling sends each hostile request on its own TLS connection,
// followed by a normal probe, to tlsgate in front of a naive raw backend.
// The client must get the answers the table expects, and every request
// the backend parsed must be one tlsgate parsed and answered the client
// for: the backend never sees a request tlsgate did not.
func TestRequestSmuggling(t *testing.T) {
	t.Parallel()
	// Over http:// requests without a body take the lean HTTP/1.1 path and
	// the rest http.Transport; over https:// http.Transport takes them all.
	t.Run("http upstream", func(t *testing.T) {
		t.Parallel()
		be := newRawBackend(t)
		smugglingBattery(t, be, fmt.Sprintf(smugglingConfig, be.URL()))
	})
	t.Run("https upstream", func(t *testing.T) {
		t.Parallel()
		be, ca := newRawBackendTLS(t)
		smugglingBattery(t, be, fmt.Sprintf(smugglingConfig, be.URL())+"        upstream_tls: {ca_files: ["+ca+"]}\n")
	})
}

func smugglingBattery(t *testing.T, be *rawBackend, config string) {
	inst := startTLSGate(t, config)
	pool := inst.rootPool(t)
	answered := make(map[int]bool)
	// aborted holds the request lines of hostile requests tlsgate answered
	// itself after forwarding their head: their body proved malformed
	// while it streamed, so the backend saw the head and an aborted body.
	aborted := make(map[string]bool)
	for _, tc := range smugglingCases {
		got, err := rawExchange(inst.HTTPS, pool, tc.raw+probe)
		var statuses []int
		for _, r := range got {
			statuses = append(statuses, r.status)
			if r.seq >= 0 {
				answered[r.seq] = true
			}
		}
		if len(got) > 0 && got[0].seq < 0 {
			line, _, _ := strings.Cut(tc.raw, "\r\n")
			aborted[line] = true
		}
		if !slices.Equal(statuses, tc.want) {
			t.Errorf("%s: statuses %v (read error %v); want %v", tc.name, statuses, err, tc.want)
		}
		if tc.backend != "" && (len(got) == 0 || got[0].body != tc.backend+"\n") {
			t.Errorf("%s: answers %+v; want the backend's echo of %q first", tc.name, got, tc.backend)
		}
	}
	// Every request the backend parsed is one some client was answered
	// for, or the head of a hostile request tlsgate aborted. Checked at
	// the end: a smuggled request could reach the backend after its case.
	for seq, req := range be.Seen() {
		if !answered[seq] && !aborted[req.Line] {
			t.Errorf("the backend parsed %q (seq %d), which no client was answered for: smuggled", req.Line, seq)
		}
		if req.Host != "a.test" {
			t.Errorf("the backend got %q with Host %q; want a.test", req.Line, req.Host)
		}
	}
}

// rawResponse is one answer read off a raw connection.
type rawResponse struct {
	status int
	seq    int    // the backend's X-Seq, -1 when tlsgate answered itself
	body   string // the backend echoes the request line
}

// rawExchange writes raw on a new TLS connection to addr (SNI a.test,
// HTTP/1.1) and reads answers until the server closes it. The error is
// whatever ended the reading other than a clean close.
func rawExchange(addr string, pool *x509.CertPool, raw string) ([]rawResponse, error) {
	cfg := &tls.Config{ServerName: "a.test", NextProtos: []string{"http/1.1"}, RootCAs: pool}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return nil, err
	}
	// Written while the answers are read: the server may answer and
	// close before it has read everything.
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		io.WriteString(conn, raw)
	}()
	defer func() { conn.Close(); <-wrote }()
	br := bufio.NewReader(conn)
	var out []rawResponse
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isConnReset(err) {
				return out, nil
			}
			return out, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		r := rawResponse{status: resp.StatusCode, seq: -1, body: string(body)}
		if s := resp.Header.Get("X-Seq"); s != "" {
			r.seq, _ = strconv.Atoi(s)
		}
		out = append(out, r)
		if err != nil {
			return out, err
		}
	}
}

func isConnReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}
