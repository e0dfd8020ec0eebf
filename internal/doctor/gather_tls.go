package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"net"
	"sync"
)

// allVersions are the versions probed, oldest first.
func allVersions() []uint16 {
	return []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13}
}

// allCipherSuites offers everything Go implements, insecure suites
// included, so that an old server still completes a handshake and can be
// diagnosed; the findings say what is wrong with it.
func allCipherSuites() []uint16 {
	var ids []uint16
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		ids = append(ids, s.ID)
	}
	return ids
}

// handshake dials target and runs a TLS handshake with verification off,
// between versions min and max. On success the returned conn is open and
// owned by the caller; on failure it is nil and h.Err says why.
func (g *gatherer) handshake(ctx context.Context, min, max uint16) (*tls.Conn, *Handshake, error) {
	raw, err := g.dial(ctx)
	if err != nil {
		return nil, nil, err
	}
	h := &Handshake{}
	var mu sync.Mutex // the callbacks run on the handshake goroutine; be safe anyway
	cfg := &tls.Config{
		ServerName:         g.target.ServerName,
		InsecureSkipVerify: true, // we verify afterwards, to explain instead of fail
		MinVersion:         min,
		MaxVersion:         max,
		CipherSuites:       allCipherSuites(),
		NextProtos:         []string{"h2", "http/1.1"},
		VerifyConnection: func(cs tls.ConnectionState) error {
			mu.Lock()
			defer mu.Unlock()
			h.State = &cs
			h.Certs = cs.PeerCertificates
			return nil
		},
		GetClientCertificate: func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			mu.Lock()
			defer mu.Unlock()
			h.CertRequested = true
			h.AcceptableCAs = dnNames(cri.AcceptableCAs)
			if c := g.opts.ClientCert; c != nil {
				h.CertSent = true
				return c, nil
			}
			return &tls.Certificate{}, nil
		},
	}
	conn := tls.Client(raw, cfg)
	hctx, cancel := context.WithTimeout(ctx, g.opts.timeout())
	defer cancel()
	err = conn.HandshakeContext(hctx)
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		conn.Close()
		h.Err = err
		var rh tls.RecordHeaderError
		if errors.As(err, &rh) {
			h.NotTLS = string(rh.RecordHeader[:])
		}
		return nil, h, nil
	}
	st := conn.ConnectionState()
	h.State = &st
	h.Certs = st.PeerCertificates
	return conn, h, nil
}

func (g *gatherer) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: g.opts.timeout()}
	return d.DialContext(ctx, "tcp", g.target.Address)
}

// probeVersions tries each protocol version alone. A version counts as
// accepted when the handshake got past the server's hello: it completed, or
// the server asked for a client certificate (which only happens after it
// agreed on a version).
func (g *gatherer) probeVersions(ctx context.Context) []VersionProbe {
	var out []VersionProbe
	for _, v := range allVersions() {
		conn, h, err := g.handshake(ctx, v, v)
		p := VersionProbe{Version: v}
		switch {
		case err != nil:
			p.Err = err
		case conn != nil:
			conn.Close()
			p.Accepted = true
		default:
			p.Accepted = h.CertRequested || h.State != nil
			p.Err = h.Err
		}
		g.log.Debug("version probe", "version", tls.VersionName(v), "accepted", p.Accepted, "error", p.Err)
		out = append(out, p)
	}
	return out
}

// dnNames decodes the DER distinguished names of a CertificateRequest.
func dnNames(ders [][]byte) []string {
	var out []string
	for _, der := range ders {
		var seq pkix.RDNSequence
		if _, err := asn1.Unmarshal(der, &seq); err != nil {
			out = append(out, fmt.Sprintf("(undecodable name, %d bytes)", len(der)))
			continue
		}
		var n pkix.Name
		n.FillFromRDNSequence(&seq)
		out = append(out, n.String())
	}
	return out
}
