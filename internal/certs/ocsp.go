package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"golang.org/x/crypto/ocsp"
)

// OCSP stapling for file certificates. CertMagic staples the certificates
// it manages (ACME, local CA) itself; these are the ones tlsgate loads from
// cert_file. A certificate is stapled only when it names a responder (an
// OCSP URL in its Authority Information Access), and a responder that is
// down never stops serving: the certificate goes out without a staple.
const (
	// ocspTimeout bounds one request to a responder.
	ocspTimeout = 10 * time.Second
	// ocspMinRefresh and ocspMaxRefresh bound how soon and how late the
	// next request after an answer is: never hammer a responder, and
	// notice a revocation within hours even when responses live a week.
	ocspMinRefresh = time.Minute
	ocspMaxRefresh = 12 * time.Hour
	// ocspNoNextUpdate is the refresh of a response that gives no
	// nextUpdate (openssl ocsp without -ndays/-nmin), as CertMagic checks.
	ocspNoNextUpdate = time.Hour
	// ocspRetry is the first wait after a failed request; it doubles up to
	// ocspMaxRetry.
	ocspRetry    = time.Minute
	ocspMaxRetry = time.Hour
	// ocspMaxBody caps a responder's answer.
	ocspMaxBody = 1 << 20
)

// ocspState is a file source's stapling schedule; guarded by Manager.mu.
type ocspState struct {
	due   time.Time // next request; zero: as soon as the loop runs
	fails int       // requests failed in a row
}

// wantsOCSP reports whether a certificate names a responder to staple from.
func wantsOCSP(c *tls.Certificate) bool { return len(c.Leaf.OCSPServer) > 0 }

// keepStaple copies the staple of prev into next when both are the same
// leaf (a reload of unchanged files), so a reload does not serve without
// one until the responder answers again.
func keepStaple(prev, next *tls.Certificate) {
	if prev != nil && len(prev.OCSPStaple) > 0 && bytes.Equal(prev.Leaf.Raw, next.Leaf.Raw) {
		next.OCSPStaple = prev.OCSPStaple
	}
}

// kickOCSP asks the stapling loop to look at the file sources now.
func (m *Manager) kickOCSP() {
	select {
	case m.ocspKick <- struct{}{}:
	default: // a look is already pending
	}
}

// ocspLoop keeps the staples of file certificates fresh until Stop.
func (m *Manager) ocspLoop() {
	defer close(m.ocspDone)
	timer := time.NewTimer(ocspMaxRefresh)
	defer timer.Stop()
	for {
		next := m.refreshStaples(m.ctx)
		timer.Reset(max(next.Sub(m.opts.Now()), time.Second))
		select {
		case <-m.stop:
			return
		case <-m.ocspKick:
		case <-timer.C:
		}
	}
}

// stapleJob is one file certificate whose staple is due.
type stapleJob struct {
	src  *fileSource
	cert *tls.Certificate // what src served when the job was made
}

// refreshStaples asks the responders of the file certificates that are due
// and returns when the next one is.
func (m *Manager) refreshStaples(ctx context.Context) time.Time {
	now := m.opts.Now()
	next := now.Add(ocspMaxRefresh)
	var jobs []stapleJob
	m.mu.Lock()
	for _, src := range m.files {
		cert := src.cert.Load()
		if cert == nil || !wantsOCSP(cert) {
			continue
		}
		if src.sched.due.After(now) {
			next = minTime(next, src.sched.due)
			continue
		}
		jobs = append(jobs, stapleJob{src, cert})
	}
	m.mu.Unlock()

	for _, j := range jobs {
		due := m.staple(ctx, j)
		next = minTime(next, due)
	}
	return next
}

