package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/pki"
)

// clientAuth is a site's compiled client_auth policy.
type clientAuth struct {
	// mu guards verified.
	mu sync.Mutex
	// verified remembers leaves this policy accepted, so the per-request
	// check (see allows) costs a map lookup, not a chain verification.
	verified map[*x509.Certificate]bool

	required bool
	roots    *x509.CertPool
	// inter holds intermediates we know, so clients that send only their
	// leaf (openssl s_client -cert, many libraries) still verify.
	inter  []*x509.Certificate
	logger *slog.Logger
	now    func() time.Time
}

// compileClientAuth loads the trusted client CAs of a site. The local CA's
// root is trusted when local_ca is set.
func (s *Server) compileClientAuth(ca *config.ClientAuth) (*clientAuth, error) {
	if ca == nil {
		return nil, nil
	}
	pool, err := pki.CertPoolFromFiles(pki.PoolStrict, ca.CAFiles...)
	if err != nil {
		return nil, fmt.Errorf("client_auth.ca_files: %w", err)
	}
	var inter []*x509.Certificate
	if ca.LocalCA {
		local, _, err := pki.InitLocalCA(s.certs.LocalCADir(), "")
		if err != nil {
			return nil, fmt.Errorf("client_auth.local_ca: %w", err)
		}
		pool.AddCert(local.Root)
		inter = local.Chain
	}
	return &clientAuth{
		verified: make(map[*x509.Certificate]bool),
		required: ca.Mode != config.ClientAuthOptional,
		roots:    pool,
		inter:    inter,
		logger:   s.logger.With("component", "client_auth"),
		now:      s.opts.Now,
	}, nil
}

// apply sets c to ask for client certificates and verify them. Verification
// is ours rather than crypto/tls's, and so is the check that a required
// certificate was sent, so every refusal is logged with its reason (none
// sent, unknown CA, expired, not a client certificate) before the alert.
func (ca *clientAuth) apply(c *tls.Config) {
	c.ClientAuth = tls.RequestClientCert
	c.VerifyConnection = ca.verify
}

// allows checks a request's connection against this policy. The handshake
// checked it against the policy in service then; a reload may since have
// added client_auth to the site or changed its CAs, and keep-alive and
// HTTP/2 connections outlive reloads.
func (ca *clientAuth) allows(cs *tls.ConnectionState) bool {
	if len(cs.PeerCertificates) == 0 {
		return !ca.required
	}
	leaf := cs.PeerCertificates[0]
	if now := ca.now(); now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return false
	}
	ca.mu.Lock()
	ok, seen := ca.verified[leaf]
	ca.mu.Unlock()
	if seen {
		return ok
	}
	ok = ca.verify(*cs) == nil
	ca.mu.Lock()
	if len(ca.verified) >= maxVerifiedLeaves {
		clear(ca.verified) // bounded memory; the next requests verify again
	}
	ca.verified[leaf] = ok
	ca.mu.Unlock()
	return ok
}

// maxVerifiedLeaves bounds the per-policy cache of verified client leaves.
const maxVerifiedLeaves = 10000

func (ca *clientAuth) verify(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		if ca.required {
			ca.logger.Info("refused a client without a certificate", "server_name", cs.ServerName)
			return errors.New("client certificate required")
		}
		return nil
	}
	leaf := cs.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range append(cs.PeerCertificates[1:], ca.inter...) {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         ca.roots,
		Intermediates: inter,
		CurrentTime:   ca.now(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		ca.logger.Warn("refused a client certificate", "server_name", cs.ServerName,
			"subject", leaf.Subject.String(), "issuer", leaf.Issuer.String(), "reason", clientCertReason(err, leaf, ca.now()))
		return fmt.Errorf("client certificate: %w", err)
	}
	return nil
}

// clientCertReason says in plain words why a client certificate failed.
func clientCertReason(err error, leaf *x509.Certificate, now time.Time) string {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		return "issued by a CA this site does not trust (client_auth.ca_files, client_auth.local_ca)"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		if now.Before(leaf.NotBefore) {
			return "not valid yet (not before " + leaf.NotBefore.Format(time.RFC3339) + ")"
		}
		return "expired on " + leaf.NotAfter.Format(time.RFC3339)
	case errors.As(err, &invalid) && invalid.Reason == x509.IncompatibleUsage:
		return "not a client certificate (its extended key usage lacks clientAuth)"
	}
	return err.Error()
}
