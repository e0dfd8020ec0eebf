package integration

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestCompressionChromium: headless Chromium decodes what compress sends
// (issue 12). It advertises zstd and br over HTTPS, so compress: true
// (zstd first) gives it zstd, and a route limited to encodings [br, gzip]
// gives it br. A page from the same site fetches the text from both and
// writes the Content-Encoding each answer had (same-origin, so the header
// is readable), the decoded length and whether it equals the original.
func TestCompressionChromium(t *testing.T) {
	t.Parallel()
	chromium := requireChromium(t)
	certutil := requirePeer(t, "certutil", "libnss3-tools")
	const unit, times = "tlsgate compresses this for Chromium. ", 2000
	mux := http.NewServeMux()
	// Every path but / is the text: /data.txt and /br/data.txt.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, strings.Repeat(unit, times))
	})
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html>
<html><head><meta charset="utf-8"><title>compress check</title></head>
<body>
<!-- per URL, "<status> <content-encoding> <decoded length> <equal>"; or "ERROR ..." -->
<pre id="out">pending</pre>
<script>
const out = document.getElementById("out");
const want = %q.repeat(%d);
const one = u => fetch(u).then(r => r.text().then(t =>
  r.status + " " + (r.headers.get("content-encoding") || "none") + " " + t.length + " " + (t === want)));
Promise.all([one("/data.txt"), one("/br/data.txt")])
  .then(rs => { out.textContent = "OK " + rs.join(", "); })
  .catch(e => { out.textContent = "ERROR " + e.name + ": " + e.message; });
</script>
</body></html>
`, unit, times)
	})
	up := backend(t, mux)
	inst := startTLSGateVars(t, map[string]string{"Up": up}, header+`
sites:
  - hosts: [localhost]
    tls: local
    compress: true
    routes:
      - path: /br/
        to: ["{{.Vars.Up}}"]
        compress: {encodings: [br, gzip]}
      - to: ["{{.Vars.Up}}"]
`)
	home := nssHome(t, certutil, inst.RootPath())
	out := pageOutcome(t, chromium, home, inst.url("localhost", "/"))
	n := len(unit) * times
	want := fmt.Sprintf("OK 200 zstd %d true, 200 br %d true", n, n)
	if out != want {
		t.Fatalf("the page says %q; want %q (Chromium decoding zstd from compress: true, br from the [br, gzip] route)", out, want)
	}
}
