package proxy

import (
	"bufio"
	"io"
	"sync"
)

// The buffers a Transport pools for its routes, so idle connections and
// finished requests hold none.

// bufSize is the copy buffer size ReverseProxy would allocate per request.
const bufSize = 32 << 10

// bufferPool implements httputil.BufferPool over a Transport's buffers. The
// pool holds array pointers, which go in and out of a sync.Pool without
// allocating.
type bufferPool struct{ p *sync.Pool }

func (bp bufferPool) Get() []byte {
	if b, ok := bp.p.Get().(*[bufSize]byte); ok {
		return b[:]
	}
	return make([]byte, bufSize)
}

func (bp bufferPool) Put(b []byte) {
	if cap(b) == bufSize {
		bp.p.Put((*[bufSize]byte)(b[:bufSize]))
	}
}

// getWriteBuf and friends pool the lean path's per-request buffers.
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
