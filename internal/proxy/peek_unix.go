//go:build unix

package proxy

import "syscall"

// peerClosed reports whether the upstream closed (or wrote to) an idle
// connection: a non-blocking MSG_PEEK that finds EOF or data. http.Transport
// learns this from its per-connection reader goroutine; one syscall at
// checkout is cheaper. raw must belong to a connection nobody else uses.
// The descriptor is used only inside raw.Control, which keeps it from
// being closed (and its number reused by another socket) meanwhile.
//
// Without this check a POST on a connection the upstream closed while idle
// (uvicorn and Node close after 5 s) would fail with 502: it is not safe to
// resend. So the lean path runs only where this works (see leanSupported).
func peerClosed(raw syscall.RawConn) bool {
	if raw == nil {
		return false
	}
	closed := false
	err := raw.Control(func(fd uintptr) {
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// EAGAIN: open and quiet. Otherwise EOF (n == 0), bytes nobody
		// asked for (a 408, say) or an error: not usable.
		closed = err != syscall.EAGAIN && err != syscall.EINTR
	})
	// Control fails only when the connection is already closed.
	return closed || err != nil
}

// leanSupported: this platform can check pooled connections (peerClosed).
const leanSupported = true
