package proxy

import (
	"syscall"
	"unsafe"
)

// peerClosed reports whether the upstream closed (or wrote to) an idle
// connection: a non-blocking MSG_PEEK that finds EOF or data. http.Transport
// learns this from its per-connection reader goroutine; one syscall at
// checkout is cheaper. fd must belong to a connection nobody else uses.
func peerClosed(fd int) bool {
	if fd < 0 {
		return false
	}
	var b [1]byte
	_, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	// EAGAIN: open and quiet. Otherwise EOF (n == 0), bytes nobody asked
	// for (a 408, say) or an error: not usable.
	return errno != syscall.EAGAIN && errno != syscall.EINTR
}
