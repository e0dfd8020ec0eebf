package certs

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3/acme"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/pki"
)

// Sources of a certificate, as `tlsgate certs` reports them: the tls mode
// of the site it serves, in config's words.
const (
	SourceACME  = config.TLSACME
	SourceLocal = config.TLSLocal
	SourceFile  = config.TLSFile
	SourceAdhoc = config.TLSAdhoc
)

// CertInfo describes one certificate for `tlsgate certs` and the admin API.
type CertInfo struct {
	Names       []string   `json:"names"`
	Issuer      string     `json:"issuer"`
	Serial      string     `json:"serial"`
	NotBefore   *time.Time `json:"not_before"`
	NotAfter    *time.Time `json:"not_after"`
	NextRenewal *time.Time `json:"next_renewal"`
	Source      string     `json:"source"`
	LastError   string     `json:"last_error"`
	NextAttempt *time.Time `json:"next_attempt,omitempty"`
	Failures    int64      `json:"renewal_failures"`
	StorageKey  string     `json:"storage_key"`
}

// ListStored describes every certificate in storage, read offline: what
// CertMagic stored under certificates/ and the failure records tlsgate
// keeps beside them.
func ListStored(ctx context.Context, s certmagic.Storage) ([]CertInfo, error) {
	keys, err := s.List(ctx, "certificates", true)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list stored certificates: %w", err)
	}
	var out []CertInfo
	for _, key := range keys {
		if !strings.HasSuffix(key, ".crt") {
			continue
		}
		info, err := storedCertInfo(ctx, s, key)
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b CertInfo) int { return strings.Compare(a.Names[0], b.Names[0]) })
	return out, nil
}

// storedCertInfo reads certificates/ISSUER/NAME/NAME.crt and its metadata.
func storedCertInfo(ctx context.Context, s certmagic.Storage, key string) (CertInfo, error) {
	data, err := s.Load(ctx, key)
	if err != nil {
		return CertInfo{}, fmt.Errorf("read %s: %w", key, err)
	}
	chain, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		return CertInfo{}, fmt.Errorf("%s: %w", key, err)
	}
	issuerKey := path.Base(path.Dir(path.Dir(key)))
	info := describeLeaf(chain[0])
	info.StorageKey = key
	info.Source = SourceACME
	if issuerKey == localIssuerKey {
		info.Source = SourceLocal
	}
	info.NextRenewal = timePtr(renewalTime(chain[0], storedARI(ctx, s, strings.TrimSuffix(key, ".crt")+".json")))
	rec, _ := loadFailure(ctx, s, failureKey(issuerKey, info.Names))
	if rec.Failures > 0 {
		info.LastError = rec.LastError
		info.NextAttempt = timePtr(rec.NextAttempt)
		info.Failures = int64(rec.Failures)
	}
	return info, nil
}

// storedARI reads the ACME Renewal Information CertMagic saved with a
// certificate, if any.
func storedARI(ctx context.Context, s certmagic.Storage, metaKey string) *acme.RenewalInfo {
	data, err := s.Load(ctx, metaKey)
	if err != nil {
		return nil
	}
	var meta struct {
		IssuerData struct {
			RenewalInfo *acme.RenewalInfo `json:"renewal_info"`
		} `json:"issuer_data"`
	}
	if json.Unmarshal(data, &meta) != nil {
		return nil
	}
	return meta.IssuerData.RenewalInfo
}

// renewalTime is when CertMagic will renew leaf: the time it picked in the
// CA's ARI window, else when the last third of the lifetime begins.
func renewalTime(leaf *x509.Certificate, ari *acme.RenewalInfo) time.Time {
	if ari != nil && !ari.SelectedTime.IsZero() {
		return ari.SelectedTime
	}
	lifetime := leaf.NotAfter.Sub(leaf.NotBefore)
	return leaf.NotAfter.Add(-time.Duration(float64(lifetime) * certmagic.DefaultRenewalWindowRatio))
}

