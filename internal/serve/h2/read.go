package h2

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"

	"golang.org/x/net/http2"
)

// framePool holds the buffers DATA payloads are read into.
var framePool = sync.Pool{New: func() any { return &buffer{b: make([]byte, maxReadFrameSize)} }}

// readFrame reads and processes one frame. Stream errors are answered
// here (RST_STREAM); a connection error sends GOAWAY and is returned.
func (c *Conn) readFrame() error {
	fh, err := c.fr.ReadFrameHeader()
	if err != nil {
		if errors.Is(err, http2.ErrFrameTooLarge) {
			c.connError(http2.ErrCodeFrameSize, "")
		}
		return err
	}
	if fh.Type == http2.FrameData {
		// DATA is read here, not by the Framer, so its payload lands in
		// a pooled buffer and the Framer's own buffer stays small.
		err = c.readData(fh)
	} else {
		var f http2.Frame
		f, err = c.fr.ReadFrameForHeader(fh)
		if err == nil {
			err = c.processFrame(f)
		}
	}
	if err == nil {
		c.flushFromReader()
		return nil
	}
	var se http2.StreamError
	if errors.As(err, &se) {
		c.mu.Lock()
		c.resetStreamLocked(se.StreamID, se.Code, err)
		c.mu.Unlock()
		c.flushFromReader()
		return nil
	}
	var ce http2.ConnectionError
	if errors.As(err, &ce) {
		reason := ""
		if d := c.fr.ErrorDetail(); d != nil {
			reason = d.Error()
		}
		c.connError(http2.ErrCode(ce), reason)
		return fmt.Errorf("h2: connection error %v: %w", http2.ErrCode(ce), err)
	}
	return err
}

// flushFromReader sends what processing a frame queued (acks,
// WINDOW_UPDATE, RST_STREAM) without making the read loop wait on the
// client reading: the write runs on its own goroutine, one at a time.
func (c *Conn) flushFromReader() {
	c.mu.Lock()
	if c.wbuf != nil && !c.flushing && c.werr == nil {
		c.flushing = true
		go c.flushAsync()
	}
	c.mu.Unlock()
}

// flushAsync is flushFromReader's writer.
func (c *Conn) flushAsync() {
	c.mu.Lock()
	c.flushing = false
	c.flushLocked()
	c.mu.Unlock()
}

