package doctor

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"net/http"

	"golang.org/x/crypto/ocsp"
)

// OCSPResult is the leaf's revocation status as the server stapled it or
// its CA's responder answered.
type OCSPResult struct {
	// MustStaple: the leaf carries the TLS Feature extension asking for
	// a stapled OCSP response (RFC 7633).
	MustStaple bool
	// Stapled: the server sent an OCSP response in the handshake.
	Stapled bool
	// Response is the parsed response (stapled or fetched), Source where it
	// came from ("stapled" or the responder URL), Err why there is none.
	Response *ocsp.Response
	Source   string
	Err      error
}

// oidTLSFeature is the TLS Feature extension (RFC 7633); status_request is 5.
var oidTLSFeature = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 24}

func mustStaple(c *x509.Certificate) bool {
	for _, e := range c.Extensions {
		if !e.Id.Equal(oidTLSFeature) {
			continue
		}
		var features []int
		if _, err := asn1.Unmarshal(e.Value, &features); err != nil {
			return false
		}
		for _, f := range features {
			if f == 5 {
				return true
			}
		}
	}
	return false
}

// checkOCSP reads the stapled response, or asks the responder when the
// leaf names one and Offline is off. It returns nil when there is nothing
// to say (no staple, no responder, no must-staple).
func (g *gatherer) checkOCSP(ctx context.Context, h *Handshake, tr *TrustResult) *OCSPResult {
	leaf := h.Certs[0]
	issuer := issuerOf(leaf, h.Certs, tr)
	r := &OCSPResult{MustStaple: mustStaple(leaf)}
	var staple []byte
	if h.State != nil {
		staple = h.State.OCSPResponse
	}
	switch {
	case len(staple) > 0:
		r.Stapled, r.Source = true, "stapled"
		r.Response, r.Err = ocsp.ParseResponseForCert(staple, leaf, issuer)
	case !g.opts.Offline && len(leaf.OCSPServer) > 0 && issuer != nil:
		r.Source = leaf.OCSPServer[0]
		r.Response, r.Err = g.askResponder(ctx, r.Source, leaf, issuer)
		g.log.Debug("ocsp", "responder", r.Source, "error", r.Err)
	case !r.MustStaple:
		return nil
	}
	return r
}

// issuerOf finds the certificate that signed leaf among those known.
func issuerOf(leaf *x509.Certificate, sent []*x509.Certificate, tr *TrustResult) *x509.Certificate {
	cands := append([]*x509.Certificate{}, sent[1:]...)
	if tr != nil {
		cands = append(cands, tr.Missing...)
		cands = append(cands, tr.Chain...)
		if tr.Anchor != nil {
			cands = append(cands, tr.Anchor)
		}
	}
	for _, c := range cands {
		if bytes.Equal(leaf.RawIssuer, c.RawSubject) && leaf.CheckSignatureFrom(c) == nil {
			return c
		}
	}
	return nil
}

func (g *gatherer) askResponder(ctx context.Context, url string, leaf, issuer *x509.Certificate) (*ocsp.Response, error) {
	der, err := ocsp.CreateRequest(leaf, issuer, nil)
	if err != nil {
		return nil, fmt.Errorf("make OCSP request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, g.opts.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(der))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/ocsp-request")
	body, err := fetch(req, "OCSP responder "+url)
	if err != nil {
		return nil, err
	}
	return ocsp.ParseResponseForCert(body, leaf, issuer)
}
