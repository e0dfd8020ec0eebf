package h2

import (
	"encoding/binary"
	"slices"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

// buffer is a pooled byte slice (a pointer, so the pool does not allocate).
type buffer struct{ b []byte }

// writePool holds connection write buffers between flushes.
var writePool = sync.Pool{New: func() any { return &buffer{b: make([]byte, 0, 16<<10)} }}

// maxPooled: larger buffers are dropped rather than kept for everyone.
const maxPooled = 512 << 10

func putBuffer(p *sync.Pool, b *buffer) {
	if cap(b.b) > maxPooled {
		return
	}
	b.b = b.b[:0]
	p.Put(b)
}

// headerSink is the hpack encoder's output, framed afterwards.
type headerSink struct{ b []byte }

func (s *headerSink) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}

// dateCache keeps the Date header value for the current second.
type dateCache struct {
	sec int64
	val string
}

func (d *dateCache) get(now time.Time) string {
	if s := now.Unix(); s != d.sec || d.val == "" {
		d.sec = s
		d.val = now.UTC().Format(http2TimeFormat)
	}
	return d.val
}

const http2TimeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

// out returns the write buffer to append to. c.mu must be held.
func (c *Conn) outLocked() *buffer {
	if c.wbuf == nil {
		c.wbuf = writePool.Get().(*buffer)
	}
	return c.wbuf
}

func appendFrameHeader(b []byte, length int, t http2.FrameType, flags http2.Flags, id uint32) []byte {
	return append(b, byte(length>>16), byte(length>>8), byte(length), byte(t), byte(flags),
		byte(id>>24)&0x7f, byte(id>>16), byte(id>>8), byte(id))
}

// controlLocked counts a queued control frame; past the bound the client
// is not reading its answers and the connection is closed. c.mu must be
// held.
func (c *Conn) controlLocked() {
	c.queuedCtl++
	if c.queuedCtl > maxQueuedControlFrames && !c.closed {
		c.log.Debug("h2: too many queued control frames; closing", "remote", c.remoteAddr)
		c.closed = true
		c.werr = errClientDisconnected
		c.nc.Close()
	}
}

func (c *Conn) appendSettingsLocked() {
	w := c.outLocked()
	settings := [...]http2.Setting{
		{ID: http2.SettingMaxConcurrentStreams, Val: c.maxStreams},
		{ID: http2.SettingInitialWindowSize, Val: streamRecvWindow},
		{ID: http2.SettingMaxHeaderListSize, Val: c.maxHeaderListSize()},
	}
	w.b = appendFrameHeader(w.b, 6*len(settings), http2.FrameSettings, 0, 0)
	for _, s := range settings {
		w.b = binary.BigEndian.AppendUint16(w.b, uint16(s.ID))
		w.b = binary.BigEndian.AppendUint32(w.b, s.Val)
	}
}

func (c *Conn) appendSettingsAckLocked() {
	w := c.outLocked()
	w.b = appendFrameHeader(w.b, 0, http2.FrameSettings, http2.FlagSettingsAck, 0)
	c.controlLocked()
}

func (c *Conn) appendPingAckLocked(data [8]byte) {
	w := c.outLocked()
	w.b = appendFrameHeader(w.b, 8, http2.FramePing, http2.FlagPingAck, 0)
	w.b = append(w.b, data[:]...)
	c.controlLocked()
}

func (c *Conn) appendWindowUpdateLocked(id uint32, n int32) {
	if n <= 0 {
		return
	}
	w := c.outLocked()
	w.b = appendFrameHeader(w.b, 4, http2.FrameWindowUpdate, 0, id)
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(n)&0x7fffffff)
	c.controlLocked()
}

func (c *Conn) appendRSTLocked(id uint32, code http2.ErrCode) {
	w := c.outLocked()
	w.b = appendFrameHeader(w.b, 4, http2.FrameRSTStream, 0, id)
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(code))
	c.controlLocked()
}

