package doctor

import (
	"crypto/x509"
	"fmt"
	"path/filepath"
	"strings"
)

// checkStores says, for the root the chain leads to, which client-side
// stores trust it: "works in curl but not in my app" is usually this.
func checkStores(o *Observation) []Finding {
	h := o.leaf()
	if h == nil || o.Trust == nil || len(o.Stores) == 0 {
		return nil
	}
	t := o.Trust
	top := h.Certs[len(h.Certs)-1]
	if n := len(t.Missing); n > 0 {
		top = t.Missing[n-1]
	}
	rootName := fmt.Sprintf("the issuer %q", issuerName(top))
	if t.Anchor != nil {
		rootName = "the root " + certDesc(t.Anchor)
	}
	var out []Finding
	for _, s := range mergeStores(o.Stores) {
		out = append(out, o.storeFinding(s, t, top, rootName))
	}
	return out
}

// mergeStores folds stores that are the same file (SSL_CERT_FILE and
// certifi often point at the system bundle) into the first of them, so
// each file is judged once; the name lists every user.
func mergeStores(stores []StoreResult) []StoreResult {
	var out []StoreResult
	at := map[string]int{}
	for _, s := range stores {
		key := filepath.Clean(s.Path)
		if i, ok := at[key]; ok && s.Path != "" {
			out[i].Name += ", also used as " + s.Name
			continue
		}
		at[key] = len(out)
		out = append(out, s)
	}
	return out
}

func (o *Observation) storeFinding(s StoreResult, t *TrustResult, top *x509.Certificate, rootName string) Finding {
	where := "the " + s.Name
	if s.Path != "" {
		where += " at " + s.Path
	}
	switch {
	case s.Err != nil:
		return Finding{Code: "store_unreadable_" + s.Kind, Severity: Info,
			Summary: fmt.Sprintf("Could not read %s.", where), Facts: []Fact{{"error", s.Err.Error()}}}
	case s.Absent:
		return Finding{Code: "store_absent_" + s.Kind, Severity: Info,
			Summary: fmt.Sprintf("No %s found; nothing to check there.", s.Name)}
	case s.Has(t.Anchor, top):
		return Finding{Code: "root_in_" + s.Kind, Severity: Info,
			Summary: fmt.Sprintf("%s is in %s.", upperFirst(rootName), where)}
	}
	return Finding{Code: "root_not_in_" + s.Kind, Severity: Warning,
		Summary: fmt.Sprintf("%s is not in %s, so clients that use it fail.", upperFirst(rootName), where),
		Fix:     o.storeFix(s, t)}
}

// storeFix is the one command that puts the root into store s.
func (o *Observation) storeFix(s StoreResult, t *TrustResult) string {
	if t.LocalCA {
		dataDir := filepath.Dir(filepath.Dir(t.RootPath))
		switch s.Kind {
		case StoreSystem:
			return fmt.Sprintf("`sudo tlsgate ca trust --stores system --data-dir %s`", dataDir)
		case StoreNSS:
			return "`tlsgate ca trust --stores nss" + o.opts.DataDirArg + "`"
		default:
			return "`eval \"$(tlsgate ca env" + o.opts.DataDirArg + ")\"` (points SSL_CERT_FILE and REQUESTS_CA_BUNDLE at a bundle with the local root)"
		}
	}
	root := "root.pem"
	prefix := ""
	if t.Anchor != nil && o.opts.RootsFile != "" && t.AnchorFrom == t.Roots {
		root = o.opts.RootsFile
	} else if t.SelfSigned {
		prefix = fmt.Sprintf("Save the server's certificate (`openssl s_client -connect %s -servername %s </dev/null | openssl x509 > root.pem`), then: ",
			o.Target.Address, o.Target.VerifyName)
	} else if t.Anchor == nil || t.AnchorFrom != t.Roots {
		prefix = "Get the CA's root certificate as root.pem (from whoever runs the CA), then: "
	}
	switch s.Kind {
	case StoreSystem:
		if strings.HasPrefix(s.Path, "/etc/pki/") {
			return prefix + fmt.Sprintf("`sudo cp %s /etc/pki/ca-trust/source/anchors/ && sudo update-ca-trust`", root)
		}
		return prefix + fmt.Sprintf("`sudo cp %s /usr/local/share/ca-certificates/my-ca.crt && sudo update-ca-certificates`", root)
	case StoreNSS:
		return prefix + fmt.Sprintf("`certutil -d sql:%s -A -t C,, -n my-ca -i %s`", s.Path, root)
	}
	return prefix + fmt.Sprintf("`cat %s %s > ~/ca-bundle.pem && export REQUESTS_CA_BUNDLE=~/ca-bundle.pem SSL_CERT_FILE=~/ca-bundle.pem`",
		o.opts.Stores.systemBundle(), root)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
