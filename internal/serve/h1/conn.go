// Package h1 is tlsgate's HTTP/1.1 connection loop: requests are parsed with
// net/http's own parser (http.ReadRequest, so it is exactly as strict), the
// handler runs on the connection goroutine, no goroutine reads in the
// background unless a request is still running after watchDelay, and the
// bufio buffers go back to a pool while the connection is idle.
package h1

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Options are shared by every connection of a listener; see serve.Server.
type Options struct {
	Handler           http.Handler
	MaxHeaderBytes    int           // request line + header block; 0 means http.DefaultMaxHeaderBytes
	ReadHeaderTimeout time.Duration // first byte of a request to the end of its header block
	IdleTimeout       time.Duration // no request for this long between requests: close
	Logger            *slog.Logger
	// OnState is told Active when a request starts, Idle when it ends and
	// Hijacked when a handler takes the connection over.
	OnState func(http.ConnState)
}

// bufSize is the size of the pooled read and write buffers (net/http's).
const bufSize = 4 << 10

// watchDelay is how long a handler runs before a read starts watching for
// the client going away (which cancels r.Context()); shorter requests
// never pay for that goroutine.
const watchDelay = 50 * time.Millisecond

// maxPostHandlerReadBytes is how much of an unread request body is
// discarded to keep the connection (net/http's figure); more closes it.
const maxPostHandlerReadBytes = 256 << 10

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, bufSize) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, bufSize) }}
)

// Conn is one HTTP/1.1 connection.
type Conn struct {
	c        net.Conn
	opts     *Options
	tlsState *tls.ConnectionState
	remote   string

	cr connReader
	cw connWriter
	br *bufio.Reader // nil while idle
	bw *bufio.Writer // nil while idle

	shutdown atomic.Bool
	idle     atomic.Bool // waiting for the first byte of a request
	hijacked bool

	rec     []byte // the header block being read (see readRequest)
	dateBuf [len(http.TimeFormat)]byte
	dateSec int64  // the second dateBuf holds
	hbuf    []byte // the response header block, reused
	clenBuf [20]byte

	// watch: the background read for a long-running request.
	wmu       sync.Mutex
	wtimer    *time.Timer
	wActive   bool // a handler is running
	wBodyDone bool // its body is at EOF (or it had none)
	wWanted   bool // watchDelay passed
	wReading  bool
	wCancel   context.CancelFunc
	wg        sync.WaitGroup
}

// NewConn prepares c (a *tls.Conn after its handshake, or a plain
// connection) to be served with opts.
func NewConn(c net.Conn, opts *Options) *Conn {
	cn := &Conn{c: c, opts: opts, remote: c.RemoteAddr().String()}
	if tc, ok := c.(*tls.Conn); ok {
		st := tc.ConnectionState()
		cn.tlsState = &st
	}
	cn.cr.c = cn
	cn.cw.c = cn
	return cn
}

// date is the Date field for now, formatted once a second.
func (c *Conn) date() []byte {
	now := time.Now()
	if sec := now.Unix(); sec != c.dateSec {
		c.dateSec = sec
		now.UTC().AppendFormat(c.dateBuf[:0], http.TimeFormat)
	}
	return c.dateBuf[:]
}

// Shutdown asks the connection to end: now if it waits for a request,
// else after the current response (which says Connection: close).
func (c *Conn) Shutdown() {
	c.shutdown.Store(true)
	if c.idle.Load() {
		c.c.Close()
	}
}

// Hijacked reports whether a handler took the connection over.
func (c *Conn) Hijacked() bool { return c.hijacked }