// readData reads a DATA frame's payload and gives it to its stream.
func (c *Conn) readData(fh http2.FrameHeader) error {
	buf := framePool.Get().(*buffer)
	defer framePool.Put(buf)
	payload := buf.b[:fh.Length]
	if _, err := io.ReadFull(c.nc, payload); err != nil {
		return err
	}
	if fh.StreamID == 0 {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	data := payload
	if fh.Flags.Has(http2.FlagDataPadded) {
		if len(payload) == 0 {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		pad := int(payload[0])
		if pad > len(payload)-1 {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		data = payload[1 : len(payload)-pad]
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.sawSettings {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	return c.processDataLocked(fh.StreamID, fh.Length, data, fh.Flags.Has(http2.FlagDataEndStream))
}

// streamState says where a stream id stands. c.mu must be held.
func (c *Conn) stateLocked(id uint32) (streamState, *stream) {
	if st, ok := c.streams[id]; ok {
		return st.state, st
	}
	if id%2 == 1 && id <= c.maxClientID {
		return stateClosed, nil
	}
	return stateIdle, nil
}

// discardingLocked: after a GOAWAY with an error, or for streams past the
// last one a GOAWAY named, frames are dropped (RFC 9113 6.8).
func (c *Conn) discardingLocked(id uint32) bool {
	return c.goAwaySent && (c.goAwayCode != http2.ErrCodeNo || id > c.maxClientID)
}

// processDataLocked follows net/http's processData. c.mu must be held.
func (c *Conn) processDataLocked(id, length uint32, data []byte, end bool) error {
	if c.discardingLocked(id) {
		return c.takeAndRefundLocked(id, length)
	}
	if slices.Contains(c.quiet, id) {
		return c.takeAndRefundLocked(id, length)
	}
	state, st := c.stateLocked(id)
	if state == stateIdle {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	if st == nil || state != stateOpen || st.gotTrailers || st.resetSent {
		if err := c.takeAndRefundLocked(id, length); err != nil {
			return err
		}
		if st != nil && st.resetSent {
			return nil
		}
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeStreamClosed}
	}
	if st.declBody != -1 && st.bodyBytes+int64(len(data)) > st.declBody {
		if err := c.takeAndRefundLocked(id, length); err != nil {
			return err
		}
		st.setBodyErrLocked(fmt.Errorf("h2: sender tried to send more than the declared Content-Length of %d bytes", st.declBody))
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
	}
	if length > 0 {
		if int64(length) > int64(c.recvWindow) {
			return http2.ConnectionError(http2.ErrCodeFlowControl)
		}
		if int64(length) > int64(st.recvWindow) {
			return http2.StreamError{StreamID: id, Code: http2.ErrCodeFlowControl}
		}
		c.recvWindow -= int32(length)
		st.recvWindow -= int32(length)
		if len(data) > 0 {
			st.bodyBytes += int64(len(data))
			if st.bodyErr != nil || st.bodyClosed {
				// Nobody reads it: the connection's window comes back,
				// the stream's does not.
				c.refundConnLocked(int32(len(data)))
			} else {
				st.body.write(data)
				st.cond.Broadcast()
			}
		}
		if pad := int32(length) - int32(len(data)); pad > 0 {
			c.refundConnLocked(pad)
			st.refundLocked(pad)
		}
	}
	if end {
		st.endStreamLocked()
	}
	return nil
}

// takeAndRefundLocked charges a dropped DATA frame to the connection
// window and gives it straight back.
func (c *Conn) takeAndRefundLocked(id, length uint32) error {
	if int64(length) > int64(c.recvWindow) {
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeFlowControl}
	}
	c.recvWindow -= int32(length)
	c.refundConnLocked(int32(length))
	return nil
}

// refundConnLocked returns n consumed bytes of the connection window,
// batched: a WINDOW_UPDATE goes out once 16 KiB are owed or the client's
// window is down to what is owed.
func (c *Conn) refundConnLocked(n int32) {
	if n <= 0 {
		return
	}
	c.connRefund += n
	if c.connRefund >= 16<<10 || c.connRefund >= c.recvWindow {
		c.recvWindow += c.connRefund
		c.appendWindowUpdateLocked(0, c.connRefund)
		c.connRefund = 0
	}
}

// processFrame handles every frame but DATA.
func (c *Conn) processFrame(f http2.Frame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.sawSettings {
		if _, ok := f.(*http2.SettingsFrame); !ok {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		c.sawSettings = true
	}
	if c.discardingLocked(f.Header().StreamID) {
		return nil
	}
	switch f := f.(type) {
	case *http2.SettingsFrame:
		return c.processSettingsLocked(f)
	case *http2.MetaHeadersFrame:
		return c.processHeadersLocked(f)
	case *http2.WindowUpdateFrame:
		return c.processWindowUpdateLocked(f)
	case *http2.PingFrame:
		if f.IsAck() {
			return nil
		}
		if f.StreamID != 0 {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		c.appendPingAckLocked(f.Data)
		return nil
	case *http2.RSTStreamFrame:
		state, st := c.stateLocked(f.StreamID)
		if state == stateIdle {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		if st != nil {
			c.closeStreamLocked(st, http2.StreamError{StreamID: f.StreamID, Code: f.ErrCode})
		}
		return nil
	case *http2.PriorityFrame:
		if f.StreamID == f.StreamDep {
			return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeProtocol}
		}
		return nil // priorities are accepted and ignored
	case *http2.GoAwayFrame:
		c.shutdown = true
		c.goAwayLocked(http2.ErrCodeNo, nil)
		c.maybeCloseLocked()
		return nil
	case *http2.PushPromiseFrame:
		return http2.ConnectionError(http2.ErrCodeProtocol)
	default:
		return nil // unknown frame types are ignored (RFC 9113 5.5)
	}
}

func (c *Conn) processSettingsLocked(f *http2.SettingsFrame) error {
	if f.IsAck() {
		c.unackedSettings--
		if c.unackedSettings < 0 {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		return nil
	}
	// Duplicates are applied in order (RFC 9113 6.5: "processed in the
	// order in which they appear"); net/http refuses them.
	if f.NumSettings() > 100 {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			return err
		}
		switch s.ID {
		case http2.SettingHeaderTableSize:
			c.henc.SetMaxDynamicTableSize(s.Val)
		case http2.SettingInitialWindowSize:
			growth := int64(s.Val) - c.peerInitWindow
			c.peerInitWindow = int64(s.Val)
			for _, st := range c.streams {
				st.sendWindow += growth
				if st.sendWindow > math.MaxInt32 {
					return http2.ConnectionError(http2.ErrCodeFlowControl)
				}
			}
			c.wakeWritersLocked()
		case http2.SettingMaxFrameSize:
			c.peerMaxFrame = int(s.Val)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.appendSettingsAckLocked()
	return nil
}

func (c *Conn) processWindowUpdateLocked(f *http2.WindowUpdateFrame) error {
	if f.StreamID == 0 {
		c.sendWindow += int64(f.Increment)
		if c.sendWindow > math.MaxInt32 {
			return http2.ConnectionError(http2.ErrCodeFlowControl)
		}
		c.wakeWritersLocked()
		return nil
	}
	state, st := c.stateLocked(f.StreamID)
	if state == stateIdle {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	if st == nil {
		return nil // half-closed or closed: allowed, ignored
	}
	st.sendWindow += int64(f.Increment)
	if st.sendWindow > math.MaxInt32 {
		return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeFlowControl}
	}
	st.cond.Broadcast()
	return nil
}

// resetStreamLocked answers a stream error with RST_STREAM and closes the
// stream if it is open. c.mu must be held.
func (c *Conn) resetStreamLocked(id uint32, code http2.ErrCode, err error) {
	st := c.streams[id]
	if st != nil && st.resetSent {
		return
	}
	c.appendRSTLocked(id, code)
	if st != nil {
		st.resetSent = true
		c.closeStreamLocked(st, err)
	}
}
