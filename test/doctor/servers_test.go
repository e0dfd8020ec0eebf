package doctor

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/test/testenv"
)

func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "hello") })
}

// goServer serves HTTPS with cfg on 127.0.0.1 and returns its address.
func goServer(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(okHandler())
	srv.TLS = cfg
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // doctor's probes fail on purpose
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// serveCert serves one certificate chain.
func serveCert(t *testing.T, kp keyPair) string {
	t.Helper()
	return goServer(t, &tls.Config{Certificates: []tls.Certificate{kp.tls()}})
}

// plainServer serves plain HTTP on 127.0.0.1.
func plainServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(okHandler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// opensslServer runs `openssl s_server -www` with extra args on a free
// 127.0.0.1 port.
func opensslServer(t *testing.T, dir string, args ...string) string {
	t.Helper()
	needOpenSSL(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(testenv.FreePort(t)))
	exited := startProc(t, dir, "openssl", append([]string{"s_server", "-accept", addr, "-www", "-quiet"}, args...)...)
	waitTCP(t, addr, exited)
	return addr
}

// tlsgateSite runs `tlsgate run -c` with one site (sites YAML after
// "sites:") and returns the HTTPS and HTTP addresses and the data dir.
func tlsgateSite(t *testing.T, sites string) (https, plain, data string) {
	t.Helper()
	dir := t.TempDir()
	data = filepath.Join(dir, "data")
	https = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	plain = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg := fmt.Sprintf("data_dir: %s\nlisten: {http: %q, https: %q}\nadmin: \"\"\nsites:\n%s", data, plain, https, sites)
	path := writeFile(t, filepath.Join(dir, "tlsgate.yaml"), []byte(cfg))
	exited := startProc(t, dir, tlsgateBin, "run", "-c", path)
	waitTCP(t, https, exited)
	// The local CA and the site's certificate are made at start; wait for
	// a handshake so that the first doctor run sees the real thing.
	waitHandshake(t, https, exited)
	return https, plain, data
}

func waitHandshake(t *testing.T, addr string, exited func() bool) {
	t.Helper()
	for i := 0; ; i++ {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			c.Close()
			return
		}
		if exited() || i > 200 {
			t.Fatalf("no TLS handshake with %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
