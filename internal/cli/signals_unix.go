//go:build !windows

package cli

import (
	"os"
	"syscall"
)

// reopenSignals reopen the access log file (logrotate's SIGUSR1).
var reopenSignals = []os.Signal{syscall.SIGUSR1}
