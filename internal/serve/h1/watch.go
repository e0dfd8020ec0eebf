package h1

import (
	"errors"
	"net"
	"sync"
	"time"
)

// The watch: net/http reads in the background during every request to see
// a client leave. Here a request that ends within watchDelay never has
// such a read; one still running then gets it (once its body is at EOF,
// as net/http starts it then too). The timer's own goroutine does the
// read, so the watch costs no goroutine of its own. A byte it reads
// (a pipelined request) is kept in connReader for the next request; an
// error cancels the request's context.

func (c *Conn) startWatch(w *response) {
	c.wmu.Lock()
	c.wActive = true
	c.wBodyDone = w.body == nil
	c.wWanted = false
	c.wCancel = w.cancel
	if c.wtimer == nil {
		c.wtimer = time.AfterFunc(watchDelay, c.watchFired)
	} else {
		c.wtimer.Reset(watchDelay)
	}
	c.wmu.Unlock()
}

// watchFired runs on the timer's goroutine. A late firing from an earlier
// request only starts the current one's watch early: harmless.
func (c *Conn) watchFired() {
	c.wmu.Lock()
	if !c.wActive || c.wReading {
		c.wmu.Unlock()
		return
	}
	c.wWanted = true
	if !c.wBodyDone {
		c.wmu.Unlock()
		return
	}
	c.wReading = true
	c.wg.Add(1)
	c.wmu.Unlock()
	c.watchRead()
}

// bodyAtEOF is called by the request body at its end.
func (c *Conn) bodyAtEOF() {
	c.wmu.Lock()
	c.wBodyDone = true
	if !c.wActive || !c.wWanted || c.wReading {
		c.wmu.Unlock()
		return
	}
	c.wReading = true
	c.wg.Add(1)
	c.wmu.Unlock()
	go c.watchRead()
}

func (c *Conn) watchRead() {
	defer c.wg.Done()
	if c.cr.hasByte {
		return
	}
	n, err := c.c.Read(c.cr.byteBuf[:])
	if n == 1 {
		c.cr.hasByte = true
		return
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		// stopWatch's deadline in the past, or the handler's own.
		c.wmu.Lock()
		stopping := !c.wActive
		c.wmu.Unlock()
		if stopping {
			return
		}
	}
	c.wmu.Lock()
	cancel := c.wCancel
	c.wmu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// stopWatch ends the watch of the current request and waits for its read.
func (c *Conn) stopWatch() {
	c.wmu.Lock()
	if !c.wActive {
		c.wmu.Unlock()
		return
	}
	c.wActive = false
	c.wCancel = nil
	if c.wtimer != nil {
		c.wtimer.Stop()
	}
	reading := c.wReading
	c.wReading = false
	c.wmu.Unlock()
	if reading {
		c.c.SetReadDeadline(aLongTimeAgo)
		c.wg.Wait()
		c.c.SetReadDeadline(time.Time{})
	}
}

var aLongTimeAgo = time.Unix(1, 0)

// scratchPool holds response body buffers: taken by a response's first
// Write, given back when it finishes, so an idle connection holds none.
var scratchPool = sync.Pool{New: func() any {
	b := make([]byte, 0, bufferBeforeChunking+bufSize)
	return &b
}}

func (c *Conn) scratchBuf() []byte {
	return (*scratchPool.Get().(*[]byte))[:0]
}

func (c *Conn) putScratch(b []byte) {
	if cap(b) > 0 && cap(b) <= bufferBeforeChunking+bufSize {
		b = b[:0]
		scratchPool.Put(&b)
	}
}
