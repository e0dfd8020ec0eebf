package config

import (
	"strings"
	"time"
)

// minECHRotate is the shortest ech.rotate accepted. It only refuses
// typos such as "10ms": one second lets tests watch rotations, while real
// deployments rotate in hours or days, well above the HTTPS record's TTL
// (docs/ECH.md says so; validate does not enforce it).
const minECHRotate = time.Second

func (v *validator) ech() {
	e := v.c.ECH
	if e == nil {
		return
	}
	switch name := e.PublicName; {
	case name == "":
		v.errf("ech.public_name", "ech needs a public_name: the name clients send in the clear, e.g. ech.example.com (tlsgate gets it a certificate)")
	case strings.HasPrefix(name, "*."):
		v.errf("ech.public_name", "%q is a wildcard; public_name is one DNS name, e.g. ech.example.com", name)
	case IsIP(name):
		v.errf("ech.public_name", "%q is an IP address; public_name is a DNS name, e.g. ech.example.com", name)
	default:
		if p := dnsNameProblem(name); p != "" {
			v.errf("ech.public_name", "%q is not a valid DNS name: %s", name, p)
		}
	}
	if r := time.Duration(e.Rotate); r > 0 && r < minECHRotate {
		v.errf("ech.rotate", "%s is too short; rotate ECH keys every few hours or days, e.g. 720h", e.Rotate)
	}
	if e.Publish {
		if d := v.c.ACME.DNS; d == nil || d.Provider != DNSRFC2136 {
			v.errf("ech.publish", "publish writes the HTTPS records through acme.dns, which must be the rfc2136 provider; set acme.dns {provider: rfc2136, server: ...}, or publish the record yourself (tlsgate ech config prints its ech= value)")
		}
	}
}
