package doctor

import (
	"context"
	"crypto/tls"

	"github.com/tlsgate/tlsgate/internal/pki"
)

// Diagnose connects to opts.URL, gathers one Observation and runs every
// check over it. The error is only for a URL that cannot be used; every
// problem with the server is a Finding in the report.
func Diagnose(ctx context.Context, opts Options) (*Report, error) {
	obs, err := Observe(ctx, opts)
	if err != nil {
		return nil, err
	}
	return Evaluate(obs), nil
}

// Observe gathers what the server shows, without judging it.
func Observe(ctx context.Context, opts Options) (*Observation, error) {
	t, err := newTarget(opts.URL, opts.ServerName)
	if err != nil {
		return nil, err
	}
	obs := &Observation{Now: opts.now(), Target: t, opts: &opts}
	g := &gatherer{opts: &opts, target: t, log: opts.logger().With("address", t.Address)}
	if t.URL.Scheme == "http" {
		next, ok := g.gatherFront(ctx, obs)
		if !ok {
			return obs, nil
		}
		obs.Target = next
		g = &gatherer{opts: &opts, target: next, log: opts.logger().With("address", next.Address)}
	}
	g.gatherTLS(ctx, obs)
	return obs, nil
}

// check turns part of an Observation into findings; it returns nothing
// when its part is absent.
type check func(*Observation) []Finding

// checks run in this order, which is the order findings are shown in:
// reachability first, then the handshake, the certificate, the client.
func checks() []check {
	return []check{
		checkFront, checkConnect, checkNotTLS, checkHandshake, checkVersions,
		checkValidity, checkName, checkTrust, checkChainOrder, checkKey,
		checkClientCert, checkOCSP, checkHTTP, checkStores,
	}
}

// Evaluate runs every check over obs and builds the report.
func Evaluate(obs *Observation) *Report {
	r := &Report{
		URL:        obs.URL(),
		Address:    obs.Target.Address,
		ServerName: obs.Target.ServerName,
		VerifyName: obs.Target.VerifyName,
		Clock:      obs.Now,
	}
	if obs.Front != nil && obs.Front.RedirectTo != "" {
		r.RedirectedTo = obs.Front.RedirectTo
	}
	if h := obs.TLS; h != nil {
		if h.State != nil && h.Err == nil {
			r.TLSVersion = tls.VersionName(h.State.Version)
			r.CipherSuite = tls.CipherSuiteName(h.State.CipherSuite)
			r.ALPN = h.State.NegotiatedProtocol
		}
		for _, c := range h.Certs {
			r.Chain = append(r.Chain, pki.DescribeCertificate(c, obs.Now))
		}
	}
	for _, c := range checks() {
		r.Findings = append(r.Findings, c(obs)...)
	}
	r.finish()
	return r
}

// URL is the URL as the user gave it.
func (o *Observation) URL() string {
	if o.opts != nil {
		return o.opts.URL
	}
	return o.Target.URL.String()
}

// leaf is the server's certificate, or nil.
func (o *Observation) leaf() *Handshake {
	if o.TLS == nil || len(o.TLS.Certs) == 0 {
		return nil
	}
	return o.TLS
}
