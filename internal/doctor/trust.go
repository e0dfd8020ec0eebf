package doctor

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tlsgate/tlsgate/internal/pki"
)

// TrustResult is the chain analysis: does the chain the server sent lead to
// a trusted root, and if not, why.
type TrustResult struct {
	// At is the time the chain was verified at: now, or a moment inside the
	// leaf's validity when now is outside it, so that an expired
	// certificate's trust is still judged (expiry is its own finding).
	At time.Time
	// Verified: the sent chain leads to a trusted root. Chain is then the
	// verified chain, leaf to root.
	Verified bool
	Chain    []*x509.Certificate
	// Err is the verification error when not Verified.
	Err error
	// SelfSigned: the leaf is signed by its own key.
	SelfSigned bool
	// Anchor is the root the chain leads to, when known (verified, found in
	// tlsgate's local CA, or a self-signed certificate the server sent);
	// AnchorFrom says where it was found.
	Anchor     *x509.Certificate
	AnchorFrom string
	// LocalCA: the chain comes from tlsgate's local CA (RootPath).
	LocalCA  bool
	RootPath string
	// Missing are intermediates the server should have sent but did not,
	// found in MissingFrom (an AIA URL, the local CA directory).
	Missing     []*x509.Certificate
	MissingFrom string
	// WouldVerify: adding Missing makes the chain verify with the roots.
	WouldVerify bool
	// Roots names the roots used ("the system store", "--cacert FILE").
	Roots string
}

// trustTime picks the verification time (see TrustResult.At).
func trustTime(leaf *x509.Certificate, now time.Time) time.Time {
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) / 2)
	}
	return now
}

func verify(certs, extra []*x509.Certificate, roots *x509.CertPool, at time.Time) ([][]*x509.Certificate, error) {
	inter := x509.NewCertPool()
	for _, c := range append(certs[1:len(certs):len(certs)], extra...) {
		inter.AddCert(c)
	}
	return certs[0].Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
}

// analyzeTrust verifies the sent chain and, when it fails, looks for the
// reason: a self-signed leaf, tlsgate's local CA, a missing intermediate.
func (g *gatherer) analyzeTrust(ctx context.Context, certs []*x509.Certificate, now time.Time) *TrustResult {
	r := &TrustResult{At: trustTime(certs[0], now), SelfSigned: isSelfSigned(certs[0]), Roots: "the system store"}
	if g.opts.RootsFile != "" {
		r.Roots = "--cacert " + g.opts.RootsFile
	}
	roots, err := g.roots()
	if err != nil {
		r.Err = err
		return r
	}
	chains, err := verify(certs, nil, roots, r.At)
	if err == nil {
		r.Verified, r.Chain = true, chains[0]
		r.Anchor, r.AnchorFrom = chains[0][len(chains[0])-1], r.Roots
		r.noteLocal(g.loadLocalCA())
		return r
	}
	r.Err = err
	if r.SelfSigned {
		r.Anchor, r.AnchorFrom = certs[0], "the server (self-signed)"
		return r
	}
	local := g.loadLocalCA()
	if local != nil && r.tryLocal(certs, local, roots) {
		return r
	}
	top := certs[len(certs)-1]
	if isSelfSigned(top) {
		r.Anchor, r.AnchorFrom = top, "the server (the last certificate it sent)"
	}
	if found, from := g.fetchIssuers(ctx, top); len(found) > 0 {
		r.Missing, r.MissingFrom = found, from
		if chains, err := verify(certs, found, roots, r.At); err == nil {
			r.WouldVerify, r.Anchor, r.AnchorFrom = true, chains[0][len(chains[0])-1], r.Roots
		} else if last := found[len(found)-1]; isSelfSigned(last) {
			r.Anchor, r.AnchorFrom = last, from
		}
	}
	return r
}

