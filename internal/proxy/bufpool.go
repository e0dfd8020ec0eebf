package proxy

import (
	"bufio"
	"io"
)

// getWriteBuf and friends pool the per-request buffers.
func (t *Transport) getWriteBuf() *[]byte {
	if b, ok := t.writeBufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 4<<10)
	return &b
}

func (t *Transport) putWriteBuf(b *[]byte) {
	if cap(*b) <= maxPooledWriteBuf {
		t.writeBufs.Put(b)
	}
}

func (t *Transport) getReader(r io.Reader) *bufio.Reader {
	if br, ok := t.readers.Get().(*bufio.Reader); ok {
		br.Reset(r)
		return br
	}
	return bufio.NewReaderSize(r, readBufSize)
}

func (t *Transport) putReader(br *bufio.Reader) {
	br.Reset(nil)
	t.readers.Put(br)
}
