package config

import (
	"fmt"
	"path/filepath"
	"strings"
)

// resolvePaths makes every file path in c absolute, taking relative ones
// from the config file's directory (as docker compose does), so the result
// means the same whatever the working directory of later steps. Paths that
// are only names (an exec command "dns-hook" to find on PATH) are kept.
func (c *Config) resolvePaths() error {
	base := "."
	if c.File != "" {
		base = filepath.Dir(c.File)
	}
	base, err := filepath.Abs(base)
	if err != nil {
		return fmt.Errorf("resolve paths relative to %s: %w", c.File, err)
	}
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	all := func(ps []string) {
		for i := range ps {
			abs(&ps[i])
		}
	}
	unix := func(p *string) {
		if rest, ok := strings.CutPrefix(*p, "unix:"); ok && rest != "" {
			abs(&rest)
			*p = "unix:" + rest
		}
	}
	command := func(d *DNS) {
		// Only a command written as a path ("./hook.sh") is the config's;
		// a bare name is looked up on PATH when it runs.
		if d != nil && strings.ContainsRune(d.Command, filepath.Separator) {
			abs(&d.Command)
		}
	}

	abs(&c.DataDir)
	if c.Admin != nil {
		unix(c.Admin)
	}
	all(c.ACME.TrustedRoots)
	command(c.ACME.DNS)
	abs(&c.Storage.EncryptionKeyFile)
	if a := c.AccessLog; a != nil && a.Output != "stdout" && a.Output != "stderr" {
		abs(&a.Output)
	}
	if a := c.Alerts; a != nil && a.Exec != nil && strings.ContainsRune(a.Exec.Command, filepath.Separator) {
		abs(&a.Exec.Command)
	}
	if e := c.Storage.Etcd; e != nil {
		abs(&e.CertFile)
		abs(&e.KeyFile)
		abs(&e.CAFile)
	}
	for i := range c.Sites {
		s := &c.Sites[i]
		if s.TLS != nil {
			abs(&s.TLS.CertFile)
			abs(&s.TLS.KeyFile)
			abs(&s.TLS.KeyPassphraseFile)
		}
		if s.ClientAuth != nil {
			all(s.ClientAuth.CAFiles)
		}
		command(s.DNS)
		if s.BasicAuth != nil {
			abs(&s.BasicAuth.UsersFile)
		}
		for k, f := range s.ErrorPages {
			abs(&f)
			s.ErrorPages[k] = f
		}
		for j := range s.Routes {
			r := &s.Routes[j]
			if r.BasicAuth != nil {
				abs(&r.BasicAuth.UsersFile)
			}
			for k := range r.To {
				unix(&r.To[k])
			}
			if u := r.UpstreamTLS; u != nil {
				all(u.CAFiles)
				abs(&u.ClientCertFile)
				abs(&u.ClientKeyFile)
			}
			if r.Static != nil {
				abs(&r.Static.Root)
			}
		}
	}
	return nil
}
