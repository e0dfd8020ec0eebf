package doctor

import (
	"fmt"
	"strings"
	"time"

	"github.com/tlsgate/tlsgate/internal/pki"
)

// Severity says how bad a Finding is.
type Severity string

const (
	// Error: clients fail (or will fail) to connect; the exit code is 1.
	Error Severity = "error"
	// Warning: works today, but something is weak, missing or about to break.
	Warning Severity = "warning"
	// Info: a fact worth knowing, nothing to fix.
	Info Severity = "info"
)

// Fact is one thing the doctor saw, as a name and a value ("not after",
// "2026-01-02T15:04:05Z"). Facts keep their order.
type Fact struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Finding is one problem (or notable fact) with what was seen and how to
// fix it.
type Finding struct {
	// Code is a stable snake_case identifier for scripts ("name_mismatch").
	Code     string   `json:"code"`
	Severity Severity `json:"severity"`
	// Summary says what is wrong in one plain sentence.
	Summary string `json:"summary"`
	Facts   []Fact `json:"facts,omitempty"`
	// Fix is the one next step: a command to run or a change to make.
	// Empty for Info findings that need nothing.
	Fix string `json:"fix,omitempty"`
}

// Report is the result of Diagnose.
type Report struct {
	// URL is the URL as given.
	URL string `json:"url"`
	// Address is the host:port connected to; ServerName the SNI name sent
	// ("" for an IP address) and VerifyName the name the certificate was
	// checked against.
	Address    string `json:"address"`
	ServerName string `json:"server_name"`
	VerifyName string `json:"verify_name"`
	// RedirectedTo is where an http:// URL redirected; the TLS checks
	// are about that URL.
	RedirectedTo string `json:"redirected_to,omitempty"`
	// Clock is this machine's time when the checks ran.
	Clock time.Time `json:"clock"`
	// TLSVersion, CipherSuite and ALPN describe the handshake, when there was one.
	TLSVersion  string `json:"tls_version,omitempty"`
	CipherSuite string `json:"cipher_suite,omitempty"`
	ALPN        string `json:"alpn,omitempty"`
	// Chain is what the server sent, leaf first.
	Chain    []pki.CertInfo `json:"chain"`
	Findings []Finding      `json:"findings"`
	// Errors and Warnings count the findings of each severity.
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
	// Healthy is true when there is no error (warnings allowed).
	Healthy bool `json:"healthy"`
	// Verdict is a one-line summary.
	Verdict string `json:"verdict"`
}

// finish counts the findings and writes the verdict.
func (r *Report) finish() {
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	if r.Chain == nil {
		r.Chain = []pki.CertInfo{}
	}
	r.Errors, r.Warnings = 0, 0
	var problems []string
	for _, f := range r.Findings {
		switch f.Severity {
		case Error:
			r.Errors++
			problems = append(problems, strings.ReplaceAll(f.Code, "_", " "))
		case Warning:
			r.Warnings++
		}
	}
	r.Healthy = r.Errors == 0
	switch {
	case r.Errors > 0:
		r.Verdict = fmt.Sprintf("%s found: %s", plural(r.Errors, "problem"), strings.Join(problems, ", "))
	case r.Warnings > 0:
		r.Verdict = fmt.Sprintf("healthy, with %s", plural(r.Warnings, "warning"))
	default:
		r.Verdict = "healthy: no problems found"
	}
}

// HasCode reports whether a finding with code is in the report.
func (r *Report) HasCode(code string) bool {
	for _, f := range r.Findings {
		if f.Code == code {
			return true
		}
	}
	return false
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