func (c *Conn) appendGoAwayLocked(last uint32, code http2.ErrCode, debug []byte) {
	w := c.outLocked()
	w.b = appendFrameHeader(w.b, 8+len(debug), http2.FrameGoAway, 0, 0)
	w.b = binary.BigEndian.AppendUint32(w.b, last&0x7fffffff)
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(code))
	w.b = append(w.b, debug...)
}

// appendDataLocked appends one DATA frame; the caller has checked the
// windows and the peer's frame size.
func (c *Conn) appendDataLocked(id uint32, p []byte, end bool) {
	w := c.outLocked()
	var flags http2.Flags
	if end {
		flags = http2.FlagDataEndStream
	}
	w.b = appendFrameHeader(w.b, len(p), http2.FrameData, flags, id)
	w.b = append(w.b, p...)
}

// appendHeaderBlockLocked frames c.hsink's encoded block as HEADERS and as
// many CONTINUATION frames as the peer's frame size needs.
func (c *Conn) appendHeaderBlockLocked(id uint32, end bool) {
	w := c.outLocked()
	block := c.hsink.b
	first := true
	for first || len(block) > 0 {
		n := min(len(block), c.peerMaxFrame)
		chunk := block[:n]
		block = block[n:]
		var flags http2.Flags
		t := http2.FrameContinuation
		if first {
			t = http2.FrameHeaders
			if end {
				flags |= http2.FlagHeadersEndStream
			}
		}
		if len(block) == 0 {
			flags |= http2.FlagHeadersEndHeaders
		}
		w.b = appendFrameHeader(w.b, n, t, flags, id)
		w.b = append(w.b, chunk...)
		first = false
	}
	c.hsink.b = c.hsink.b[:0]
}

// flushLocked writes the write buffer unless a flush is already in
// progress (that one writes it). The lock is released during the write
// and held again on return. c.mu must be held.
func (c *Conn) flushLocked() {
	if c.flushing {
		return
	}
	c.flushing = true
	for c.wbuf != nil && c.werr == nil {
		buf := c.wbuf
		c.wbuf = nil
		after := c.pendingRST // their END_STREAM is in buf: RST once it is out
		c.pendingRST = nil
		resetsOut := c.rstInBuf // their RST is in buf: not quiet once it is out
		c.rstInBuf = nil
		c.queuedCtl = 0
		if c.nWaiting > 0 {
			c.wakeWritersLocked()
		}
		c.flushAt = time.Now()
		c.mu.Unlock()
		_, err := c.nc.Write(buf.b)
		c.mu.Lock()
		if c.writeDeadlineSet {
			c.writeDeadlineSet = false
			if err == nil {
				c.nc.SetWriteDeadline(time.Time{})
			}
		}
		if err != nil && c.werr == nil {
			c.werr = err
			c.failLocked()
		}
		putBuffer(&writePool, buf)
		if len(resetsOut) > 0 {
			c.quiet = slices.DeleteFunc(c.quiet, func(id uint32) bool { return slices.Contains(resetsOut, id) })
		}
		if c.werr == nil {
			for _, id := range after {
				c.appendRSTLocked(id, http2.ErrCodeNo)
			}
			c.rstInBuf = append(c.rstInBuf, after...)
		}
	}
	if c.werr != nil && c.wbuf != nil {
		putBuffer(&writePool, c.wbuf)
		c.wbuf = nil
	}
	c.flushing = false
	if c.closing {
		c.closeNowLocked()
	}
}

// failLocked is run once the connection cannot be written: everyone
// waiting to write learns it. c.mu must be held.
func (c *Conn) failLocked() {
	c.wakeWritersLocked()
	for _, st := range c.streams {
		st.cond.Broadcast()
	}
	if !c.closed {
		c.closed = true
		c.nc.Close()
	}
}

// wakeWritersLocked wakes the streams waiting for window or buffer room.
// c.mu must be held.
func (c *Conn) wakeWritersLocked() {
	for _, st := range c.streams {
		if st.waiting {
			st.cond.Broadcast()
		}
	}
}
