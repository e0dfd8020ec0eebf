package accesslog

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Sink is what lives as long as the process: the metrics.
type Sink struct {
	Metrics *Metrics
}

// Middleware is one config's view of the sink: the writer (nil when the
// log is off; a reload that changes the output gives the new config a new
// one), format, redaction, the trusted proxies (whose X-Request-ID is
// kept) and the rule for the real client address (access.ClientIP; nil
// means the TCP peer). Immutable once serving.
type Middleware struct {
	Sink     *Sink
	W        *Writer
	Format   Formatter
	Redact   []string
	Trusted  []netip.Prefix
	ClientIP func(*http.Request) netip.Addr
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Serve runs next with a Record in the context and a counting writer, sets
// X-Request-ID on the request (for the backend) and the response, and then
// logs and counts the request. next names the site with SetSite.
func (m *Middleware) Serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	start := time.Now()
	peer := peerAddr(r.RemoteAddr)
	trusted := m.isTrusted(peer)
	id := RequestID(r.Header.Get(HeaderRequestID), trusted)
	r.Header[HeaderRequestID] = []string{id}
	w.Header()[HeaderRequestID] = []string{id}

	rec := &Record{Time: start, RequestID: id, Site: UnknownSite}
	cw := &countWriter{ResponseWriter: w}
	var body *countBody
	if r.Body != nil && r.Body != http.NoBody {
		body = &countBody{ReadCloser: r.Body}
		r.Body = body
	}
	next.ServeHTTP(cw, r.WithContext(WithRecord(r.Context(), rec)))

	rec.Duration = time.Since(start)
	rec.Status = cw.status
	if rec.Status == 0 {
		rec.Status = http.StatusOK
	}
	rec.BytesOut = cw.n
	if body != nil {
		rec.BytesIn = body.n
	}
	if m.Sink.Metrics != nil {
		m.Sink.Metrics.observe(rec)
	}
	if m.W == nil || rec.Off {
		return
	}
	client := peer
	if m.ClientIP != nil {
		client = m.ClientIP(r)
	}
	if client.IsValid() {
		rec.ClientIP = client.String()
	}
	rec.Method, rec.Host, rec.Proto = r.Method, r.Host, r.Proto
	rec.URI = Redact(r.RequestURI, m.Redact)
	rec.UserAgent, rec.Referer = r.UserAgent(), r.Referer()
	if r.TLS != nil {
		rec.TLSVersion = tlsVersion(r.TLS.Version)
		rec.SNI = r.TLS.ServerName
	}
	bp := bufPool.Get().(*[]byte)
	line := m.Format((*bp)[:0], rec)
	m.W.Line(line)
	*bp = line
	bufPool.Put(bp)
}

// UnknownSite is the site label of a request no site serves.
const UnknownSite = "unknown"

// SetSite records the site (its config name) serving the request and
// whether it logs.
func SetSite(r *http.Request, name string, off bool) {
	if rec := FromContext(r.Context()); rec != nil {
		rec.Site = name
		rec.Off = rec.Off || off
	}
}

func peerAddr(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return netip.Addr{}
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

func (m *Middleware) isTrusted(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range m.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// TLSVersion names a TLS version as nginx's $ssl_protocol does ("" for none).
func TLSVersion(v uint16) string { return tlsVersion(v) }

func tlsVersion(v uint16) string {
	if v == 0 {
		return ""
	}
	switch v {
	case tls.VersionTLS13:
		return "TLSv1.3"
	case tls.VersionTLS12:
		return "TLSv1.2"
	}
	return tls.VersionName(v)
}

// countWriter records the status and body bytes of an answer. Hijack,
// deadlines and the rest are reached through Unwrap.
type countWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *countWriter) WriteHeader(code int) {
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

// ReadFrom keeps net/http's sendfile path for static files.
func (w *countWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := io.Copy(w.ResponseWriter, r)
	w.n += n
	return n, err
}

// FlushError is what http.ResponseController.Flush calls.
func (w *countWriter) FlushError() error {
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Flush is for handlers that assert http.Flusher (ReverseProxy streams).
func (w *countWriter) Flush() { _ = w.FlushError() }

// Unwrap gives http.ResponseController the wrapped writer.
func (w *countWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type countBody struct {
	io.ReadCloser
	n int64
}

func (b *countBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}
