// Command backend is the upstream for bench/load.sh: a tiny, fast HTTP
// server that answers every request with the same small body. It speaks
// HTTP/1.1 and cleartext HTTP/2 (prior knowledge, as h2load sends it), so
// the "backend direct" row of the benchmark can be measured with both.
//
// GET /text64k answers with 64 KiB of JSON instead (application/json): a
// realistic, compressible body for the compression figures (SUITE=gzip).
//
// It is a benchmark tool, not part of tlsgate.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
)

// textSize is the size of the /text64k body.
const textSize = 64 << 10

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
	small := answer{body, []string{"text/plain; charset=utf-8"}, []string{strconv.Itoa(len(body))}}
	text := jsonText(textSize)
	large := answer{text, []string{"application/json"}, []string{strconv.Itoa(len(text))}}

	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := &small
		if r.URL.Path == "/text64k" {
			a = &large
		}
		// Assigning the slices directly avoids per-request allocations.
		hd := w.Header()
		hd["Content-Type"] = a.ctype
		hd["Content-Length"] = a.clen
		w.Write(a.body)
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

// answer is one prepared response.
type answer struct {
	body  []byte
	ctype []string
	clen  []string
}

// jsonText makes a JSON array of exactly n bytes: records like an API's
// list answer, with words and numbers drawn from a fixed pseudo-random
// sequence, so the body compresses like real text (neither a repeated
// block nor noise) and is the same on every run. Trailing spaces pad the
// array to n.
func jsonText(n int) []byte {
	words := []string{"lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit",
		"sed", "do", "eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna",
		"aliqua", "enim", "ad", "minim", "veniam", "quis", "nostrud", "exercitation", "ullamco",
		"laboris", "nisi", "aliquip", "ex", "ea", "commodo", "consequat"}
	cities := []string{"Lisbon", "Osaka", "Nairobi", "Lima", "Oslo", "Austin", "Pune", "Lyon"}
	seed := uint32(12345)
	rnd := func(m int) int { // a linear congruential generator: deterministic
		seed = seed*1664525 + 1013904223
		return int(seed>>8) % m
	}
	var b bytes.Buffer
	b.WriteString("[")
	for id := 1; ; id++ {
		var rec bytes.Buffer
		if id > 1 {
			rec.WriteString(",")
		}
		fmt.Fprintf(&rec, "\n  {\"id\": %d, \"user\": \"%s.%s%d\", \"city\": %q, \"score\": %d.%02d, \"active\": %t, \"note\": \"",
			id, words[rnd(len(words))], words[rnd(len(words))], rnd(1000), cities[rnd(len(cities))],
			rnd(100), rnd(100), rnd(2) == 0)
		for w := range 6 + rnd(10) {
			if w > 0 {
				rec.WriteString(" ")
			}
			rec.WriteString(words[rnd(len(words))])
		}
		rec.WriteString(".\"}")
		if b.Len()+rec.Len()+2 > n {
			break
		}
		b.Write(rec.Bytes())
	}
	b.WriteString("\n]")
	for b.Len() < n {
		b.WriteByte(' ')
	}
	return b.Bytes()
}