// staple asks j's responder once, puts the answer in service when j's
// certificate is still the one served, and returns when to ask next.
func (m *Manager) staple(ctx context.Context, j stapleJob) time.Time {
	log := m.logger.With("cert_file", j.src.key.cert, "responder", j.cert.Leaf.OCSPServer[0])
	raw, resp, err := m.fetchOCSP(ctx, j.cert)
	now := m.opts.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	st := &j.src.sched
	if err != nil {
		st.fails++
		wait := min(ocspRetry<<min(st.fails-1, 10), ocspMaxRetry)
		st.due = now.Add(wait)
		served := j.cert
		if old := staleAt(served); len(served.OCSPStaple) > 0 && !old.IsZero() && old.Before(st.due) {
			// The staple would run out before the next try: serving an
			// expired response makes clients that check it refuse us.
			c := *served
			c.OCSPStaple = nil
			j.src.cert.CompareAndSwap(served, &c)
			log.Warn("OCSP staple expires before the responder answers again; serving without one", "next_update", old.Format(time.RFC3339))
		}
		log.Warn("could not get an OCSP response; serving without a fresh staple", "error", err, "retry_in", wait.String())
		if mustStaple(served.Leaf) && len(j.src.cert.Load().OCSPStaple) == 0 {
			log.Error("this certificate demands OCSP stapling (must-staple): Firefox refuses it while no staple is served; fix the responder or use a certificate without must-staple")
		}
		return st.due
	}
	st.fails = 0
	st.due = refreshAt(resp, now)
	c := *j.cert
	switch resp.Status {
	case ocsp.Good:
		c.OCSPStaple = raw
		log.Info("stapled OCSP response", "status", "good", "next_update", formatTime(resp.NextUpdate), "refresh_at", st.due.Format(time.RFC3339))
	case ocsp.Revoked:
		// Stapled as it is: the responder's word is what clients that
		// check would find anyway, and hiding it behind no staple would
		// only help clients that do not check.
		c.OCSPStaple = raw
		log.Error("the OCSP responder says this certificate is REVOKED; clients that check will refuse it: replace cert_file and key_file",
			"revoked_at", resp.RevokedAt.Format(time.RFC3339), "reason", resp.RevocationReason)
	default:
		c.OCSPStaple = nil
		log.Warn("the OCSP responder does not know this certificate; serving without a staple (is the chain in cert_file the one the CA issued?)")
	}
	if !j.src.cert.CompareAndSwap(j.cert, &c) {
		// The files were reloaded meanwhile; that reload asks again.
		st.due = time.Time{}
	}
	return st.due
}

// staleAt is when a certificate's staple expires; zero when it has none
// or the response gives no nextUpdate.
func staleAt(c *tls.Certificate) time.Time {
	if len(c.OCSPStaple) == 0 {
		return time.Time{}
	}
	resp, err := ocsp.ParseResponse(c.OCSPStaple, nil)
	if err != nil {
		return time.Time{}
	}
	return resp.NextUpdate
}

// refreshAt is when to ask again after resp: halfway between its
// thisUpdate and nextUpdate (as CertMagic does), within the bounds above.
func refreshAt(resp *ocsp.Response, now time.Time) time.Time {
	wait := ocspNoNextUpdate
	if !resp.NextUpdate.IsZero() {
		wait = resp.ThisUpdate.Add(resp.NextUpdate.Sub(resp.ThisUpdate) / 2).Sub(now)
	}
	return now.Add(min(max(wait, ocspMinRefresh), ocspMaxRefresh))
}

// fetchOCSP asks the first responder a certificate names for its status,
// signed by (or for) the issuer that follows the leaf in the chain.
func (m *Manager) fetchOCSP(ctx context.Context, cert *tls.Certificate) ([]byte, *ocsp.Response, error) {
	if len(cert.Certificate) < 2 {
		return nil, nil, errors.New("cert_file has only the leaf; append the issuing (intermediate) certificate so the OCSP request can name it")
	}
	issuer, err := x509.ParseCertificate(cert.Certificate[1])
	if err != nil {
		return nil, nil, fmt.Errorf("issuer certificate: %w", err)
	}
	req, err := ocsp.CreateRequest(cert.Leaf, issuer, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("OCSP request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, ocspTimeout)
	defer cancel()
	// POST (RFC 6960 A.1.1) works with every responder; GET needs the
	// request in the URL, which some responders mishandle.
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, cert.Leaf.OCSPServer[0], bytes.NewReader(req))
	if err != nil {
		return nil, nil, fmt.Errorf("OCSP URL: %w", err)
	}
	hr.Header.Set("Content-Type", "application/ocsp-request")
	hr.Header.Set("Accept", "application/ocsp-response")
	res, err := m.ocspClient.Do(hr)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("responder answered %s", res.Status)
	}
	raw, err := io.ReadAll(io.LimitReader(res.Body, ocspMaxBody))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the OCSP response: %w", err)
	}
	resp, err := ocsp.ParseResponseForCert(raw, cert.Leaf, issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("OCSP response: %w", err)
	}
	if err := checkResponder(resp, issuer); err != nil {
		return nil, nil, err
	}
	return raw, resp, nil
}

// checkResponder enforces RFC 6960 §4.2.2.2: a response signed by a
// delegated responder (not the issuer itself) counts only when that
// responder's certificate is for OCSP signing. ParseResponseForCert has
// already checked that the issuer signed it.
func checkResponder(resp *ocsp.Response, issuer *x509.Certificate) error {
	rc := resp.Certificate
	if rc == nil || rc.Equal(issuer) || slices.Contains(rc.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) {
		return nil
	}
	return errors.New("OCSP response signed by a certificate that is not for OCSP signing")
}

// mustStapleOID is the TLS Feature extension (RFC 7633) that, with
// status_request in it, is "must-staple".
var mustStapleOID = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 24}

// mustStaple reports whether a certificate carries a TLS Feature extension
// (the only feature in use is status_request, i.e. must-staple).
func mustStaple(c *x509.Certificate) bool {
	return slices.ContainsFunc(c.Extensions, func(e pkix.Extension) bool { return e.Id.Equal(mustStapleOID) })
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.Format(time.RFC3339)
}
