// Package h2 is tlsgate's HTTP/2 server connection (RFC 9113), built on
// golang.org/x/net/http2's Framer (reading) and hpack (both ways), behind
// the same http.Handler interface as net/http's server.
//
// The design differs from net/http's h2 server where its profile costs:
// there is no serve goroutine with channels between it and the handlers.
// The goroutine that calls Serve reads and processes frames under the
// connection's one mutex; handlers run in their own goroutines and append
// their frames (HEADERS, DATA, trailers) to one connection write buffer
// under the same mutex. Whoever appends while no flush is in progress
// writes the whole buffer in one TLS write; frames appended meanwhile go
// out in the flusher's next write, so the frames of all streams ready at
// once share one TLS record and one syscall. Buffers come from pools and
// go back when a flush ends and when a request body is drained, so an idle
// connection holds none.
//
// Extended CONNECT (RFC 8441) is not offered: Go 1.26's net/http h2 server
// does not offer it by default either (GODEBUG http2xconnect=1 turns it
// on there), and a :protocol pseudo-header is refused as net/http refuses
// it. Server push is not offered.
package h2

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Options configures every connection of a listener. It is read-only once
// connections use it and shared by all of them.
type Options struct {
	// Handler answers each request. Nil: http.NotFoundHandler.
	Handler http.Handler
	// MaxHeaderBytes bounds the decoded header list of a request
	// (SETTINGS_MAX_HEADER_LIST_SIZE); zero: http.DefaultMaxHeaderBytes.
	// A request past it is answered 431, as net/http answers it.
	MaxHeaderBytes int
	// ReadHeaderTimeout bounds the client's connection preface; zero: 10s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout: a connection without open streams for this long is sent
	// GOAWAY and closed. Zero: no idle timeout.
	IdleTimeout time.Duration
	// MaxConcurrentStreams is advertised in SETTINGS; zero: 250, as
	// net/http.
	MaxConcurrentStreams uint32
	// Logger gets routine connection errors at debug level and handler
	// panics at error level. Nil: slog.Default().
	Logger *slog.Logger
	// OnState, when set, is told Active when a stream opens and none was
	// open, and Idle when the last one closes (and Active then Idle once
	// at the start, as net/http reports an h2 connection).
	OnState func(http.ConnState)
}

// Limits and sizes; those net/http has are net/http's values.
const (
	defaultMaxStreams     = 250
	defaultPrefaceTimeout = 10 * time.Second
	// Flow control windows we grant: net/http's defaults for
	// MaxUploadBufferPerConnection and MaxUploadBufferPerStream.
	connRecvWindow   = 1 << 20
	streamRecvWindow = 1 << 20
	// maxReadFrameSize is the SETTINGS_MAX_FRAME_SIZE we keep (the
	// protocol's default, so not sent): frames, and so the reader's
	// buffers, stay at 16 KiB.
	maxReadFrameSize = 16 << 10
	// maxQueuedControlFrames bounds control frames (SETTINGS and PING
	// acks, RST_STREAM, WINDOW_UPDATE) queued while the client does not
	// read: net/http's maxQueuedControlFrames.
	maxQueuedControlFrames = 10000
	// maxWriteBuffer is how many bytes of DATA may wait in the write
	// buffer behind a flush in progress before handlers wait.
	maxWriteBuffer = 256 << 10
	// handlerChunkSize is how much a handler's body is buffered before it
	// becomes a DATA frame: net/http's handlerChunkWriteSize.
	handlerChunkSize = 4 << 10
	// goAwayDrain bounds how long a connection is read (and discarded)
	// after a GOAWAY with an error, so the client gets the GOAWAY before
	// the close rather than a TCP reset.
	goAwayDrain = time.Second
	// perFieldOverhead and typicalHeaders turn MaxHeaderBytes into
	// SETTINGS_MAX_HEADER_LIST_SIZE as net/http does.
	perFieldOverhead = 32
	typicalHeaders   = 10
)

// clientPreface is what every HTTP/2 client sends first.
const clientPreface = http2.ClientPreface

