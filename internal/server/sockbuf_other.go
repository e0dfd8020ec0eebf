//go:build !unix

package server

import "syscall"

// socketBufferSizes is not read on this platform: the sysctl advice is
// Linux's, and quic-go logs its own line where buffers stay small.
func socketBufferSizes(syscall.RawConn) (rcv, snd int, known bool) { return 0, 0, false }