func describeLeaf(leaf *x509.Certificate) CertInfo {
	names := slices.Clone(leaf.DNSNames)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	issuer := leaf.Issuer.CommonName
	if issuer == "" {
		issuer = leaf.Issuer.String()
	}
	return CertInfo{
		Names:     names,
		Issuer:    issuer,
		Serial:    fmt.Sprintf("%x", leaf.SerialNumber),
		NotBefore: timePtr(leaf.NotBefore),
		NotAfter:  timePtr(leaf.NotAfter),
	}
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// List describes every certificate the running instance serves or is
// trying to obtain: managed ones (with their storage keys, renewal times and
// last errors), file and ad-hoc ones.
func (m *Manager) List(ctx context.Context) ([]CertInfo, error) {
	stored, err := ListStored(ctx, m.storage)
	if err != nil {
		return nil, err
	}
	set := m.managed.Load()
	var out []CertInfo
	covered := make(map[string]bool)
	for _, info := range stored {
		if !slices.ContainsFunc(info.Names, func(n string) bool { return set.configFor(n) != nil }) {
			continue // stored for a name no site has any more
		}
		for _, n := range info.Names {
			covered[n] = true
			st := m.status.get(n)
			info.Failures += st.failures
			if st.lastError != "" {
				info.LastError = st.lastError
			}
		}
		out = append(out, info)
	}
	// Names still waiting for their first certificate.
	for _, name := range slices.Sorted(maps.Keys(set.byName)) {
		if covered[name] {
			continue
		}
		st := m.status.get(name)
		info := CertInfo{Names: []string{name}, Source: SourceACME, LastError: st.lastError, Failures: st.failures}
		if set.byName[name] == m.localConfig() {
			info.Source = SourceLocal
		}
		out = append(out, info)
	}
	m.mu.Lock()
	for _, f := range m.files {
		info := describeLeaf(f.cert.Load().Leaf)
		info.Source = SourceFile
		info.StorageKey = f.key.cert
		out = append(out, info)
	}
	for _, a := range m.adhoc {
		info := describeLeaf(a.cert.Load().Leaf)
		info.Source = SourceAdhoc
		out = append(out, info)
	}
	m.mu.Unlock()
	return out, nil
}

func (m *Manager) localConfig() *certmagic.Config {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.local
}

// Renew renews name's certificate now (force: even when it is not due) and
// waits until the new certificate is in service. It returns the certificate
// then in service.
func (m *Manager) Renew(ctx context.Context, name string, force bool) (CertInfo, error) {
	cfg := m.managed.Load().configFor(name)
	if cfg == nil {
		return CertInfo{}, fmt.Errorf("no site manages a certificate for %q; tlsgate certs lists the names it manages", name)
	}
	inCache := func() []certmagic.Certificate {
		var list []certmagic.Certificate
		for _, c := range m.cache.AllMatchingCertificates(name) {
			if slices.Contains(c.Names, name) {
				list = append(list, c)
			}
		}
		return list
	}
	before := inCache()
	if len(before) == 0 {
		// Just started (tlsgate renew with no instance running): the
		// stored certificate may not be loaded yet.
		if _, err := cfg.CacheManagedCertificate(ctx, name); err == nil {
			before = inCache()
		}
	}
	if len(before) == 0 {
		// Its first certificate is being obtained in the background, which
		// holds the name's lock while it retries: waiting for it could take
		// days. Say what is happening instead.
		msg := fmt.Sprintf("%s has no certificate yet; tlsgate is obtaining one in the background", name)
		if st := m.status.get(name); st.lastError != "" {
			msg += "; the last attempt failed: " + st.lastError
		}
		return CertInfo{}, errors.New(msg + " (follow it with tlsgate certs or the log)")
	}
	if force {
		// A forced renewal is a person saying "try now": clear the backoff.
		m.clearFailures(ctx, name)
	}
	// Never wait longer than a person waits for a command.
	ctx, cancel := context.WithTimeout(ctx, renewTimeout)
	defer cancel()
	// Without force, CertMagic renews only a certificate that is due.
	if err := cfg.RenewCertSync(ctx, name, force); err != nil {
		return CertInfo{}, fmt.Errorf("renew %s: %w", name, err)
	}
	// RenewCertSync only stores the new certificate: put it in the cache,
	// then drop the old one. Both are valid in between, so every handshake
	// gets one of them.
	cert, err := cfg.CacheManagedCertificate(ctx, name)
	if err != nil {
		return CertInfo{}, fmt.Errorf("load renewed certificate for %s: %w", name, err)
	}
	var stale []string
	for _, c := range before {
		if c.Hash() != cert.Hash() {
			stale = append(stale, c.Hash())
		}
	}
	m.cache.Remove(stale)
	return m.describe(ctx, name, cert.Leaf), nil
}

// renewTimeout bounds one Renew call, lock wait and CA round trips included.
const renewTimeout = 100 * time.Second

// describe is the listing entry of the certificate covering name, or a
// bare description of leaf when the listing does not have it.
func (m *Manager) describe(ctx context.Context, name string, leaf *x509.Certificate) CertInfo {
	if list, err := m.List(ctx); err == nil {
		for _, c := range list {
			if c.Serial == fmt.Sprintf("%x", leaf.SerialNumber) && slices.Contains(c.Names, name) {
				return c
			}
		}
	}
	return describeLeaf(leaf)
}

func (m *Manager) clearFailures(ctx context.Context, name string) {
	st := m.challenges.Load()
	if st == nil {
		return
	}
	for _, iss := range st.issuers {
		_ = m.storage.Delete(ctx, failureKey(iss.IssuerKey(), []string{name}))
	}
}
