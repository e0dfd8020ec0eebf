//go:build !unix

package integration

import (
	"errors"
	"os"
)

// missingSignal stands for a Unix signal this OS lacks: sending it fails
// (os.Process.Signal refuses it), so a test that needs it fails loudly
// rather than passing. The suite runs on Linux; this file only keeps the
// package compiling and vetting for every release target.
type missingSignal string

func (s missingSignal) String() string { return string(s) }
func (missingSignal) Signal()          {}

var (
	sigUSR1 os.Signal = missingSignal("SIGUSR1")
	sigSTOP os.Signal = missingSignal("SIGSTOP")
	sigCONT os.Signal = missingSignal("SIGCONT")
)

// processGone cannot tell here; it says so, failing the caller's wait.
func processGone(int) error {
	return errors.New("checking that a process is gone needs Unix")
}
