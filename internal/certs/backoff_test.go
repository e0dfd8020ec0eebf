package certs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3/acme"
)

func TestBackoffDelay(t *testing.T) {
	rateLimited := acme.Problem{Type: "urn:ietf:params:acme:error:rateLimited"}
	tests := []struct {
		name     string
		failures int
		err      error
		want     time.Duration
	}{
		{"first failure", 1, errors.New("x"), time.Minute},
		{"doubles", 3, errors.New("x"), 4 * time.Minute},
		{"capped at a day", 40, errors.New("x"), 24 * time.Hour},
		// A rate-limit answer must not be retried within the hour.
		{"rate limited", 1, fmt.Errorf("order: %w", rateLimited), time.Hour},
		{"rate limited late", 20, rateLimited, 24 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := backoffDelay(tc.failures, tc.err); got != tc.want {
				t.Errorf("backoffDelay(%d) = %v; want %v", tc.failures, got, tc.want)
			}
		})
	}
}

func TestHint(t *testing.T) {
	tests := []struct {
		err  string
		want string // a word the hint must contain; "" for no hint
	}{
		{"HTTP 400 urn:ietf:params:acme:error:dns - NXDOMAIN looking up A for app.example.com", "DNS"},
		{"urn:ietf:params:acme:error:connection - Timeout during connect (likely firewall problem)", "ports 80"},
		{"creating new order: fetching new nonce from server: performing request: dial tcp: connection refused", "could not reach the ACME server"},
		{"HTTP 429 urn:ietf:params:acme:error:rateLimited - too many certificates", "rate limit"},
		{"urn:ietf:params:acme:error:externalAccountRequired", "External Account Binding"},
		{"tls: failed to verify certificate: x509: certificate signed by unknown authority", "trusted_roots"},
		{"something nobody has seen", ""},
		// dns-01 failures must not get the port 80/443 advice.
		{"dns-01: _acme-challenge.x.test not visible at 127.0.0.1:53 after 2m: connection refused", "TXT record did not show up"},
		{"urn:ietf:params:acme:error:unauthorized - No TXT records found for DNS challenge", "_acme-challenge TXT record"},
		{"the TSIG key was refused: check tsig_key_name (server said BADSIG)", ""},
	}
	for _, tc := range tests {
		got := Hint(errors.New(tc.err))
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("Hint(%q) = %q; want it to mention %q", tc.err, got, tc.want)
		}
	}
	if got := Hint(fmt.Errorf("x: %w", errBackoff)); !strings.Contains(got, "renew --force") {
		t.Errorf("backoff hint %q does not say how to try now", got)
	}
}

// TestFailureRecordRoundTrip checks the persisted backoff survives a
// "restart" (a new reader of the same storage) and is keyed by sorted names.
func TestFailureRecordRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := &certmagic.FileStorage{Path: t.TempDir()}
	k1 := failureKey("ca-dir", []string{"b.example.com", "a.example.com"})
	k2 := failureKey("ca-dir", []string{"a.example.com", "b.example.com"})
	if k1 != k2 {
		t.Fatalf("failure keys depend on name order: %q vs %q", k1, k2)
	}
	next := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	data := fmt.Sprintf(`{"failures":3,"last_error":"boom","next_attempt":%q}`, next.Format(time.RFC3339))
	if err := s.Store(ctx, k1, []byte(data)); err != nil {
		t.Fatal(err)
	}
	rec, err := loadFailure(ctx, s, k2)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Failures != 3 || rec.LastError != "boom" || !rec.NextAttempt.Equal(next) {
		t.Errorf("got %+v", rec)
	}
	if rec, err := loadFailure(ctx, s, failureKey("ca-dir", []string{"other"})); err != nil || rec.Failures != 0 {
		t.Errorf("missing record: %+v, %v; want zero, nil", rec, err)
	}
}
