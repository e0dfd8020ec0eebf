// Command backend is the upstream for bench/load.sh: a tiny, fast HTTP
// server that answers every request with the same small body. It speaks
// HTTP/1.1 and cleartext HTTP/2 (prior knowledge, as h2load sends it), so
// the "backend direct" row of the benchmark can be measured with both.
//
// It is a benchmark tool, not part of tlsgate.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "listen address (loopback)")
	size := flag.Int("size", 64, "response body size in bytes")
	flag.Parse()

	body := make([]byte, *size)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}
	if len(body) > 0 {
		body[len(body)-1] = '\n'
	}
	ctype := []string{"text/plain; charset=utf-8"}
	clen := []string{strconv.Itoa(len(body))}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Assigning the slices directly avoids per-request allocations.
		hd := w.Header()
		hd["Content-Type"] = ctype
		hd["Content-Length"] = clen
		w.Write(body)
	})

	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: h, Protocols: &protos}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "backend: listen %s: %v\n", *addr, err)
		os.Exit(1)
	}
	log.Fatal(srv.Serve(ln))
}
