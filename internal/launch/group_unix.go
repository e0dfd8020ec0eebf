//go:build unix

package launch

import (
	"os"
	"syscall"
)

// groupAttr puts the child in a new process group whose ID is its PID.
func groupAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// signalGroup sends sig to every process in p's group. After the child has
// been reaped the group may still hold processes it started; the kernel
// keeps the group ID reserved while any of them lives.
func signalGroup(p *os.Process, sig os.Signal) error {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return p.Signal(sig)
	}
	return syscall.Kill(-p.Pid, s)
}
