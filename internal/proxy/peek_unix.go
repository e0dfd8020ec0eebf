//go:build unix

package proxy

import "syscall"

// peerClosed reports whether the upstream closed (or wrote to) an idle
// connection: a non-blocking MSG_PEEK that finds EOF or data. http.Transport
// learns this from its per-connection reader goroutine; one syscall at
// checkout is cheaper. fd must belong to a connection nobody else uses.
//
// Without this check a POST on a connection the upstream closed while idle
// (uvicorn and Node close after 5 s) would fail with 502: it is not safe to
// resend. So the lean path runs only where this works (see leanSupported).
func peerClosed(fd int) bool {
	if fd < 0 {
		return false
	}
	var b [1]byte
	_, _, err := syscall.Recvfrom(fd, b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	// EAGAIN: open and quiet. Otherwise EOF (n == 0), bytes nobody asked
	// for (a 408, say) or an error: not usable.
	return err != syscall.EAGAIN && err != syscall.EINTR
}

// leanSupported: this platform can check pooled connections (peerClosed).
const leanSupported = true
