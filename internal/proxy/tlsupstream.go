package proxy

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// UpstreamTLS is how a route's https:// upstreams are verified and what
// client certificate they are offered. Make one with LoadUpstreamTLS.
// Verification is always on; there is no way to skip it.
type UpstreamTLS struct {
	config *tls.Config
	// key names the settings and file contents, so routes with the same
	// ones share connections and a changed file gets new ones.
	key string
}

// LoadUpstreamTLS reads the PEM files of an upstream_tls block: caFiles
// are added to the system roots, serverName (when set) is the name the
// upstream's certificate must cover (and the SNI sent), and certFile and
// keyFile (both or neither) are the client certificate for upstreams that
// ask for one (mTLS).
func LoadUpstreamTLS(caFiles []string, serverName, certFile, keyFile string) (*UpstreamTLS, error) {
	h := sha256.New()
	fmt.Fprintf(h, "sni=%s\n", serverName)
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	for _, f := range caFiles {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("ca_files: %w", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_files: %s has no PEM certificate", f)
		}
		h.Write(pem)
	}
	cfg := &tls.Config{RootCAs: roots, ServerName: serverName, MinVersion: tls.VersionTLS12}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("client_cert_file and client_key_file go together")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
		for _, der := range cert.Certificate {
			h.Write(der)
		}
	}
	return &UpstreamTLS{config: cfg, key: hex.EncodeToString(h.Sum(nil))}, nil
}

type tlsPoolKey struct {
	timeouts
	tls string // UpstreamTLS.key; "" = the system roots
}

// stdTransport is an http.Transport with the shared settings and dialer.
func (t *Transport) stdTransport(d *net.Dialer, header time.Duration) *http.Transport {
	return &http.Transport{
		Proxy: nil, // never an HTTP proxy from the environment
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return t.dial(ctx, d, network, addr)
		},
		MaxIdleConnsPerHost:   maxIdleConnsPerHost,
		IdleConnTimeout:       t.idleTimeout,
		TLSHandshakeTimeout:   tlsHandshakeTimeout,
		ExpectContinueTimeout: expectContinue,
		ResponseHeaderTimeout: header,
		DisableCompression:    true,
		ReadBufferSize:        ioBufferSize,
		WriteBufferSize:       ioBufferSize,
	}
}

// tlsPool returns the client for https:// upstreams with these timeouts
// and TLS settings (nil: the system roots). It speaks HTTP/2 when the
// upstream offers it and HTTP/1.1 otherwise; WebSocket upgrades always
// take HTTP/1.1 (net/http dials those connections without h2).
func (t *Transport) tlsPool(dial, header time.Duration, ut *UpstreamTLS) *http.Transport {
	key := tlsPoolKey{timeouts: timeouts{dial: dial, header: header}}
	if ut != nil {
		key.tls = ut.key
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.tlsPools[key]; ok {
		return p
	}
	p := t.stdTransport(&net.Dialer{Timeout: dial, KeepAlive: tcpKeepAlive}, header)
	p.ForceAttemptHTTP2 = true
	if ut != nil {
		p.TLSClientConfig = ut.config.Clone()
	}
	t.tlsPools[key] = p
	return p
}

// h2cPool returns the client for h2c:// upstreams: HTTP/2 without TLS
// (prior knowledge), as gRPC servers speak it.
func (t *Transport) h2cPool(dial, header time.Duration) *http.Transport {
	key := timeouts{dial: dial, header: header}
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.h2cPools[key]; ok {
		return p
	}
	p := t.stdTransport(&net.Dialer{Timeout: dial, KeepAlive: tcpKeepAlive}, header)
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	p.Protocols = &protos
	t.h2cPools[key] = p
	return p
}

// tlsRefusal explains a failed TLS handshake with an upstream in words
// an operator can act on, or returns "" when err is something else.
func tlsRefusal(err error) string {
	var cv *tls.CertificateVerificationError
	var hn x509.HostnameError
	var ua x509.UnknownAuthorityError
	switch {
	case errors.As(err, &hn):
		return "the upstream's certificate does not cover the name verified (" + hn.Host + "); set upstream_tls.server_name to a name it covers"
	case errors.As(err, &ua):
		return "the upstream's certificate is signed by an unknown authority; add its CA to upstream_tls.ca_files"
	case errors.As(err, &cv):
		return "the upstream's certificate was not accepted: " + cv.Err.Error()
	// crypto/tls reports alerts from the peer as net.OpError{Op: "remote
	// error"} around an unexported type: only the text tells them apart.
	case strings.Contains(err.Error(), "remote error: tls: certificate required"),
		strings.Contains(err.Error(), "remote error: tls: bad certificate"):
		return "the upstream refused our client certificate (or wants one); set upstream_tls.client_cert_file and client_key_file"
	// With TLS 1.3 a server checks the client certificate after the
	// handshake, and over HTTP/2 its alert is lost: all that is left is
	// a connection that closed at once.
	case strings.Contains(err.Error(), "http2: client conn could not be established"):
		return "the upstream closed the TLS connection right after the handshake; if it wants a client certificate, set upstream_tls.client_cert_file and client_key_file"
	}
	return ""
}