// Conn is one HTTP/2 server connection.
type Conn struct {
	nc         net.Conn
	opts       *Options
	handler    http.Handler
	log        *slog.Logger
	tlsState   *tls.ConnectionState
	remoteAddr string
	maxStreams uint32
	fr         *http2.Framer // read side; used by the Serve goroutine only
	ctx        context.Context
	cancel     context.CancelFunc

	// mu guards everything below: the write buffer and hpack encoder,
	// flow control windows, the streams and the connection's state.
	mu sync.Mutex

	wbuf     *buffer   // frames waiting to be written; nil when empty
	flushing bool      // a goroutine is writing; it writes what is appended meanwhile
	flushAt  time.Time // when the write in progress started
	// writeDeadlineSet: a stream's write timeout put a deadline on the
	// write in progress; cleared once it returns.
	writeDeadlineSet bool
	werr             error // sticky: the connection can no longer be written
	queuedCtl        int   // control frames appended since the last write started
	henc             *hpack.Encoder
	hsink            headerSink
	nWaiting         int // streams waiting for send window or buffer room
	// pendingRST: streams whose END_STREAM is in wbuf while the client
	// still sends; their RST_STREAM(NO_ERROR) follows in the next write.
	// rstInBuf: those whose RST is in wbuf. quiet: both, whose DATA and
	// trailers are dropped without an answer.
	pendingRST []uint32
	rstInBuf   []uint32
	quiet      []uint32
	date       dateCache

	peerMaxFrame   int   // the client's SETTINGS_MAX_FRAME_SIZE
	peerInitWindow int64 // the client's SETTINGS_INITIAL_WINDOW_SIZE
	sendWindow     int64 // connection-level window the client granted

	recvWindow int32 // connection-level bytes the client may still send
	connRefund int32 // bytes consumed and not yet returned with WINDOW_UPDATE

	streams         map[uint32]*stream // open and half-closed streams
	maxClientID     uint32             // highest stream id the client opened
	curHandlers     int                // handler goroutines running
	unstarted       []*stream          // streams waiting for a handler slot
	sawSettings     bool
	unackedSettings int
	goAwaySent      bool
	goAwayCode      http2.ErrCode
	shutdown        bool // Shutdown was called
	closing         bool // close once the write buffer is flushed
	closed          bool // the net.Conn is closed
	serving         bool
	idleTimer       *time.Timer
}

// NewConn returns the HTTP/2 connection over c, a *tls.Conn after its
// handshake (ALPN "h2") or any conn speaking h2 with prior knowledge.
func NewConn(c net.Conn, opts *Options) *Conn {
	cn := &Conn{
		nc:             c,
		opts:           opts,
		handler:        opts.Handler,
		log:            opts.Logger,
		remoteAddr:     c.RemoteAddr().String(),
		maxStreams:     opts.MaxConcurrentStreams,
		peerMaxFrame:   16 << 10,
		peerInitWindow: 65535,
		sendWindow:     65535,
		recvWindow:     connRecvWindow,
		streams:        make(map[uint32]*stream),
	}
	if cn.handler == nil {
		cn.handler = http.NotFoundHandler()
	}
	if cn.log == nil {
		cn.log = slog.Default()
	}
	if cn.maxStreams == 0 {
		cn.maxStreams = defaultMaxStreams
	}
	if tc, ok := c.(*tls.Conn); ok {
		st := tc.ConnectionState()
		cn.tlsState = &st
	}
	cn.henc = hpack.NewEncoder(&cn.hsink)
	return cn
}

// maxHeaderListSize is the SETTINGS_MAX_HEADER_LIST_SIZE we advertise.
func (c *Conn) maxHeaderListSize() uint32 {
	n := c.opts.MaxHeaderBytes
	if n <= 0 {
		n = http.DefaultMaxHeaderBytes
	}
	return uint32(n + typicalHeaders*perFieldOverhead)
}

func (c *Conn) setState(s http.ConnState) {
	if c.opts.OnState != nil {
		c.opts.OnState(s)
	}
}

// Serve runs the connection until it ends: the client goes away, a
// protocol error, Shutdown's drain, the idle timeout, or the net.Conn
// closed by the caller. Request contexts derive from ctx. It returns nil
// when the connection ended normally.
func (c *Conn) Serve(ctx context.Context) error {
	c.ctx, c.cancel = context.WithCancel(ctx)
	defer c.cancel()
	defer c.teardown()
	c.setState(http.StateActive)
	c.setState(http.StateIdle)

	// Our SETTINGS and the connection window go out before the client's
	// preface is read, as net/http does.
	c.mu.Lock()
	c.serving = true
	c.appendSettingsLocked()
	c.unackedSettings++
	c.appendWindowUpdateLocked(0, connRecvWindow-65535)
	c.flushLocked()
	shut := c.shutdown
	c.mu.Unlock()

	timeout := c.opts.ReadHeaderTimeout
	if timeout <= 0 {
		timeout = defaultPrefaceTimeout
	}
	c.nc.SetReadDeadline(time.Now().Add(timeout))
	var pre [len(clientPreface)]byte
	if _, err := io.ReadFull(c.nc, pre[:]); err != nil {
		return c.ended(fmt.Errorf("h2: reading the client preface: %w", err))
	}
	if string(pre[:]) != clientPreface {
		c.connError(http2.ErrCodeProtocol, "bad preface")
		return errors.New("h2: bad client preface")
	}
	c.nc.SetReadDeadline(time.Time{})

	c.fr = http2.NewFramer(nil, c.nc)
	c.fr.SetReuseFrames()
	c.fr.SetMaxReadFrameSize(maxReadFrameSize)
	c.fr.MaxHeaderListSize = c.maxHeaderListSize()
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)

	c.mu.Lock()
	c.armIdleLocked()
	c.mu.Unlock()
	if shut {
		c.Shutdown()
	}
	for {
		if err := c.readFrame(); err != nil {
			return c.ended(err)
		}
	}
}

