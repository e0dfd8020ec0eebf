//go:build unix

package integration

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// The signals the tests send that only Unix has. The integration suite
// runs on Linux; these names (and signals_other_test.go) keep the package
// compiling and vetting for every release target.
var (
	sigUSR1 os.Signal = syscall.SIGUSR1
	sigSTOP os.Signal = syscall.SIGSTOP
	sigCONT os.Signal = syscall.SIGCONT
)

// processGone is nil once no process has the ID pid.
func processGone(pid int) error {
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill -0 %d: %v", pid, err)
	}
	return nil
}
