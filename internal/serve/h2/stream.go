package h2

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

type streamState uint8

const (
	stateIdle streamState = iota
	stateOpen
	stateHalfClosedRemote
	stateClosed
)

// stream is one request and its response. Its fields are guarded by the
// connection's mu unless marked otherwise.
type stream struct {
	c     *Conn
	id    uint32
	state streamState
	cond  sync.Cond // on c.mu: body data or EOF, window, reset
	ctx   context.Context
	// cancel ends the request context; safe without c.mu.
	cancel context.CancelFunc

	// receiving
	recvWindow    int32
	refund        int32 // stream-level bytes consumed, not yet returned
	body          dataBuffer
	bodyBytes     int64
	declBody      int64 // Content-Length, -1 if none
	bodyErr       error // io.EOF once the body ended, or why it failed
	bodyClosed    bool  // the handler closed the body
	needsContinue bool
	gotTrailers   bool
	trailer       map[string][]string // received trailers, declared or not
	reqTrailer    map[string][]string // req.Trailer: the declared keys

	// sending
	sendWindow int64
	waiting    bool  // waiting for window or buffer room
	resetSent  bool  // we sent RST_STREAM
	closed     bool  // no longer in c.streams: writes fail
	closeErr   error // why it closed
	sentEnd    bool  // END_STREAM went out
	rdTimer    *time.Timer
	wrTimer    *time.Timer
	wrDur      time.Duration // the write deadline's distance when set

	rw      responseWriter
	reqBody requestBody
}

func (st *stream) refundLocked(n int32) {
	if n <= 0 || st.state != stateOpen {
		return
	}
	st.refund += n
	if st.refund >= 16<<10 || st.refund >= st.recvWindow {
		st.recvWindow += st.refund
		st.c.appendWindowUpdateLocked(st.id, st.refund)
		st.refund = 0
	}
}

// setBodyErrLocked ends the body with err unless it already ended; data
// already buffered is still read first.
func (st *stream) setBodyErrLocked(err error) {
	if st.bodyErr == nil {
		st.bodyErr = err
	}
	st.cond.Broadcast()
}

// endStreamLocked: the client's END_STREAM (on DATA or trailers).
func (st *stream) endStreamLocked() {
	if st.declBody != -1 && st.declBody != st.bodyBytes {
		st.setBodyErrLocked(fmt.Errorf("h2: request declared a Content-Length of %d but only wrote %d bytes", st.declBody, st.bodyBytes))
	} else {
		st.setBodyErrLocked(io.EOF)
	}
	st.state = stateHalfClosedRemote
	st.refund = 0
}

// closeStreamLocked removes st from the connection: its context ends, its
// body and writes fail with err, its buffered body goes back to the pool
// and its window to the connection. c.mu must be held.
func (c *Conn) closeStreamLocked(st *stream, err error) {
	if st.closed {
		return
	}
	st.closed = true
	st.state = stateClosed
	if st.closeErr == nil {
		st.closeErr = err
	}
	delete(c.streams, st.id)
	if st.rdTimer != nil {
		st.rdTimer.Stop()
	}
	if st.wrTimer != nil {
		st.wrTimer.Stop()
	}
	if n := st.body.len(); n > 0 {
		c.refundConnLocked(int32(n))
	}
	st.body.release()
	var se http2.StreamError
	if errors.As(err, &se) {
		err = fmt.Errorf("h2: stream %d reset: %v", st.id, se.Code)
	}
	st.setBodyErrLocked(err)
	st.cancel()
	if len(c.streams) == 0 {
		c.setState(http.StateIdle)
		c.armIdleLocked()
		c.maybeCloseLocked()
	}
}

// onReadTimeout: the handler's read deadline passed.
func (st *stream) onReadTimeout() {
	c := st.c
	c.mu.Lock()
	st.setBodyErrLocked(fmt.Errorf("h2: reading the request body: %w", os.ErrDeadlineExceeded))
	c.mu.Unlock()
}