// tryLocal checks the chain against tlsgate's local CA.
func (r *TrustResult) tryLocal(certs []*x509.Certificate, l *localCA, roots *x509.CertPool) bool {
	pool := x509.NewCertPool()
	pool.AddCert(l.root)
	var extra []*x509.Certificate
	if l.intermediate != nil {
		extra = append(extra, l.intermediate)
	}
	chains, err := verify(certs, extra, pool, r.At)
	if err != nil {
		return false
	}
	r.LocalCA, r.RootPath = true, l.rootPath
	r.Anchor, r.AnchorFrom = l.root, "tlsgate's local CA ("+l.rootPath+")"
	for _, c := range chains[0][1 : len(chains[0])-1] {
		if !contains(certs, c) {
			r.Missing = append(r.Missing, c)
			r.MissingFrom = "tlsgate's local CA (" + filepath.Dir(l.rootPath) + ")"
		}
	}
	if len(r.Missing) > 0 {
		_, err := verify(certs, r.Missing, roots, r.At)
		r.WouldVerify = err == nil
	}
	return true
}

// noteLocal marks a verified chain that ends at tlsgate's local root.
func (r *TrustResult) noteLocal(l *localCA) {
	if l != nil && sameCert(r.Anchor, l.root) {
		r.LocalCA, r.RootPath = true, l.rootPath
	}
}

func (g *gatherer) roots() (*x509.CertPool, error) {
	if g.opts.Roots != nil {
		return g.opts.Roots, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		return nil, fmt.Errorf("load the system roots: %w", err)
	}
	return pool, nil
}

// localCA is tlsgate's local CA as far as doctor needs it: certificates only.
type localCA struct {
	root, intermediate *x509.Certificate
	rootPath           string
}

func (g *gatherer) loadLocalCA() *localCA {
	dir := g.opts.LocalCADir
	if dir == "" {
		return nil
	}
	l := &localCA{rootPath: pki.RootCertPath(dir)}
	data, err := os.ReadFile(l.rootPath)
	if err != nil {
		return nil
	}
	certs, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		return nil
	}
	l.root = certs[0]
	if data, err := os.ReadFile(filepath.Join(dir, pki.IntermediateCertFile)); err == nil {
		if certs, err := pki.ParseCertificatesPEM(data); err == nil {
			l.intermediate = certs[0]
		}
	}
	return l
}

// fetchIssuers follows the AIA "CA Issuers" URLs up from top, as browsers
// do, to find intermediates the server did not send (at most 3 levels).
func (g *gatherer) fetchIssuers(ctx context.Context, top *x509.Certificate) ([]*x509.Certificate, string) {
	if g.opts.Offline {
		return nil, ""
	}
	var found []*x509.Certificate
	var from []string
	for c := top; len(found) < 3 && !isSelfSigned(c); {
		next, src := g.fetchIssuer(ctx, c)
		if next == nil {
			break
		}
		found, from = append(found, next), append(from, src)
		c = next
	}
	if len(found) == 0 {
		return nil, ""
	}
	return found, "the AIA URL " + strings.Join(from, ", ")
}

func (g *gatherer) fetchIssuer(ctx context.Context, c *x509.Certificate) (*x509.Certificate, string) {
	for _, u := range c.IssuingCertificateURL {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			continue
		}
		cert, err := g.fetchCert(ctx, u)
		g.log.Debug("aia fetch", "url", u, "error", err)
		if err == nil && c.CheckSignatureFrom(cert) == nil {
			return cert, u
		}
	}
	return nil, ""
}

func (g *gatherer) fetchCert(ctx context.Context, u string) (*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, g.opts.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	data, err := fetch(req, "GET "+u)
	if err != nil {
		return nil, err
	}
	if bytes.Contains(data, []byte("-----BEGIN")) {
		certs, err := pki.ParseCertificatesPEM(data)
		if err != nil {
			return nil, err
		}
		return certs[0], nil
	}
	if cert, err := x509.ParseCertificate(data); err == nil {
		return cert, nil
	}
	return nil, errors.New("not a certificate (DER or PEM)")
}

// isSelfSigned reports whether c is signed by its own key. It checks the
// signature itself: CheckSignatureFrom refuses non-CA parents, and a
// self-signed leaf is still self-signed.
func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) &&
		c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// sameCert reports whether a and b are the same CA: same subject and key
// (a re-issued root with the same key counts).
func sameCert(a, b *x509.Certificate) bool {
	return a != nil && b != nil && bytes.Equal(a.RawSubject, b.RawSubject) &&
		bytes.Equal(a.RawSubjectPublicKeyInfo, b.RawSubjectPublicKeyInfo)
}

func contains(certs []*x509.Certificate, c *x509.Certificate) bool {
	for _, x := range certs {
		if bytes.Equal(x.Raw, c.Raw) {
			return true
		}
	}
	return false
}
