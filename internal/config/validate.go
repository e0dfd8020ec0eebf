package config

import (
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"reflect"
	"strconv"
	"strings"
)

// Validate checks c as WithDefaults would fill it and returns every problem
// at once: one *Error or several joined with errors.Join (see Errors), each
// pointing at the place in the file where the key was written. It also
// checks that files read at start (certificates, keys, CA bundles, the
// storage key) exist and are readable. Load calls it; call it again on a
// Config built or changed in code.
func (c *Config) Validate() error {
	v := &validator{c: c.WithDefaults()}
	v.top()
	v.acme()
	v.onDemand()
	v.storage()
	v.sites()
	v.ech()
	v.durations(reflect.ValueOf(v.c).Elem(), "")
	return joinSorted(v.errs)
}

// validator collects problems with c, which has its defaults filled in.
type validator struct {
	c    *Config
	errs []error
}

// errf records a problem with the value at path, placed where that value
// (or, for a missing key, its nearest written parent) is in the file.
func (v *validator) errf(path, format string, args ...any) {
	v.errs = append(v.errs, &Error{Pos: v.c.nearestPosition(path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) file(path, name string) {
	if name == "" {
		return
	}
	if p := fileProblem(name); p != "" {
		v.errf(path, "%s", p)
	}
}

func (v *validator) top() {
	c := v.c
	if len(c.Sites) == 0 {
		v.errf("sites", "no sites; add at least one site with hosts and routes")
	}
	http, https := *c.Listen.HTTP, *c.Listen.HTTPS
	if http != "" {
		if p := addrProblem(http); p != "" {
			v.errf("listen.http", "%s", p)
		}
	}
	if https != "" {
		if p := addrProblem(https); p != "" {
			v.errf("listen.https", "%s", p)
		}
	}
	if http != "" && http == https && !strings.HasSuffix(http, ":0") {
		v.errf("listen.https", "%q is also listen.http; give HTTP and HTTPS different ports", https)
	}
	// An http3 equal to https (the default) has https's problems, told there.
	if h3 := *c.Listen.HTTP3; h3 != "" && h3 != https {
		if strings.HasPrefix(h3, "unix:") {
			v.errf("listen.http3", "%q: HTTP/3 runs over UDP and needs HOST:PORT, e.g. \":443\"; \"\" turns it off", h3)
		} else if p := addrProblem(h3); p != "" {
			v.errf("listen.http3", "%s", p)
		}
	}
	v.admin(*c.Admin)
	switch c.Server.Engine {
	case EngineTLSGate, EngineStd:
	default:
		v.errf("server.engine", "%q is not an engine; use tlsgate or std (%s gives the default when the config does not set it)", c.Server.Engine, EngineEnv)
	}
	if a := c.AccessLog; a != nil {
		switch a.Format {
		case AccessLogJSON, AccessLogCommon, AccessLogCombined:
		default:
			v.errf("access_log.format", "%q is not a format; use json, common or combined", a.Format)
		}
		if a.MaxSize < 0 || a.MaxBackups < 0 {
			v.errf("access_log", "max_size and max_backups must not be negative")
		}
		for i, q := range a.RedactQuery {
			if q == "" {
				v.errf(fmt.Sprintf("access_log.redact_query[%d]", i), "empty parameter name; write e.g. token")
			}
		}
	}
	v.alerts()
	v.prefixes("trusted_proxies", c.TrustedProxies)
	if pp := c.Listen.ProxyProtocol; pp != nil {
		if len(pp.Trusted) == 0 {
			v.errf("listen.proxy_protocol.trusted", "no peers; list the load balancers that send PROXY headers, e.g. [10.0.0.0/8], or remove proxy_protocol")
		}
		v.prefixes("listen.proxy_protocol.trusted", pp.Trusted)
	}
	if c.Limits.MaxConnections < 0 {
		v.errf("limits.max_connections", "must not be negative; write a count such as 10000")
	}
	if n := c.Limits.MaxConcurrentStreams; n < 0 || n > 1<<31-1 {
		v.errf("limits.max_concurrent_streams", "must be between 1 and 2147483647; write e.g. 250")
	}
	if c.Email != "" {
		if a, err := mail.ParseAddress(c.Email); err != nil || a.Address != c.Email || !strings.Contains(c.Email, "@") {
			v.errf("email", "%q is not an e-mail address; write a plain address such as ops@example.com", c.Email)
		}
	}
	if c.Limits.MaxHeaderBytes < 0 {
		v.errf("limits.max_header_bytes", "must not be negative; write a size such as 1MiB")
	}
	if c.DefaultSNI != "" && !v.served(c.DefaultSNI) {
		v.errf("default_sni", "%q is not a host of any site; use one of the names under sites[].hosts", c.DefaultSNI)
	}
}

// prefixes checks a list of CIDRs or bare IPs.
func (v *validator) prefixes(key string, list []string) {
	for i, p := range list {
		if _, err := netip.ParsePrefix(p); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(p); err != nil {
			v.errf(fmt.Sprintf("%s[%d]", key, i), "%q is not an IP address or CIDR; write e.g. 10.0.0.0/8 or 192.0.2.7", p)
		}
	}
}

// admin checks the admin API address. The API can reload the config and
// renew certificates, so it must not be reachable from the network.
func (v *validator) admin(a string) {
	if a == "" {
		return
	}
	if rest, ok := strings.CutPrefix(a, "unix:"); ok {
		if rest == "" {
			v.errf("admin", "unix: needs a socket path; write e.g. unix:/run/tlsgate/admin.sock")
		}
		return
	}
	if p := addrProblem(a); p != "" {
		v.errf("admin", "%s, or unix:/path/admin.sock", p)
		return
	}
	host, _, _ := net.SplitHostPort(a)
	if !isLoopback(host) {
		v.errf("admin", "%q is not a loopback address; the admin API must stay on loopback (127.0.0.1:2019, [::1]:2019, localhost:2019) or a unix socket (unix:/path/admin.sock)", a)
	}
}

// served reports whether some site host covers name.
func (v *validator) served(name string) bool {
	for _, s := range v.c.Sites {
		for _, h := range s.Hosts {
			if HostCovers(h, name) {
				return true
			}
		}
	}
	return false
}

func (v *validator) storage() {
	s := v.c.Storage
	switch s.Backend {
	case StorageFile:
		if s.Etcd != nil {
			v.errf("storage.etcd", "etcd is set but storage.backend is file; set backend: etcd, or remove etcd")
		}
	case StorageEtcd:
		if s.Etcd == nil || len(s.Etcd.Endpoints) == 0 {
			v.errf("storage.etcd.endpoints", "the etcd backend needs endpoints; write e.g. etcd: {endpoints: [\"127.0.0.1:2379\"]}")
		}
	default:
		v.errf("storage.backend", "backend %q is unknown; use file or etcd", s.Backend)
	}
	v.file("storage.encryption_key_file", s.EncryptionKeyFile)
	if e := s.Etcd; e != nil {
		for i, ep := range e.Endpoints {
			if !validEndpoint(ep) {
				v.errf(fmt.Sprintf("storage.etcd.endpoints[%d]", i), "%q is not an etcd endpoint; write HOST:PORT or https://HOST:PORT", ep)
			}
		}
		if (e.CertFile == "") != (e.KeyFile == "") {
			v.errf("storage.etcd", "cert_file and key_file go together; set both for client certificate auth, or neither")
		}
		v.file("storage.etcd.cert_file", e.CertFile)
		v.file("storage.etcd.key_file", e.KeyFile)
		v.file("storage.etcd.ca_file", e.CAFile)
	}
}

func validEndpoint(ep string) bool {
	if strings.Contains(ep, "://") {
		u, err := url.Parse(ep)
		return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
	}
	return addrProblem(ep) == "" && !strings.HasPrefix(ep, ":")
}

// durations reports negative durations anywhere in the schema.
func (v *validator) durations(rv reflect.Value, path string) {
	switch rv.Kind() {
	case reflect.Pointer:
		if !rv.IsNil() {
			v.durations(rv.Elem(), path)
		}
	case reflect.Slice:
		for i := range rv.Len() {
			v.durations(rv.Index(i), path+"["+strconv.Itoa(i)+"]")
		}
	case reflect.Struct:
		fields, names := yamlFields(rv.Type())
		for _, name := range names {
			v.durations(rv.Field(fields[name]), joinPath(path, name))
		}
	case reflect.Int64:
		if rv.Type() == durationType && rv.Int() < 0 {
			v.errf(path, "%s is negative; durations must be zero or more", Duration(rv.Int()))
		}
	}
}
