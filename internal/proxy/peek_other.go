//go:build !unix

package proxy

import "syscall"

// peerClosed cannot look on this platform; the lean path is off here
// (leanSupported), so every request goes through http.Transport.
func peerClosed(syscall.RawConn) bool { return false }

const leanSupported = false
