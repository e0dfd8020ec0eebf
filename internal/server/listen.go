package server

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// listen opens a listener for one role and turns the errors new users hit
// into what to do about them.
func listen(role Role, addr string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		return listenUnix(role, path)
	}
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	key := "listen." + string(role)
	if role == RoleAdmin {
		key = "admin"
	}
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("%s address %s is already in use by another program (another tlsgate, nginx, a dev server?); stop it or set %s to a free address", role, addr, key)
	case errors.Is(err, syscall.EACCES):
		return nil, fmt.Errorf("no permission to listen on %s: ports below 1024 need root or the capability: sudo setcap cap_net_bind_service=+ep $(command -v tlsgate); or use a high port (%s: \":8443\", or --https-port/--http-port with tlsgate proxy)", addr, key)
	default:
		return nil, fmt.Errorf("listen %s on %s: %w", role, addr, err)
	}
}

// listenUnix listens on a unix socket readable and writable by the owner
// only, replacing a stale socket file left by a previous run.
func listenUnix(role Role, path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s socket %s: a file that is not a socket is in the way; remove it or choose another path", role, path)
		}
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s socket %s is in use by a running program (another tlsgate?); stop it or choose another path", role, path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
		}
	}
	return listenPrivate(role, path)
}

// listenPrivate binds the socket inside a fresh 0700 directory beside path,
// makes it 0600 and only then renames it to path: the socket never exists at
// path with the umask's mode, not even for a moment.
func listenPrivate(role Role, path string) (net.Listener, error) {
	dir, err := os.MkdirTemp(filepath.Dir(path), ".tlsgate-sock-")
	if err != nil {
		return nil, fmt.Errorf("listen %s on unix socket %s: %w", role, path, err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("listen %s on unix socket %s: %w", role, path, err)
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false) // it would unlink tmp; unixListener removes path
	if err := os.Chmod(tmp, 0o600); err != nil {
		ul.Close()
		return nil, fmt.Errorf("restrict %s socket %s: %w", role, path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		ul.Close()
		return nil, fmt.Errorf("listen %s on unix socket %s: %w", role, path, err)
	}
	return &unixListener{UnixListener: ul, path: path}, nil
}

// unixListener removes its socket file when closed, as net.UnixListener
// does for the path it was bound to.
type unixListener struct {
	*net.UnixListener
	path string
	once sync.Once
}

// Addr is the path the socket is reachable at, not the one it was bound to.
func (l *unixListener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }

func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() { os.Remove(l.path) })
	return err
}
