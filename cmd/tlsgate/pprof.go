//go:build pprof

package main

import (
	"log"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on http.DefaultServeMux
	"os"
)

// A build with -tags pprof serves Go's profiler on TLSGATE_PPROF (a
// loopback address such as 127.0.0.1:6060) for the performance work in
// docs/BENCHMARKS.md. Release builds do not contain it. The listener lives
// as long as the process: it is a developer's tool, not a feature.
func init() {
	addr := os.Getenv("TLSGATE_PPROF")
	if addr == "" {
		return
	}
	go func() { log.Println(http.ListenAndServe(addr, nil)) }()
}
