package testproc

import (
	"errors"
	"os/exec"
)

// ExitCode is the exit status in a Wait error: 0 for nil, -1 when the
// process did not exit normally (killed by a signal) or never ran.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
