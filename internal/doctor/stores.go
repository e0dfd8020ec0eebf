package doctor

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/tlsgate/tlsgate/internal/pki"
	"github.com/tlsgate/tlsgate/internal/truststore"
)

// Store kinds in StoreResult.Kind.
const (
	StoreSystem = "system"
	StoreNSS    = "nss"
	StorePython = "python"
	StoreEnv    = "ssl_cert_file"
)

// StoreResult is one client-side trust store and the roots it trusts.
type StoreResult struct {
	// Kind is one of the Store* constants; Name says what it is and who
	// uses it ("system store (curl, ...)"), to follow "the" in a sentence.
	Kind, Name string
	// Path is the bundle file or NSS database directory.
	Path string
	// Certs are the roots the store trusts for TLS servers.
	Certs []*x509.Certificate
	// Absent: the store does not exist here (no file, no database).
	Absent bool
	// Err says why the store could not be read.
	Err error
}

// Has reports whether the store trusts anchor, or (anchor nil) a
// certificate that signed top.
func (s StoreResult) Has(anchor, top *x509.Certificate) bool {
	for _, c := range s.Certs {
		if anchor != nil && sameCert(c, anchor) {
			return true
		}
		if anchor == nil && top != nil && bytes.Equal(top.RawIssuer, c.RawSubject) && top.CheckSignatureFrom(c) == nil {
			return true
		}
	}
	return false
}

// lookup reads every store. Failures are recorded, never fatal.
func (s TrustStores) lookup(ctx context.Context, timeout time.Duration) []StoreResult {
	sys := s.systemBundle()
	out := []StoreResult{readBundle(StoreSystem, "system store (curl, wget, Go, OpenSSL, Python's ssl)", sys)}
	out = append(out, s.readNSS(ctx, timeout)...)
	if p := s.getenv("SSL_CERT_FILE"); p != "" {
		out = append(out, readBundle(StoreEnv, "SSL_CERT_FILE (OpenSSL, Python's ssl and httpx, Go)", p))
	}
	if p := s.getenv("REQUESTS_CA_BUNDLE"); p != "" {
		out = append(out, readBundle(StorePython, "REQUESTS_CA_BUNDLE (Python requests)", p))
	} else if p, err := s.certifiPath(ctx, timeout); err == nil {
		name := "certifi bundle (Python requests)"
		if filepath.Clean(p) == filepath.Clean(sys) {
			name = "certifi bundle (Python requests; Debian's certifi is the system store)"
		}
		out = append(out, readBundle(StorePython, name, p))
	} else {
		out = append(out, StoreResult{Kind: StorePython, Name: "certifi bundle (Python requests)", Absent: true})
	}
	return out
}

func readBundle(kind, name, path string) StoreResult {
	r := StoreResult{Kind: kind, Name: name, Path: path}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		r.Absent = true
		return r
	}
	if err != nil {
		r.Err = err
		return r
	}
	r.Certs = pki.LenientCertificatesPEM(data)
	return r
}

func (s TrustStores) certifiPath(ctx context.Context, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, s.python(), "-c", "import certifi; print(certifi.where())").Output()
	if err != nil {
		return "", fmt.Errorf("%s cannot tell certifi's bundle: %w", s.python(), err)
	}
	return strings.TrimSpace(string(out)), nil
}

// readNSS reads every NSS database: one result each, or one Absent result
// when there is none.
func (s TrustStores) readNSS(ctx context.Context, timeout time.Duration) []StoreResult {
	const name = "NSS database (Chromium, and Firefox when it uses it)"
	dbs := s.nssDatabases()
	if len(dbs) == 0 {
		return []StoreResult{{Kind: StoreNSS, Name: name, Path: s.NSSDir, Absent: true}}
	}
	var out []StoreResult
	for _, db := range dbs {
		out = append(out, s.readNSSDB(ctx, timeout, name, db))
	}
	return out
}

// readNSSDB lists one NSS database with certutil and reads each certificate
// whose SSL trust flags include C (trusted CA).
func (s TrustStores) readNSSDB(ctx context.Context, timeout time.Duration, name string, db truststore.NSSDatabase) StoreResult {
	r := StoreResult{Kind: StoreNSS, Name: name, Path: db.Dir}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	list, err := exec.CommandContext(ctx, s.certutil(), "-L", "-d", db.Arg).Output()
	if err != nil {
		r.Err = fmt.Errorf("certutil -L -d %s: %w", db.Arg, err)
		return r
	}
	for _, nick := range trustedNicknames(list) {
		pemOut, err := exec.CommandContext(ctx, s.certutil(), "-L", "-d", db.Arg, "-n", nick, "-a").Output()
		if err != nil {
			continue
		}
		r.Certs = append(r.Certs, pki.LenientCertificatesPEM(pemOut)...)
	}
	return r
}

// trustedNicknames parses `certutil -L` output: a nickname, spaces, then
// the trust flags "SSL,S/MIME,code" (e.g. "CT,C,C").
func trustedNicknames(out []byte) []string {
	var nicks []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " ")
		i := strings.LastIndexAny(line, " \t")
		if i < 0 {
			continue
		}
		flags := line[i+1:]
		if strings.Count(flags, ",") != 2 {
			continue // header lines
		}
		ssl, _, _ := strings.Cut(flags, ",")
		if strings.ContainsAny(ssl, "CP") {
			nicks = append(nicks, strings.TrimSpace(line[:i]))
		}
	}
	return nicks
}
