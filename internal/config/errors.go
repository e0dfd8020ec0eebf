package config

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"strings"
)

// String formats p as FILE:LINE:COL. Parts that are unknown are left out:
// "FILE" when there is no line, "" for the zero Pos.
func (p Pos) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		if b.Len() > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strconv.Itoa(p.Line))
		if p.Col > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(p.Col))
		}
	}
	return b.String()
}

// IsZero reports whether p says nothing about a place.
func (p Pos) IsZero() bool { return p == Pos{} }

// Error is one problem in a config file. Load and Validate return them
// (several joined with errors.Join); use Errors to get them back.
type Error struct {
	// Pos is where the problem was written; zero for a Config built in code.
	Pos Pos
	// Path is the key path, such as "sites[0].routes[1].to[0]"; "" for the
	// file as a whole.
	Path string
	// Msg says what is wrong and, after a semicolon, what to do.
	Msg string
}

// Error formats e as "FILE:LINE:COL: key.path: what is wrong; what to do".
func (e *Error) Error() string {
	var b strings.Builder
	if s := e.Pos.String(); s != "" {
		b.WriteString(s)
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors returns every *Error in err, which may be one *Error or several
// joined with errors.Join (as Load and Validate return them). Errors that are
// not config errors (a file that cannot be read) are left out.
func Errors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		var e *Error
		switch x := err.(type) {
		case nil:
		case *Error:
			out = append(out, x)
		case interface{ Unwrap() []error }:
			for _, inner := range x.Unwrap() {
				walk(inner)
			}
		default:
			if errors.As(err, &e) {
				out = append(out, e)
			}
		}
	}
	walk(err)
	return out
}

// joinSorted joins errs in file order, so a long list reads top to bottom.
// It returns nil when errs is empty.
func joinSorted(errs []error) error {
	slices.SortStableFunc(errs, func(a, b error) int {
		pa, pb := errPos(a), errPos(b)
		if pa.Line == 0 || pb.Line == 0 {
			return cmp.Compare(pb.Line, pa.Line) // unplaced errors last
		}
		return cmp.Or(cmp.Compare(pa.Line, pb.Line), cmp.Compare(pa.Col, pb.Col))
	})
	return errors.Join(errs...)
}

func errPos(err error) Pos {
	var e *Error
	if errors.As(err, &e) {
		return e.Pos
	}
	return Pos{}
}

// suggest returns the known key closest to key, if it is close enough to
// be a typo ("cert_fil" → "cert_file").
func suggest(key string, known []string) string {
	best, bestDist := "", len(key)/3+2
	for _, k := range known {
		if d := editDistance(strings.ToLower(key), k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
