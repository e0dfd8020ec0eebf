//go:build windows

package launch

import (
	"os"
	"syscall"
)

// groupAttr starts the child in a new process group. Windows has no
// SIGTERM to deliver to it, so signalGroup ends the child itself.
func groupAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}

// signalGroup ends the child: Windows cannot send it a catchable signal,
// and processes it started are not killed with it.
func signalGroup(p *os.Process, _ os.Signal) error { return p.Kill() }
