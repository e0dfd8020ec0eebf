package server

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestUnixSocketNeverWithUmaskMode: the admin socket is never created at its
// path (where the umask's mode would show for a moment before a chmod); it
// appears there by rename, already 0600.
func TestUnixSocketNeverWithUmaskMode(t *testing.T) {
	dir := t.TempDir()
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	if err != nil {
		t.Skipf("inotify: %v", err)
	}
	defer syscall.Close(fd)
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_CREATE|syscall.IN_MOVED_TO); err != nil {
		t.Fatal(err)
	}
	ln, err := listen("admin", "unix:"+filepath.Join(dir, "admin.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if got := ln.Addr().String(); got != filepath.Join(dir, "admin.sock") {
		t.Errorf("Addr() = %q; want the socket's path", got)
	}
	fi, err := os.Stat(filepath.Join(dir, "admin.sock"))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("socket mode %o; want 600", perm)
	}
	buf := make([]byte, 64*1024)
	n, _ := syscall.Read(fd, buf)
	for b := bytes.NewReader(buf[:max(n, 0)]); b.Len() > 0; {
		var ev syscall.InotifyEvent
		if err := binary.Read(b, binary.NativeEndian, &ev); err != nil {
			t.Fatal(err)
		}
		name := make([]byte, ev.Len)
		b.Read(name)
		if string(bytes.TrimRight(name, "\x00")) == "admin.sock" && ev.Mask&syscall.IN_CREATE != 0 {
			t.Errorf("the socket was created at its path, with the umask's mode, before its chmod")
		}
	}
	ln.Close()
	if _, err := os.Lstat(filepath.Join(dir, "admin.sock")); !os.IsNotExist(err) {
		t.Errorf("socket left behind after Close: %v", err)
	}
}