// errGone is how the read loop learns the connection was closed on
// purpose (a GOAWAY's drain, the idle timeout, Shutdown's end).
var errGone = errors.New("h2: connection closed")

// ended turns the read loop's last error into Serve's result.
func (c *Conn) ended(err error) error {
	c.mu.Lock()
	closing := c.closing || c.closed
	c.mu.Unlock()
	if closing || errors.Is(err, errGone) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) && closing {
		return nil
	}
	c.log.Debug("h2: connection ended", "remote", c.remoteAddr, "err", err)
	return err
}

// teardown runs when Serve returns: every stream left ends with the
// connection, handlers see their contexts canceled and their writes fail.
func (c *Conn) teardown() {
	c.mu.Lock()
	if c.werr == nil {
		c.werr = errClientDisconnected
	}
	if c.idleTimer != nil {
		c.idleTimer.Stop()
	}
	for _, st := range c.streams {
		c.closeStreamLocked(st, errClientDisconnected)
	}
	for _, st := range c.unstarted {
		st.cancel()
	}
	c.unstarted = nil
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.nc.Close()
}

// Shutdown starts a graceful close: GOAWAY with the last stream id, open
// streams finish, then the connection closes. Non-blocking, idempotent.
func (c *Conn) Shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shutdown && c.goAwaySent {
		return
	}
	c.shutdown = true
	if !c.serving || c.fr == nil {
		return // Serve sends it once the preface is read
	}
	c.goAwayLocked(http2.ErrCodeNo, nil)
	c.maybeCloseLocked()
	c.flushLocked()
}

// goAwayLocked queues a GOAWAY once. c.mu must be held.
func (c *Conn) goAwayLocked(code http2.ErrCode, debug []byte) {
	if c.goAwaySent {
		if code == http2.ErrCodeNo || c.goAwayCode != http2.ErrCodeNo {
			return
		}
	}
	c.goAwaySent = true
	c.goAwayCode = code
	c.appendGoAwayLocked(c.maxClientID, code, debug)
}

// maybeCloseLocked closes the connection after a GOAWAY once no stream is
// left. c.mu must be held.
func (c *Conn) maybeCloseLocked() {
	if c.goAwaySent && len(c.streams) == 0 && !c.closing {
		c.closing = true
		if !c.flushing && c.wbuf == nil {
			c.closeNowLocked()
		}
	}
}

// closeNowLocked closes the net.Conn; the read loop then returns. For a
// graceful end the client's close is awaited briefly, so a request it sent
// across our GOAWAY is read and dropped instead of met by a TCP reset.
func (c *Conn) closeNowLocked() {
	if c.closed {
		return
	}
	c.closed = true
	if c.goAwaySent {
		// Reads go on (and are discarded) until the client closes or the
		// deadline passes.
		c.nc.SetReadDeadline(time.Now().Add(goAwayDrain))
		if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
			go func() { cw.CloseWrite() }() // takes tls.Conn's write lock; never under mu
		}
		return
	}
	c.nc.Close()
}

// connError sends GOAWAY with code and ends the connection (RFC 9113
// 5.4.1).
func (c *Conn) connError(code http2.ErrCode, reason string) {
	c.mu.Lock()
	var debug []byte
	if reason != "" {
		debug = []byte(reason)
	}
	c.goAwayLocked(code, debug)
	c.closing = true
	c.flushLocked()
	if !c.flushing {
		c.closeNowLocked()
	}
	c.mu.Unlock()
}

// armIdleLocked starts the idle timer when no stream is open. c.mu must be
// held.
func (c *Conn) armIdleLocked() {
	if c.opts.IdleTimeout <= 0 || len(c.streams) > 0 || c.closed {
		return
	}
	if c.idleTimer == nil {
		c.idleTimer = time.AfterFunc(c.opts.IdleTimeout, c.onIdle)
		return
	}
	c.idleTimer.Reset(c.opts.IdleTimeout)
}

// onIdle runs on the idle timer's goroutine.
func (c *Conn) onIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.streams) > 0 || c.closed {
		return
	}
	c.goAwayLocked(http2.ErrCodeNo, nil)
	c.maybeCloseLocked()
	c.flushLocked()
}

var errClientDisconnected = errors.New("h2: client disconnected")
