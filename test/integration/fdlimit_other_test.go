//go:build !unix

package integration

import "testing"

// raiseFDLimit: only Unix has RLIMIT_NOFILE.
func raiseFDLimit(t *testing.T, n uint64) {}