func (c *Conn) logger() *slog.Logger {
	if c.opts.Logger != nil {
		return c.opts.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (c *Conn) setState(s http.ConnState) {
	if c.opts.OnState != nil {
		c.opts.OnState(s)
	}
}

func (c *Conn) maxHeaderBytes() int64 {
	n := c.opts.MaxHeaderBytes
	if n <= 0 {
		n = http.DefaultMaxHeaderBytes
	}
	return int64(n) + 4096 // net/http's slack (initialReadLimitSize)
}

func (c *Conn) getBuffers() {
	if c.br == nil {
		c.br = readerPool.Get().(*bufio.Reader)
		c.br.Reset(&c.cr)
	}
	if c.bw == nil {
		c.bw = writerPool.Get().(*bufio.Writer)
		c.bw.Reset(&c.cw)
	}
}

func (c *Conn) releaseBuffers() {
	if c.br != nil && c.br.Buffered() == 0 {
		c.br.Reset(nil)
		readerPool.Put(c.br)
		c.br = nil
	}
	if c.bw != nil && c.bw.Buffered() == 0 {
		c.bw.Reset(nil)
		writerPool.Put(c.bw)
		c.bw = nil
	}
}

// Serve reads and answers requests until the connection ends or a handler
// hijacks it. Request contexts derive from ctx.
func (c *Conn) Serve(ctx context.Context) error {
	defer func() {
		if !c.hijacked {
			c.releaseBuffers()
		}
	}()
	var lastMethod string
	first := true
	for {
		// Wait for the first byte without buffers.
		if first {
			first = false
			if d := c.opts.ReadHeaderTimeout; d > 0 {
				c.c.SetReadDeadline(time.Now().Add(d))
			}
			if c.br == nil || c.br.Buffered() == 0 {
				if err := c.waitByte(); err != nil {
					return nil
				}
			}
		}
		c.getBuffers()
		c.setState(http.StateActive)
		w, err := c.readRequest(ctx, lastMethod)
		if c.shutdown.Load() && err == nil {
			w.cancel()
			return nil
		}
		if err != nil {
			c.answerError(err)
			return nil
		}
		lastMethod = w.req.Method
		c.serveRequest(w)
		if c.hijacked {
			return nil
		}
		if w.aborted {
			w.closeBody()
			return nil
		}
		w.finish()
		if !w.reuse() || c.shutdown.Load() {
			c.bw.Flush()
			if w.body != nil && !w.body.atEOF() {
				// Unread body on the wire: half-close and drain so the
				// client reads the answer instead of a reset.
				c.closeWriteAndWait()
			}
			return nil
		}
		c.setState(http.StateIdle)
		if c.br.Buffered() == 0 && !c.cr.hasByte {
			c.releaseBuffers()
			if d := c.opts.IdleTimeout; d > 0 {
				c.c.SetReadDeadline(time.Now().Add(d))
			} else {
				c.c.SetReadDeadline(time.Time{})
			}
			if err := c.waitByte(); err != nil {
				return nil
			}
		}
		// As net/http: a next request shorter than 4 bytes before the
		// connection ends gets no answer.
		c.getBuffers()
		if _, err := c.br.Peek(4); err != nil {
			return nil
		}
		if d := c.opts.ReadHeaderTimeout; d > 0 {
			c.c.SetReadDeadline(time.Now().Add(d))
		} else {
			c.c.SetReadDeadline(time.Time{})
		}
	}
}

// waitByte blocks, holding no buffer, until the next request's first byte
// arrives (kept in cr); it fails when the connection ends or Shutdown
// closes it.
func (c *Conn) waitByte() error {
	if c.cr.hasByte {
		return nil
	}
	c.idle.Store(true)
	if c.shutdown.Load() {
		c.idle.Store(false)
		return net.ErrClosed
	}
	n, err := c.c.Read(c.cr.byteBuf[:])
	c.idle.Store(false)
	if n == 1 {
		c.cr.hasByte = true
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

func (c *Conn) serveRequest(w *response) {
	defer func() {
		if err := recover(); err != nil {
			if err != http.ErrAbortHandler {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.logger().Error("http: panic serving", "remote", c.remote, "panic", err, "stack", string(buf))
			}
			c.stopWatch()
			w.cancel()
			w.aborted = true
		}
	}()
	c.startWatch(w)
	c.opts.Handler.ServeHTTP(w, w.req)
	c.stopWatch()
	w.cancel()
}

// answerError writes net/http's answer to a request that could not be read.
func (c *Conn) answerError(err error) {
	const errorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
	var se statusError
	switch {
	case errors.Is(err, errAnswered):
	case errors.Is(err, errTooLarge):
		const publicErr = "431 Request Header Fields Too Large"
		io.WriteString(c.c, "HTTP/1.1 "+publicErr+errorHeaders+publicErr)
		c.closeWriteAndWait()
	case isUnsupportedTE(err):
		io.WriteString(c.c, "HTTP/1.1 501 Not Implemented"+errorHeaders+"Unsupported transfer encoding")
	case isCommonNetReadError(err):
	case errors.As(err, &se):
		t := http.StatusText(se.code) + ": " + se.text
		io.WriteString(c.c, "HTTP/1.1 "+itoa(se.code)+" "+t+errorHeaders+itoa(se.code)+" "+t)
	default:
		const publicErr = "400 Bad Request"
		io.WriteString(c.c, "HTTP/1.1 "+publicErr+errorHeaders+publicErr)
	}
}

// closeWriteAndWait half-closes and gives the client up to 500 ms to read
// the answer before the close, as net/http does: closing while its request
// bytes still arrive resets the connection, and a reset makes the client's
// kernel drop the answer it has not read yet. Reading what comes lets the
// wait end as soon as the client closes; past drainLimit it stops reading
// and waits out the rest, so a client still uploading stalls on its full
// window and looks at the answer instead of racing the close.
func (c *Conn) closeWriteAndWait() {
	if cw, ok := c.c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	deadline := time.Now().Add(rstAvoidanceDelay)
	c.c.SetReadDeadline(deadline)
	if n, _ := io.Copy(io.Discard, io.LimitReader(c.c, drainLimit)); n == drainLimit {
		time.Sleep(time.Until(deadline))
	}
}

const (
	rstAvoidanceDelay = 500 * time.Millisecond // net/http's
	drainLimit        = 256 << 10
)

func isCommonNetReadError(err error) bool {
	if err == io.EOF || errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "read"
}

// connReader reads from the connection for the bufio.Reader: first the
// byte waitByte or the watch read, then the connection, at most remain
// bytes while a header block is read.
type connReader struct {
	c         *Conn
	byteBuf   [1]byte
	hasByte   bool
	recording bool
	limited   bool
	remain    int64
	hitLim    bool
}

func (r *connReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if r.limited {
		if r.remain <= 0 {
			r.hitLim = true
			return 0, io.EOF
		}
		if int64(len(p)) > r.remain {
			p = p[:r.remain]
		}
	}
	var n int
	var err error
	if r.hasByte {
		p[0] = r.byteBuf[0]
		r.hasByte = false
		n = 1
	} else {
		n, err = r.c.c.Read(p)
	}
	r.remain -= int64(n)
	if r.recording {
		r.c.rec = append(r.c.rec, p[:n]...)
	}
	return n, err
}

// connWriter writes to the connection and remembers the first error.
type connWriter struct {
	c   *Conn
	err error
}

func (w *connWriter) Write(p []byte) (int, error) {
	n, err := w.c.c.Write(p)
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
}
