//go:build unix

package h1_test

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time (user and system) this process has used: the
// benchmarks report it per request, which a busy machine disturbs less
// than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
