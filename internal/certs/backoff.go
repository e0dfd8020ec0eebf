package certs

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3/acme"

	"github.com/tlsgate/tlsgate/internal/dns"
)

// Backoff schedule of failed orders, per issuer and set of names. It lives
// in storage, not memory, so a crash loop or a restart cannot hammer the CA
// into a rate-limit lockout (a known Traefik failure): the first attempt
// after a restart still waits out the persisted delay.
const (
	backoffFirst = time.Minute
	backoffMax   = 24 * time.Hour
	// backoffRateLimited is the least we wait after the CA said we hit a rate limit.
	backoffRateLimited = time.Hour
)

// failureRecord is what storage keeps about one name's failed orders.
type failureRecord struct {
	Failures    int       `json:"failures"`
	LastError   string    `json:"last_error"`
	LastAttempt time.Time `json:"last_attempt"`
	NextAttempt time.Time `json:"next_attempt"`
}

// backoffIssuer wraps an ACME issuer and refuses to contact the CA for a
// name before its persisted backoff has passed.
type backoffIssuer struct {
	*certmagic.ACMEIssuer
	storage certmagic.Storage
	now     func() time.Time
	logger  *slog.Logger
}

// errBackoff is returned while a name waits out its backoff.
var errBackoff = errors.New("waiting out the backoff after failed attempts")

func (b *backoffIssuer) Issue(ctx context.Context, csr *x509.CertificateRequest) (*certmagic.IssuedCertificate, error) {
	key := failureKey(b.IssuerKey(), csrNames(csr))
	rec, _ := loadFailure(ctx, b.storage, key)
	now := b.now()
	if now.Before(rec.NextAttempt) {
		return nil, fmt.Errorf("%w: next attempt at %s (%d failed so far; last error: %s)",
			errBackoff, rec.NextAttempt.Format(time.RFC3339), rec.Failures, rec.LastError)
	}
	cert, err := b.ACMEIssuer.Issue(ctx, csr)
	if err == nil {
		if rec.Failures > 0 {
			_ = b.storage.Delete(ctx, key)
		}
		return cert, nil
	}
	if ctx.Err() != nil {
		return nil, err // shutting down: not the CA's fault
	}
	rec.Failures++
	rec.LastError = err.Error()
	rec.LastAttempt = now
	rec.NextAttempt = now.Add(backoffDelay(rec.Failures, err))
	if data, merr := json.Marshal(rec); merr == nil {
		if serr := b.storage.Store(ctx, key, data); serr != nil {
			b.logger.Error("could not save the backoff of a failed order", "key", key, "error", serr)
		}
	}
	b.logger.Warn("certificate order failed", "names", csrNames(csr), "ca", b.CA,
		"failures", rec.Failures, "next_attempt", rec.NextAttempt.Format(time.RFC3339),
		"hint", Hint(err), "error", err)
	return nil, err
}

// backoffDelay doubles from a minute up to a day; a rate-limit answer waits
// at least an hour.
func backoffDelay(failures int, err error) time.Duration {
	d := backoffFirst
	for i := 1; i < failures && d < backoffMax; i++ {
		d *= 2
	}
	d = min(d, backoffMax)
	var p acme.Problem
	if errors.As(err, &p) && strings.HasSuffix(p.Type, "rateLimited") {
		d = max(d, backoffRateLimited)
	}
	return d
}

func failureKey(issuerKey string, names []string) string {
	n := slices.Clone(names)
	slices.Sort(n)
	return path.Join("tlsgate", "failures", certmagic.StorageKeys.Safe(issuerKey), certmagic.StorageKeys.Safe(strings.Join(n, ","))+".json")
}

func loadFailure(ctx context.Context, s certmagic.Storage, key string) (failureRecord, error) {
	var rec failureRecord
	data, err := s.Load(ctx, key)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return rec, nil
		}
		return rec, err
	}
	err = json.Unmarshal(data, &rec)
	return rec, err
}

func csrNames(csr *x509.CertificateRequest) []string {
	names := slices.Clone(csr.DNSNames)
	for _, ip := range csr.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}

// Hint turns a failed order into the likely cause and what to do, in words a
// person can act on. It returns "" when it has nothing better to say.
func Hint(err error) string {
	if err == nil {
		return ""
	}
	msg := strings.ToLower(err.Error())
	var p acme.Problem
	if errors.As(err, &p) {
		msg += " " + strings.ToLower(p.Type)
	}
	var notVisible *dns.NotVisibleError
	switch {
	case errors.Is(err, errBackoff):
		return "earlier attempts failed; tlsgate waits before asking the CA again so it does not hit its rate limits (tlsgate renew --force NAME tries now)"
	case errors.Is(err, dns.ErrTSIGRefused) || errors.Is(err, dns.ErrZoneNotFound) ||
		strings.Contains(msg, "tsig key was refused") || strings.Contains(msg, "zone not found"):
		return "" // the error itself says what to change
	case errors.As(err, &notVisible) || strings.Contains(msg, "not visible"):
		return "the TXT record did not show up in time: check the dns provider wrote it, raise propagation_timeout, or point resolvers at servers that see updates"
	case strings.Contains(msg, "dns-01") || strings.Contains(msg, "txt record"):
		return "the CA did not find the _acme-challenge TXT record: check the dns provider writes to the zone the CA looks in (with CNAME delegation, the zone the CNAME points to)"
	case strings.Contains(msg, "performing request") || strings.Contains(msg, "fetching new nonce") || strings.Contains(msg, "provisioning client"):
		return "tlsgate could not reach the ACME server: check acme.directory, this machine's DNS and outbound HTTPS (port 443)"
	case strings.Contains(msg, "ratelimited") || strings.Contains(msg, "too many"):
		return "the CA's rate limit was hit; tlsgate waits at least an hour before trying again. Use letsencrypt-staging while testing"
	case strings.Contains(msg, "nxdomain") || strings.Contains(msg, "no valid a records") || strings.Contains(msg, "dns problem"):
		return "DNS does not point this name at this machine: add an A/AAAA record for it with this server's public address"
	case strings.Contains(msg, "connection refused") || strings.Contains(msg, "timeout during connect") || strings.Contains(msg, "connection reset"):
		return "the CA could not reach this server: open ports 80 (http-01) and 443 (tls-alpn-01) to the internet, or use dns-01"
	case strings.Contains(msg, "externalaccountrequired") || strings.Contains(msg, "external account"):
		return "this CA needs External Account Binding: set acme.eab.key_id and acme.eab.mac_key from your CA account"
	case strings.Contains(msg, "x509") || strings.Contains(msg, "certificate signed by unknown authority"):
		return "tlsgate does not trust the ACME server's own HTTPS certificate: add its CA to acme.trusted_roots"
	case strings.Contains(msg, "unauthorized") || strings.Contains(msg, "incorrect"):
		return "the CA reached a server that did not answer the challenge correctly: check that this name's DNS points at this tlsgate and no other proxy sits in front"
	}
	return ""
}
