package access

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/textproto"
	"time"
)

// ForwardAuthOptions configure ForwardAuth.
type ForwardAuthOptions struct {
	// URL is the auth service's endpoint.
	URL string
	// CopyHeaders are copied from a 2xx answer onto the request for the
	// upstream, after the client's own copies are removed.
	CopyHeaders []string
	// Timeout bounds the whole exchange with the auth service.
	Timeout time.Duration
	// TrustedProxies are the peers whose X-Forwarded-For names the client.
	TrustedProxies []netip.Prefix
	// PassPreflight lets CORS preflights through unasked (see BasicAuthOptions).
	PassPreflight bool
	// Transport talks to the auth service; nil means a new one from
	// NewAuthTransport. Its owner closes its idle connections when the
	// handler is retired (ForwardAuth does not know when that is).
	Transport http.RoundTripper
	Logger    *slog.Logger
}

// maxAuthBody bounds an auth service's non-2xx body passed to the client.
const maxAuthBody = 1 << 20

// hopHeaders are connection-level headers never forwarded either way.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Te", "Trailer", "Upgrade", "Content-Length"}

// NewAuthTransport is a transport for talking to auth services: no proxy
// from the environment (the service is local or named exactly), a few
// kept-alive connections per service.
func NewAuthTransport() *http.Transport {
	return &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second}
}

// ForwardAuth returns next behind an auth service, as Traefik's forwardAuth
// and nginx's auth_request do: each request is first sent to URL with the
// original method and the client's headers (cookies, Authorization), and
// X-Forwarded-Method, -Proto, -Host, -Uri and -For describing it, without a
// body. A 2xx answer lets it through, with CopyHeaders copied onto it; any
// other answer goes to the client as the service sent it (a 302 to a login
// page works); a timeout or unreachable service gives 503, logged: it fails
// closed.
func ForwardAuth(next http.Handler, o ForwardAuthOptions) http.Handler {
	if o.Transport == nil {
		o.Transport = NewAuthTransport()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	client := &http.Client{
		Transport: o.Transport,
		Timeout:   o.Timeout,
		// The service's redirects are for the client, not for us.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	canon := make([]string, len(o.CopyHeaders))
	for i, h := range o.CopyHeaders {
		canon[i] = textproto.CanonicalMIMEHeaderKey(h)
	}
	return &forwardAuth{next: next, o: o, client: client, copy: canon}
}

type forwardAuth struct {
	next   http.Handler
	o      ForwardAuthOptions
	client *http.Client
	copy   []string
}

func (f *forwardAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.o.PassPreflight && IsPreflight(r) {
		f.next.ServeHTTP(w, r)
		return
	}
	resp, err := f.ask(r.Context(), r)
	if err != nil {
		f.o.Logger.Warn("forward auth: auth service unavailable; answering 503", "url", f.o.URL, "error", err)
		writeError(w, r, http.StatusServiceUnavailable, "503 Service Unavailable: the authentication service did not answer")
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		h := w.Header()
		for k, v := range resp.Header {
			h[k] = v
		}
		for _, k := range hopHeaders {
			h.Del(k)
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, io.LimitReader(resp.Body, maxAuthBody))
		return
	}
	for _, k := range f.copy {
		r.Header.Del(k)
	}
	for _, k := range f.copy {
		if v := resp.Header.Values(k); len(v) > 0 {
			r.Header[k] = v
			if k == HeaderUser {
				r = WithUser(r, v[0])
			}
		}
	}
	f.next.ServeHTTP(w, r)
}

// ask sends r's description to the auth service.
func (f *forwardAuth) ask(ctx context.Context, r *http.Request) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, r.Method, f.o.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header = r.Header.Clone()
	for _, k := range hopHeaders {
		req.Header.Del(k)
	}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	req.Header.Set("X-Forwarded-Method", r.Method)
	req.Header.Set("X-Forwarded-Proto", proto)
	req.Header.Set("X-Forwarded-Host", r.Host)
	req.Header.Set("X-Forwarded-Uri", r.URL.RequestURI())
	if ip := ClientIP(r, f.o.TrustedProxies); ip.IsValid() {
		req.Header.Set("X-Forwarded-For", ip.String())
	} else {
		req.Header.Del("X-Forwarded-For")
	}
	return f.client.Do(req)
}
