package config

import (
	"fmt"
	"strings"
)

// maxRetries bounds retries: each one is a whole request to another
// upstream, so more than a few only multiplies load on a failing service.
const maxRetries = 10

// upstreams checks a proxy route's health, retry and upstream TLS keys.
func (v *validator) upstreams(path string, r *Route) {
	if h := r.HealthCheck; h != nil {
		hp := path + ".health_check"
		if !strings.HasPrefix(h.Path, "/") {
			v.errf(hp+".path", "%q does not start with /; write e.g. /healthz", h.Path)
		}
		if h.Path == GRPCHealthPath {
			for i, u := range r.To {
				if !strings.HasPrefix(u, "h2c://") && !strings.HasPrefix(u, "https://") {
					v.errf(fmt.Sprintf("%s.to[%d]", path, i), "the gRPC health check (%s) needs HTTP/2: write h2c://HOST:PORT or https://", GRPCHealthPath)
				}
			}
		}
		if h.Interval <= 0 {
			v.errf(hp+".interval", "interval must be a positive duration such as 5s")
		}
		if h.Timeout <= 0 {
			v.errf(hp+".timeout", "timeout must be a positive duration such as 2s")
		}
		if h.ExpectStatus < 100 || h.ExpectStatus > 599 {
			v.errf(hp+".expect_status", "status %d is not an HTTP status; use 100 to 599", h.ExpectStatus)
		}
		if h.UnhealthyAfter < 1 {
			v.errf(hp+".unhealthy_after", "unhealthy_after must be 1 or more")
		}
		if h.HealthyAfter < 1 {
			v.errf(hp+".healthy_after", "healthy_after must be 1 or more")
		}
	}
	if p := r.PassiveHealth; p != nil {
		pp := path + ".passive_health"
		if p.FailAfter < 1 {
			v.errf(pp+".fail_after", "fail_after must be 1 or more")
		}
		if p.Window <= 0 {
			v.errf(pp+".window", "window must be a positive duration such as 30s")
		}
		if p.Cooldown <= 0 {
			v.errf(pp+".cooldown", "cooldown must be a positive duration such as 30s")
		}
	}
	if r.Retries < 0 || r.Retries > maxRetries {
		v.errf(path+".retries", "retries must be 0 to %d", maxRetries)
	}
	for i, st := range r.RetryOn {
		if st < 400 || st > 599 {
			v.errf(fmt.Sprintf("%s.retry_on[%d]", path, i), "status %d is not an error status; use 400 to 599, e.g. [502, 503]", st)
		}
	}
	if len(r.RetryOn) > 0 && r.Retries == 0 {
		v.errf(path+".retry_on", "retry_on needs retries: N (how many other upstreams to try)")
	}
	if t := r.UpstreamTLS; t != nil {
		tp := path + ".upstream_tls"
		https := false
		for _, u := range r.To {
			https = https || strings.HasPrefix(u, "https://")
		}
		if !https {
			v.errf(tp, "upstream_tls applies to https:// upstreams and this route has none; write to: [\"https://HOST:PORT\"]")
		}
		for i, f := range t.CAFiles {
			v.file(fmt.Sprintf("%s.ca_files[%d]", tp, i), f)
		}
		if (t.ClientCertFile == "") != (t.ClientKeyFile == "") {
			v.errf(tp, "client_cert_file and client_key_file go together; set both or neither")
		}
		v.file(tp+".client_cert_file", t.ClientCertFile)
		v.file(tp+".client_key_file", t.ClientKeyFile)
	}
}
