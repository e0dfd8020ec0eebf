package config

import (
	"errors"
	"fmt"
	"strings"
)

// Redirect placeholders (RedirectPart.Placeholder).
const (
	PlaceholderHost  = "host"  // the request's Host, as matched against the site's hosts
	PlaceholderPath  = "path"  // the escaped request path after the route's prefix
	PlaceholderURI   = "uri"   // the escaped request path and query, as the client sent them
	PlaceholderQuery = "query" // the raw query string, without "?"
)

// RedirectPart is one piece of a parsed redirect template: literal text, or
// (when Placeholder is set) a value taken from the request.
type RedirectPart struct {
	Literal     string
	Placeholder string
}

// ParseRedirect parses a redirect target such as
// "https://{host}/new/{path}" into its parts. It refuses templates that
// could let a client choose where the redirect goes (an open redirect):
//
//   - the target is absolute (http:// or https://) or a path starting with
//     a literal "/" followed by a literal character other than "/" or "\";
//     "/{path}" could become "//evil.example" once expanded;
//   - the authority (between "://" and the first "/", "?" or "#") holds only
//     literal text and {host}: {path}, {uri} and {query} come from the
//     client unchecked ({uri} may end it: it always starts with "/"), {host} was matched against the site's hosts (a site
//     whose hosts do not bound it is refused by validation, see hostBound).
func ParseRedirect(to string) ([]RedirectPart, error) {
	parts, err := splitTemplate(to)
	if err != nil {
		return nil, err
	}
	if len(parts) == 0 || parts[0].Placeholder != "" {
		return nil, errors.New("the target must start with https://, http:// or a literal /path")
	}
	lit := parts[0].Literal
	scheme, rest, absolute := strings.Cut(lit, "://")
	if !absolute {
		if lit[0] != '/' {
			return nil, errors.New("the target must start with https://, http:// or a literal /path")
		}
		if len(lit) < 2 || lit[1] == '/' || lit[1] == '\\' {
			return nil, errors.New("a relative target needs a literal first path segment (\"/{path}\" could send clients to //another-host); write https://{host}/{path} instead")
		}
		return parts, nil
	}
	if scheme != "http" && scheme != "https" {
		return nil, fmt.Errorf("scheme %q is not http or https", scheme)
	}
	authority, done := cutAuthority(rest)
	for _, p := range parts[1:] {
		if done {
			break
		}
		if p.Placeholder == "" {
			var more string
			more, done = cutAuthority(p.Literal)
			authority += more
			continue
		}
		if p.Placeholder == PlaceholderURI {
			break // {uri} always starts with "/" (see route.Redirect), ending the authority
		}
		if p.Placeholder != PlaceholderHost {
			return nil, fmt.Errorf("{%s} is in the host part of the target, so a client could choose where the redirect goes; put it after a literal /", p.Placeholder)
		}
		authority += "{host}"
	}
	if authority == "" || strings.ContainsAny(authority, "\\@") {
		return nil, errors.New("the target needs a host after :// (literal or {host}), without \\ or @")
	}
	return parts, nil
}

// cutAuthority returns the part of s before the first "/", "?" or "#", and
// whether one was found (the authority ends there).
func cutAuthority(s string) (string, bool) {
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		return s[:i], true
	}
	return s, false
}

// splitTemplate cuts s into literals and {name} placeholders.
func splitTemplate(s string) ([]RedirectPart, error) {
	var parts []RedirectPart
	for s != "" {
		i := strings.IndexAny(s, "{}")
		if i < 0 {
			parts = append(parts, RedirectPart{Literal: s})
			break
		}
		if s[i] == '}' {
			return nil, errors.New("a } without its {; placeholders are {host}, {path}, {uri} and {query}")
		}
		if i > 0 {
			parts = append(parts, RedirectPart{Literal: s[:i]})
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return nil, errors.New("a { without its }; placeholders are {host}, {path}, {uri} and {query}")
		}
		name := s[i+1 : i+end]
		switch name {
		case PlaceholderHost, PlaceholderPath, PlaceholderURI, PlaceholderQuery:
		default:
			return nil, fmt.Errorf("{%s} is not a placeholder; use {host}, {path}, {uri} or {query}", name)
		}
		parts = append(parts, RedirectPart{Placeholder: name})
		s = s[i+end+1:]
	}
	if strings.ContainsAny(strings.Join(literals(parts), ""), " \t\r\n") {
		return nil, errors.New("the target contains spaces or line breaks; escape them as %20")
	}
	return parts, nil
}

func literals(parts []RedirectPart) []string {
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		out = append(out, p.Literal)
	}
	return out
}

// usesHost reports whether a parsed template takes {host} from the request.
func usesHost(parts []RedirectPart) bool {
	for _, p := range parts {
		if p.Placeholder == PlaceholderHost {
			return true
		}
	}
	return false
}

// hostBound reports whether every Host a site answers is bounded by its
// hosts list: a catch-all "*" lets the client's Host through as it is.
func hostBound(hosts []string) bool {
	for _, h := range hosts {
		if h == CatchAllHost {
			return false
		}
	}
	return true
}
