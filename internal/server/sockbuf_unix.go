//go:build unix

package server

import "syscall"

// socketBufferSizes reads a socket's receive and send buffer sizes.
func socketBufferSizes(rc syscall.RawConn) (rcv, snd int, known bool) {
	err := rc.Control(func(fd uintptr) {
		rcv, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
		snd, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF)
	})
	return rcv, snd, err == nil
}