// onWriteTimeout: the handler's write deadline passed; the stream is
// reset, as net/http does.
func (st *stream) onWriteTimeout() {
	c := st.c
	c.mu.Lock()
	if !st.closed {
		c.resetStreamLocked(st.id, http2.ErrCodeInternal, fmt.Errorf("h2: writing the response: %w", os.ErrDeadlineExceeded))
		c.flushLocked()
	}
	// A TLS write in progress may be blocked on a client that reads
	// nothing at all (its TCP window shut), and the goroutine writing,
	// perhaps this stream's handler, would wait forever: that write gets
	// the write timeout too, counted from its start; past it the
	// connection ends, as an HTTP/1.1 one does.
	if c.flushing && st.wrDur > 0 {
		c.nc.SetWriteDeadline(c.flushAt.Add(st.wrDur))
		c.writeDeadlineSet = true
	}
	c.mu.Unlock()
}

// dataBuffer is a request body's received bytes, in pooled chunks.
type dataBuffer struct {
	chunks []*buffer
	r      int // read offset in chunks[0]
	n      int // bytes buffered
}

var chunkPool = sync.Pool{New: func() any { return &buffer{b: make([]byte, 0, 16<<10)} }}

func (d *dataBuffer) len() int { return d.n }

func (d *dataBuffer) write(p []byte) {
	d.n += len(p)
	for len(p) > 0 {
		if len(d.chunks) == 0 || len(d.chunks[len(d.chunks)-1].b) == cap(d.chunks[len(d.chunks)-1].b) {
			d.chunks = append(d.chunks, chunkPool.Get().(*buffer))
		}
		last := d.chunks[len(d.chunks)-1]
		k := min(len(p), cap(last.b)-len(last.b))
		last.b = append(last.b, p[:k]...)
		p = p[k:]
	}
}

func (d *dataBuffer) read(p []byte) int {
	n := 0
	for n < len(p) && len(d.chunks) > 0 {
		first := d.chunks[0]
		k := copy(p[n:], first.b[d.r:])
		n += k
		d.r += k
		if d.r == len(first.b) {
			putBuffer(&chunkPool, first)
			d.chunks[0] = nil
			d.chunks = d.chunks[1:]
			d.r = 0
		}
	}
	d.n -= n
	if len(d.chunks) == 0 {
		d.chunks = nil
	}
	return n
}

func (d *dataBuffer) release() {
	for _, b := range d.chunks {
		putBuffer(&chunkPool, b)
	}
	d.chunks, d.r, d.n = nil, 0, 0
}

// requestBody is r.Body for a request with one.
type requestBody struct {
	st *stream
}

func (b *requestBody) Read(p []byte) (int, error) {
	st := b.st
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.bodyClosed {
		return 0, errBodyClosed
	}
	if st.needsContinue {
		st.needsContinue = false
		if !st.closed && !st.rw.sentHeader {
			c.writeContinueLocked(st)
		}
	}
	for st.body.len() == 0 && st.bodyErr == nil {
		st.cond.Wait()
	}
	if st.body.len() > 0 {
		if len(p) == 0 {
			return 0, nil
		}
		n := st.body.read(p)
		c.refundConnLocked(int32(n))
		st.refundLocked(int32(n))
		if c.wbuf != nil {
			c.flushLocked()
		}
		return n, nil
	}
	err := st.bodyErr
	if err == io.EOF {
		for k, vv := range st.trailer {
			if _, ok := st.reqTrailer[k]; ok {
				st.reqTrailer[k] = vv
			}
		}
	}
	return 0, err
}

var errBodyClosed = errors.New("h2: read on closed body")

func (b *requestBody) Close() error {
	st := b.st
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.bodyClosed {
		return nil
	}
	st.bodyClosed = true
	st.needsContinue = false
	if n := st.body.len(); n > 0 {
		c.refundConnLocked(int32(n))
		st.body.release()
	}
	return nil
}
