package testproc

import (
	"testing"
	"time"
)

// pollEvery is how often Eventually asks again: short against the seconds a
// test waits, long enough not to spin.
const pollEvery = 20 * time.Millisecond

// Eventually calls f until it returns nil, and fails the test with what and
// f's last error when d has passed. f may itself call t.Fatal to stop early
// (a child process that exited): it runs on the test's goroutine.
func Eventually(t testing.TB, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, d, err)
		}
		time.Sleep(pollEvery)
	}
}
