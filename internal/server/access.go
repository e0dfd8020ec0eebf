package server

import (
	"cmp"
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/tlsgate/tlsgate/internal/access"
	"github.com/tlsgate/tlsgate/internal/config"
)

// compileAccess wraps route j of site i (h is its action behind CORS) in
// the access-control middlewares its config asks for, innermost first:
// auth, then rate limit, then IP lists, so a request meets them in the
// order IP lists → rate limit → auth → CORS → action. Each key set on the
// route replaces the site's.
func (s *Server) compileAccess(cfg *config.Config, i, j int, h http.Handler, trusted []netip.Prefix) (http.Handler, error) {
	sc, rc := cfg.Sites[i], cfg.Sites[i].Routes[j]
	// at names where a key was written: on the route when it set it, else the site.
	at := func(routeSet bool, key string) string {
		if routeSet {
			return fmt.Sprintf("sites[%d].routes[%d].%s", i, j, key)
		}
		return fmt.Sprintf("sites[%d].%s", i, key)
	}
	fail := func(path string, err error) error {
		return fmt.Errorf("%s: %s: %w", cfg.Position(path), path, err)
	}
	preflight := cmp.Or(rc.CORS, sc.CORS) != nil

	if b := cmp.Or(rc.BasicAuth, sc.BasicAuth); b != nil {
		users := map[string][]byte{}
		if b.UsersFile != "" {
			fromFile, err := access.ReadHtpasswd(b.UsersFile)
			if err != nil {
				return nil, fail(at(rc.BasicAuth != nil, "basic_auth.users_file"), err)
			}
			users = fromFile
		}
		for name, hash := range b.Users {
			users[name] = []byte(hash)
		}
		h = access.BasicAuth(h, access.BasicAuthOptions{
			Realm:             b.Realm,
			Users:             maps.Clone(users),
			KeepAuthorization: b.KeepAuthorization,
			PassPreflight:     preflight,
		})
	}
	if f := cmp.Or(rc.ForwardAuth, sc.ForwardAuth); f != nil {
		h = access.ForwardAuth(h, access.ForwardAuthOptions{
			URL:            f.URL,
			CopyHeaders:    f.CopyHeaders,
			Timeout:        time.Duration(f.Timeout),
			TrustedProxies: trusted,
			PassPreflight:  preflight,
			Transport:      s.authTransport,
			Logger:         s.logger.With("component", "forward_auth"),
		})
	}

	if r := cmp.Or(rc.RateLimit, sc.RateLimit); r != nil {
		header, _ := strings.CutPrefix(r.Key, config.RateKeyHeaderPrefix)
		h = access.RateLimit(h, access.RateLimitOptions{
			Requests:       r.Requests,
			Per:            time.Duration(r.Per),
			Burst:          r.Burst,
			Header:         header, // "" for client_ip
			TrustedProxies: trusted,
		})
	}

	allow, deny := sc.AllowIPs, sc.DenyIPs
	allowAt, denyAt := at(false, "allow_ips"), at(false, "deny_ips")
	if rc.AllowIPs != nil {
		allow, allowAt = rc.AllowIPs, at(true, "allow_ips")
	}
	if rc.DenyIPs != nil {
		deny, denyAt = rc.DenyIPs, at(true, "deny_ips")
	}
	if len(allow) > 0 || len(deny) > 0 {
		a, err := access.ParseIPList(allow)
		if err != nil {
			return nil, fail(allowAt, err)
		}
		d, err := access.ParseIPList(deny)
		if err != nil {
			return nil, fail(denyAt, err)
		}
		h = access.IPFilter(h, access.IPFilterOptions{Allow: a, Deny: d, TrustedProxies: trusted})
	}
	return h, nil
}
