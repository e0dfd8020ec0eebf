package integration

import (
	"crypto/tls"
	"strings"
	"testing"
)

const oneSiteConfig = header + `
sites:
  - hosts: [a.test]
    tls: local
    hsts: {max_age: 365d}
    routes:
      - path: /
        respond: {status: 200, body: "hello"}
`

func TestTLSVersions(t *testing.T) {
	t.Parallel()
	inst := startTLSGate(t, oneSiteConfig)
	pool := inst.rootPool(t)

	t.Run("openssl", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			flag   string
			accept bool
			proto  string // as s_client prints it
		}{
			// SECLEVEL=0 makes the client willing, so a failure is the server's refusal.
			{"-tls1", false, "TLSv1"},
			{"-tls1_1", false, "TLSv1.1"},
			{"-tls1_2", true, "TLSv1.2"},
			{"-tls1_3", true, "TLSv1.3"},
		}
		for _, tc := range tests {
			args := []string{tc.flag, "-servername", "a.test", "-CAfile", inst.RootPath()}
			if !tc.accept {
				args = append(args, "-cipher", "DEFAULT@SECLEVEL=0")
			}
			r := sClient(t, inst.HTTPS, args...)
			if tc.accept {
				if r.Code != 0 || !strings.Contains(r.Stdout, "Protocol  : "+tc.proto) && !strings.Contains(r.Stdout, ", "+tc.proto+",") {
					t.Errorf("s_client %s: want %s accepted; got %s", tc.flag, tc.proto, r)
				}
				continue
			}
			if r.Code == 0 || len(pemCerts(t, r.Stdout)) > 0 {
				t.Errorf("s_client %s: want the server to refuse %s; got %s", tc.flag, tc.proto, r)
			}
		}
	})

	t.Run("go", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			version uint16
			accept  bool
		}{
			{tls.VersionTLS10, false},
			{tls.VersionTLS11, false},
			{tls.VersionTLS12, true},
			{tls.VersionTLS13, true},
		}
		for _, tc := range tests {
			cfg := &tls.Config{ServerName: "a.test", RootCAs: pool, MinVersion: tc.version, MaxVersion: tc.version}
			st, err := handshake(inst.HTTPS, cfg)
			switch {
			case tc.accept && err != nil:
				t.Errorf("%s: %v; want accepted", tls.VersionName(tc.version), err)
			case tc.accept && st.Version != tc.version:
				t.Errorf("%s: negotiated %s", tls.VersionName(tc.version), tls.VersionName(st.Version))
			case !tc.accept && err == nil:
				t.Errorf("%s: accepted; want refused", tls.VersionName(tc.version))
			}
		}
	})

	t.Run("alpn", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			protos []string
			want   string
		}{
			{[]string{"h2", "http/1.1"}, "h2"},
			{[]string{"http/1.1"}, "http/1.1"},
		} {
			st, err := handshake(inst.HTTPS, &tls.Config{ServerName: "a.test", RootCAs: pool, NextProtos: tc.protos})
			if err != nil {
				t.Errorf("ALPN %v: %v", tc.protos, err)
				continue
			}
			if st.NegotiatedProtocol != tc.want {
				t.Errorf("ALPN %v: negotiated %q; want %q", tc.protos, st.NegotiatedProtocol, tc.want)
			}
		}
		for _, tc := range []struct{ flag, want string }{{"--http2", "2"}, {"--http1.1", "1.1"}} {
			r := curl(t, inst, "a.test", "/", "--cacert", inst.RootPath(), tc.flag, "-o", "/dev/null", "-w", "%{http_version}")
			if r.Code != 0 || r.Stdout != tc.want {
				t.Errorf("curl %s: got %s; want http_version %s", tc.flag, r, tc.want)
			}
		}
		for _, h2 := range []bool{true, false} {
			resp, err := inst.client(t, pool, h2).Get(inst.url("a.test", "/"))
			if err != nil {
				t.Errorf("go client h2=%v: %v", h2, err)
				continue
			}
			resp.Body.Close()
			if want := map[bool]int{true: 2, false: 1}[h2]; resp.ProtoMajor != want {
				t.Errorf("go client h2=%v: got %s", h2, resp.Proto)
			}
		}
	})
}
