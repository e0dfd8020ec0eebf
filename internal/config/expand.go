package config

import (
	"fmt"
	"strings"
)

// expand replaces ${NAME}, ${NAME:-default} and ${NAME-default} in s with
// values from lookup, and $$ with a literal $. It follows docker compose:
// ":-" uses the default when NAME is unset or empty, "-" only when unset;
// a default may itself hold ${...}. A $ followed by anything else is kept
// as written, so values such as password hashes need no escaping.
// An unset NAME without a default is an error.
func expand(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := closingBrace(s, i+2)
			if end < 0 {
				return "", fmt.Errorf("%q has ${ without a closing }; write ${NAME}, or $$ for a literal $", s)
			}
			v, err := expandVar(s[i+2:end], lookup)
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			i = end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// closingBrace returns the index of the } that closes a ${ whose body starts
// at from, counting nested ${...}; -1 when there is none.
func closingBrace(s string, from int) int {
	depth := 1
	for i := from; i < len(s); i++ {
		switch {
		case s[i] == '$' && i+1 < len(s) && s[i+1] == '{':
			depth++
			i++
		case s[i] == '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// expandVar resolves the body of one ${...}.
func expandVar(body string, lookup func(string) (string, bool)) (string, error) {
	name, def, op := body, "", ""
	if i := strings.IndexAny(body, ":-"); i >= 0 {
		name = body[:i]
		switch {
		case strings.HasPrefix(body[i:], ":-"):
			op, def = ":-", body[i+2:]
		case body[i] == '-':
			op, def = "-", body[i+1:]
		default:
			return "", fmt.Errorf("${%s} is not supported; write ${NAME}, ${NAME:-default} or ${NAME-default}", body)
		}
	}
	if !validEnvName(name) {
		return "", fmt.Errorf("${%s}: %q is not a variable name; use letters, digits and _, not starting with a digit", body, name)
	}
	v, ok := lookup(name)
	switch {
	case op == ":-" && (!ok || v == ""), op == "-" && !ok:
		return expand(def, lookup)
	case !ok:
		return "", fmt.Errorf("${%s} is not set; set %s in the environment or the env file, or write ${%s:-default}", name, name, name)
	}
	return v, nil
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
		case '0' <= r && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
