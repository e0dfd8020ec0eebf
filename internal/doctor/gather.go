package doctor

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// gatherer fills an Observation for one target.
type gatherer struct {
	opts   *Options
	target Target
	log    *slog.Logger
}

// newTarget parses a URL into where to connect and which names to use.
func newTarget(raw, serverName string) (Target, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return Target{}, fmt.Errorf("%q is not a URL like https://HOST[:PORT]/ or http://HOST[:PORT]/", raw)
	}
	t := Target{URL: u, Host: u.Hostname(), Port: u.Port()}
	if t.Port == "" {
		t.Port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
	}
	t.Address = net.JoinHostPort(t.Host, t.Port)
	t.VerifyName = t.Host
	if serverName != "" {
		t.VerifyName = serverName
	}
	// Like browsers and curl, send no SNI for an IP address.
	if net.ParseIP(t.VerifyName) == nil {
		t.ServerName = t.VerifyName
	}
	return t, nil
}

// gatherTLS connects to an https target and fills the TLS side of obs.
func (g *gatherer) gatherTLS(ctx context.Context, obs *Observation) {
	conn, h, err := g.handshake(ctx, tls.VersionTLS10, tls.VersionTLS13)
	if err != nil {
		obs.DialErr = err
		g.log.Debug("connect failed", "address", g.target.Address, "error", err)
		return
	}
	obs.TLS = h
	if conn != nil {
		obs.HTTP, obs.HTTPErr = g.requestOver(ctx, conn)
		g.log.Debug("https request", "error", obs.HTTPErr)
		if obs.HTTPErr != nil && h.CertRequested && remoteAlert(obs.HTTPErr) == "" {
			if err := g.readAlert(ctx); err != nil {
				obs.HTTPErr = err
			}
		}
	} else if h.NotTLS != "" {
		obs.PlainHTTP, _ = g.plainRequest(ctx, g.target)
	}
	if h.NotTLS == "" {
		obs.Versions = g.probeVersions(ctx)
	}
	if len(h.Certs) > 0 {
		obs.Trust = g.analyzeTrust(ctx, h.Certs, obs.Now)
		obs.OCSP = g.checkOCSP(ctx, h, obs.Trust)
		obs.Stores = g.opts.Stores.lookup(ctx, g.opts.timeout())
	}
}

// readAlert handshakes again and only reads, to catch the alert a TLS 1.3
// server sends after refusing a client certificate. Writing a request
// first can lose it: the server closes with the request unread, and the
// kernel answers with a reset instead of delivering the alert. It returns
// the alert error, or nil when none came.
func (g *gatherer) readAlert(ctx context.Context) error {
	conn, _, err := g.handshake(ctx, tls.VersionTLS10, tls.VersionTLS13)
	if err != nil || conn == nil {
		return nil
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(g.opts.timeout()))
	_, err = conn.Read(make([]byte, 1))
	if remoteAlert(err) != "" {
		return err
	}
	return nil
}

// requestOver sends one GET over an established TLS connection, as HTTP/2
// when ALPN chose it. It closes conn.
func (g *gatherer) requestOver(ctx context.Context, conn *tls.Conn) (*HTTPResult, error) {
	used := false
	tr := &http.Transport{
		ForceAttemptHTTP2: true,
		DialTLSContext: func(context.Context, string, string) (net.Conn, error) {
			if used {
				return nil, errors.New("doctor: one connection only")
			}
			used = true
			return conn, nil
		},
	}
	defer tr.CloseIdleConnections()
	defer conn.Close()
	u := *g.target.URL
	u.Scheme = "https"
	return g.do(ctx, tr, &u)
}

// plainRequest sends one plain-HTTP GET to target's address.
func (g *gatherer) plainRequest(ctx context.Context, t Target) (*HTTPResult, error) {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			d := net.Dialer{Timeout: g.opts.timeout()}
			return d.DialContext(ctx, "tcp", t.Address)
		},
	}
	defer tr.CloseIdleConnections()
	u := *t.URL
	u.Scheme = "http"
	return g.do(ctx, tr, &u)
}

func (g *gatherer) do(ctx context.Context, tr http.RoundTripper, u *url.URL) (*HTTPResult, error) {
	ctx, cancel := context.WithTimeout(ctx, g.opts.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "tlsgate-doctor")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return &HTTPResult{Proto: resp.Proto, Status: resp.Status, Code: resp.StatusCode, Header: resp.Header, Body: string(body)}, nil
}

// gatherFront handles an http:// URL: what the port answers in plain HTTP,
// whether it speaks TLS instead, and where it redirects. It returns the
// https target to diagnose next, if any.
func (g *gatherer) gatherFront(ctx context.Context, obs *Observation) (Target, bool) {
	t := g.target
	f := &Front{URL: t.URL.String()}
	obs.Front = f
	f.HTTP, f.Err = g.plainRequest(ctx, t)
	conn, _, err := g.handshake(ctx, tls.VersionTLS10, tls.VersionTLS13)
	if err != nil {
		obs.DialErr = err
		return Target{}, false
	}
	if conn != nil {
		conn.Close()
		f.SpeaksTLS = true
		nt := t
		u := *t.URL
		u.Scheme = "https"
		nt.URL = &u
		return nt, true
	}
	if f.HTTP == nil || f.HTTP.Code < 300 || f.HTTP.Code > 399 {
		return Target{}, false
	}
	loc, err := t.URL.Parse(f.HTTP.Header.Get("Location"))
	if err != nil || loc.Scheme != "https" {
		return Target{}, false
	}
	f.RedirectTo = loc.String()
	serverName := ""
	if t.VerifyName != t.Host && strings.EqualFold(loc.Hostname(), t.Host) {
		serverName = t.VerifyName // keep --servername for the same host
	}
	nt, err := newTarget(loc.String(), serverName)
	if err != nil {
		return Target{}, false
	}
	return nt, true
}
