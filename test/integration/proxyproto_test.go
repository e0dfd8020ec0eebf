package integration

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// proxyV1 is a PROXY protocol v1 header naming src as the client.
func proxyV1(src string) []byte {
	return fmt.Appendf(nil, "PROXY TCP4 %s 192.0.2.1 40001 443\r\n", src)
}

// proxyV2 is a binary PROXY protocol v2 header (PROXY command, TCP over
// IPv4) naming src as the client, written byte by byte from the spec.
func proxyV2(src string) []byte {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n")
	b = append(b, 0x21, 0x11, 0, 12) // version 2 + PROXY; AF_INET + STREAM; 12 address bytes
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr("192.0.2.1").As4()
	b = append(b, s[:]...)
	b = append(b, d[:]...)
	b = binary.BigEndian.AppendUint16(b, 40002)
	return binary.BigEndian.AppendUint16(b, 443)
}

// dialWithHeader connects to addr from the local address src and writes
// header (nil: none) before anything else.
func dialWithHeader(ctx context.Context, src, addr string, header []byte) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if header != nil {
		if _, err := c.Write(header); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// TestProxyProtocol sends raw v1 and v2 headers from 127.0.0.1 (trusted)
// and 127.0.0.2 (not) to both listeners (issue 12): only the trusted peer's
// header names the client — in X-Forwarded-For, X-Real-IP, allow_ips,
// rate_limit and the access log; an untrusted peer's header is not read (its request
// fails); a trusted peer without a header is refused (HAProxy accept-proxy).
func TestProxyProtocol(t *testing.T) {
	t.Parallel()
	up := echoBackend(t, "app")
	site := `access_log: {output: stdout, format: json}
sites:
  - hosts: [pp.test]
    tls: local
    routes:
      - path: /only-doc-net/
        to: ["{{.Vars.Up}}"]
        allow_ips: [203.0.113.0/24]
      - path: /limited/
        to: ["{{.Vars.Up}}"]
        rate_limit: {requests: 1, per: 1h, burst: 1}
      - path: /
        to: ["{{.Vars.Up}}"]
`
	// Start without PROXY protocol (the harness checks readiness from
	// 127.0.0.1, which is about to be trusted), then turn it on by reload.
	inst := startTLSGateVars(t, map[string]string{"Up": up}, header+site)
	withPP := strings.Replace(header, `https: "{{.HTTPS}}"}`, `https: "{{.HTTPS}}", proxy_protocol: {trusted: [127.0.0.1/32]}}`, 1) + site
	inst.writeConfig(t, withPP)
	if status, body := adminCall(t, inst, "POST", "/reload"); status != 200 {
		t.Fatalf("reload with proxy_protocol: %d %s", status, body)
	}
	inst.mustLog(t, "config reloaded", 5*time.Second) // logged after any warning
	if strings.Contains(inst.Stderr.String(), "read at start") {
		t.Errorf("a reload that changed no limits warned about them:\n%s", inst.Stderr.String())
	}
	pool := inst.rootPool(t)
	get := func(src string, hdr []byte, path string) (*http.Response, string, error) {
		tr := &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: "pp.test"},
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return dialWithHeader(ctx, src, inst.HTTPS, hdr)
			},
		}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		resp, err := c.Get("https://pp.test" + path)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, string(b), err
	}

	for _, tc := range []struct {
		name   string
		src    string
		header []byte
		want   string // the client the backend is told about; "" = no answer at all
	}{
		{"trusted v1", "127.0.0.1", proxyV1("203.0.113.7"), "203.0.113.7"},
		{"trusted v2", "127.0.0.1", proxyV2("198.51.100.9"), "198.51.100.9"},
		{"untrusted plain", "127.0.0.2", nil, "127.0.0.2"},
		// The header's bytes are taken as the TLS ClientHello and fail it.
		{"untrusted v1", "127.0.0.2", proxyV1("203.0.113.7"), ""},
		{"untrusted v2", "127.0.0.2", proxyV2("198.51.100.9"), ""},
		// accept-proxy: a trusted peer must send one.
		{"trusted without header", "127.0.0.1", nil, ""},
	} {
		t.Run("https "+tc.name, func(t *testing.T) {
			resp, body, err := get(tc.src, tc.header, "/")
			if tc.want == "" {
				if err == nil {
					t.Fatalf("got %d %s; want the connection refused", resp.StatusCode, body)
				}
				return
			}
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			e := decodeEcho(t, body)
			if got := e.get("X-Forwarded-For"); got != tc.want {
				t.Errorf("X-Forwarded-For = %q; want %q", got, tc.want)
			}
			if got := e.get("X-Real-IP"); got != tc.want {
				t.Errorf("X-Real-IP = %q; want %q", got, tc.want)
			}
		})
	}

	t.Run("allow_ips reads the header's address", func(t *testing.T) {
		resp, body, err := get("127.0.0.1", proxyV1("203.0.113.7"), "/only-doc-net/")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("client 203.0.113.7 via PROXY: %v %v %s; want 200", err, resp, body)
		}
		resp, _, err = get("127.0.0.2", nil, "/only-doc-net/")
		if err != nil || resp.StatusCode != 403 {
			t.Fatalf("client 127.0.0.2: %v %v; want 403", err, resp)
		}
	})
	t.Run("rate_limit keys on the header's address", func(t *testing.T) {
		for _, tc := range []struct {
			client string
			want   int
		}{
			{"203.0.113.20", 200},
			{"203.0.113.20", 429}, // the same client's second request
			{"203.0.113.21", 200}, // another client behind the same peer
		} {
			resp, _, err := get("127.0.0.1", proxyV2(tc.client), "/limited/")
			if err != nil || resp.StatusCode != tc.want {
				t.Fatalf("client %s: %v %v; want %d", tc.client, err, resp, tc.want)
			}
		}
	})
	t.Run("access log client_ip", func(t *testing.T) {
		eventually(t, 5*time.Second, "the v2 client in the access log", func() error {
			if !strings.Contains(inst.Stdout.String(), `"client_ip":"198.51.100.9"`) {
				return fmt.Errorf("no line with client_ip 198.51.100.9:\n%s", inst.Stdout.String())
			}
			return nil
		})
	})

	for _, tc := range []struct {
		name   string
		src    string
		header []byte
		want   string // status line prefix; "" = closed without an answer
	}{
		{"trusted v1", "127.0.0.1", proxyV1("203.0.113.7"), "HTTP/1.1 308"},
		{"trusted v2", "127.0.0.1", proxyV2("203.0.113.7"), "HTTP/1.1 308"},
		{"untrusted v1", "127.0.0.2", proxyV1("203.0.113.7"), "HTTP/1.1 400"},
		{"untrusted plain", "127.0.0.2", nil, "HTTP/1.1 308"},
		{"trusted without header", "127.0.0.1", nil, ""},
	} {
		t.Run("http "+tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := dialWithHeader(ctx, tc.src, inst.HTTP, tc.header)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, "GET /x HTTP/1.1\r\nHost: pp.test\r\nConnection: close\r\n\r\n")
			line, err := bufio.NewReader(c).ReadString('\n')
			if tc.want == "" {
				if err == nil {
					t.Fatalf("got %q; want the connection closed without an answer", line)
				}
				return
			}
			if !strings.HasPrefix(line, tc.want) {
				t.Fatalf("status line %q (%v); want %s", line, err, tc.want)
			}
		})
	}
}
