//go:build !unix

package proxy

// peerClosed cannot look on this platform; the lean path is off here
// (leanSupported), so every request goes through http.Transport.
func peerClosed(fd int) bool { return false }

const leanSupported = false
