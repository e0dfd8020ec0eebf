package certs

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/events"
	"github.com/tlsgate/tlsgate/internal/pki"
)

// fileKey identifies a certificate loaded from files.
type fileKey struct{ cert, key, passphrase string }

// fileSource serves a certificate read from PEM files, re-read when the
// files change. A change that does not load (a half-written file, a wrong
// passphrase) keeps the previous certificate serving.
type fileSource struct {
	key  fileKey
	cert atomic.Pointer[tls.Certificate]
	// stamp is the files' size and modification times at the last load
	// attempt; guarded by Manager.mu.
	stamp string
	// sched is when to ask the OCSP responder next; guarded by Manager.mu.
	sched ocspState
}

// putLocked serves cert, with the staple of the certificate it replaces when the
// leaf is the same, and asks the OCSP responder again soon (a reload or a
// file change is when to look again). m.mu must be held.
func (s *fileSource) putLocked(cert *tls.Certificate) {
	keepStaple(s.cert.Load(), cert)
	s.cert.Store(cert)
	s.sched = ocspState{}
}

func (s *fileSource) Certificate(*tls.ClientHelloInfo, string) (*tls.Certificate, error) {
	return s.cert.Load(), nil
}

// fileCert loads a site's certificate files for Apply, reusing the source in
// service for the same files (the watcher keeps it fresh).
func (m *Manager) fileCert(site config.Site, next map[fileKey]*fileSource) (Source, error) {
	key := fileKey{site.TLS.CertFile, site.TLS.KeyFile, site.TLS.KeyPassphraseFile}
	if src, ok := next[key]; ok {
		return src, nil
	}
	// Always load afresh on Apply: a reload is how a user says "look again".
	cert, err := LoadKeyPair(key.cert, key.key, key.passphrase)
	if err != nil {
		return nil, err
	}
	if now := m.opts.Now(); now.After(cert.Leaf.NotAfter) || now.Before(cert.Leaf.NotBefore) {
		m.logger.Warn("the certificate in cert_file is not valid now; clients will refuse it until the files are replaced (tlsgate re-reads them)",
			"cert_file", key.cert, "not_before", cert.Leaf.NotBefore.Format(time.RFC3339), "not_after", cert.Leaf.NotAfter.Format(time.RFC3339))
	}
	if missing := uncovered(cert, site.Hosts); len(missing) > 0 {
		m.logger.Warn("certificate does not cover every host of its site",
			"cert_file", key.cert, "missing", missing, "covers", certNames(cert))
	}
	stamp := fileStamp(key)
	m.mu.Lock()
	src := m.files[key]
	if src == nil {
		src = &fileSource{key: key}
	}
	src.putLocked(cert)
	src.stamp = stamp
	m.mu.Unlock()
	next[key] = src
	return src, nil
}

// LoadKeyPair reads a PEM certificate chain and its private key, which may
// be encrypted (PKCS#8 or legacy OpenSSL PEM) with the passphrase in
// passphraseFile (first line). Errors name the file and the fix.
func LoadKeyPair(certFile, keyFile, passphraseFile string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("read cert_file: %w", err)
	}
	chain, err := pki.ParseCertificatesPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("cert_file %s: %w", certFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("read key_file: %w", err)
	}
	var passphrase []byte
	if passphraseFile != "" {
		passphrase, err = pki.ReadPassphraseFile(passphraseFile)
		if err != nil {
			return nil, err
		}
	}
	key, err := pki.ParsePrivateKeyPEM(keyPEM, passphrase)
	switch {
	case errors.Is(err, pki.ErrPassphraseRequired):
		return nil, fmt.Errorf("key_file %s is encrypted; set key_passphrase_file to a file holding its passphrase", keyFile)
	case errors.Is(err, pki.ErrWrongPassphrase):
		return nil, fmt.Errorf("key_file %s: wrong passphrase in %s", keyFile, passphraseFile)
	case err != nil:
		return nil, fmt.Errorf("key_file %s: %w", keyFile, err)
	}
	cert := &tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, c := range chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	if !publicKeysEqual(chain[0].PublicKey, key.Public()) {
		return nil, fmt.Errorf("key_file %s does not belong to the first certificate in %s", keyFile, certFile)
	}
	return cert, nil
}

func (m *Manager) reloadChangedFiles() {
	m.mu.Lock()
	var changed []*fileSource
	for _, src := range m.files {
		if stamp := fileStamp(src.key); stamp != src.stamp {
			src.stamp = stamp
			changed = append(changed, src)
		}
	}
	m.mu.Unlock()

	for _, src := range changed {
		cert, err := LoadKeyPair(src.key.cert, src.key.key, src.key.passphrase)
		if err != nil {
			m.logger.Warn("certificate files changed but do not load; still serving the previous certificate",
				"cert_file", src.key.cert, "error", err)
			continue
		}
		m.mu.Lock()
		src.putLocked(cert)
		m.mu.Unlock()
		m.kickOCSP()
		m.logger.Info("reloaded certificate from files", "cert_file", src.key.cert,
			"names", certNames(cert), "not_after", cert.Leaf.NotAfter.Format(time.RFC3339))
		// New files in place are a renewal done by another tool (certbot's
		// deploy hook, cert-manager): worth the same event as our own.
		if names := certNames(cert); len(names) > 0 {
			m.opts.Events.Emit(events.Event{Event: events.CertRenewed, Name: names[0], Time: m.opts.Now(),
				Detail: map[string]any{"source": SourceFile, "cert_file": src.key.cert, "not_after": cert.Leaf.NotAfter.UTC().Format(time.RFC3339)}})
		}
	}
}

// fileStamp summarises the files' sizes and modification times.
func fileStamp(k fileKey) string {
	var b strings.Builder
	for _, p := range []string{k.cert, k.key, k.passphrase} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil {
			fmt.Fprintf(&b, "%d/%d;", fi.Size(), fi.ModTime().UnixNano())
		} else {
			b.WriteString("missing;")
		}
	}
	return b.String()
}
