//lint:file-ignore SA1019 the benchmarks drive both servers with x/net/http2's own client

package h2

import (
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/net/http2"
)

var benchBody = []byte("hello, world\n")

func benchHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(benchBody)
	})
}

// benchTargets returns the URL of tlsgate's Conn and of net/http's own h2
// server, serving the same handler over TLS on loopback.
func benchTargets(b *testing.B) map[string]string {
	ours := startServer(b, &Options{Handler: benchHandler()})
	std := httptest.NewUnstartedServer(benchHandler())
	std.EnableHTTP2 = true
	std.Config.ErrorLog = log.New(io.Discard, "", 0)
	std.StartTLS()
	b.Cleanup(std.Close)
	return map[string]string{"tlsgate": ours.url("/"), "net-http": std.URL + "/"}
}

func benchTransport() *http2.Transport {
	return &http2.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}}}
}

func get(b *testing.B, cl *http.Client, url string) {
	res, err := cl.Get(url)
	if err != nil {
		b.Error(err)
		return
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
}

// BenchmarkStreams: 32 goroutines per core share one connection (many
// concurrent streams), client and server in this process.
func BenchmarkStreams(b *testing.B) {
	for _, name := range []string{"tlsgate", "net-http"} {
		b.Run(name, func(b *testing.B) {
			url := benchTargets(b)[name]
			tr := benchTransport()
			defer tr.CloseIdleConnections()
			cl := &http.Client{Transport: tr}
			get(b, cl, url)
			b.ReportAllocs()
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					get(b, cl, url)
				}
			})
		})
	}
}

// BenchmarkConns: 8 goroutines per core, each with its own connection, one
// request at a time.
func BenchmarkConns(b *testing.B) {
	for _, name := range []string{"tlsgate", "net-http"} {
		b.Run(name, func(b *testing.B) {
			url := benchTargets(b)[name]
			b.ReportAllocs()
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				tr := benchTransport()
				defer tr.CloseIdleConnections()
				cl := &http.Client{Transport: tr}
				for pb.Next() {
					get(b, cl, url)
				}
			})
		})
	}
}
