package accesslog

import (
	"bytes"
	"context"
	"io"
	"math"
	"os"
	"sync"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"
)

// queueBytes bounds the log bytes waiting to be written (some 8,000 lines
// of JSON). Past it lines are dropped (counted) rather than making requests
// wait for the disk.
const queueBytes = 4 << 20

// flushDelay is how long the writer lets lines gather after the first one
// arrives before it writes them. Waking the writer and making a write
// system call for every line cost an HTTP/1.1 request some 20% more CPU
// (bench/load.sh SUITE=accesslog); one wake-up and one write per batch
// costs a few per cent, and a line reaches the file within this delay.
const flushDelay = 50 * time.Millisecond

// chunkBytes is the most one write to the output carries; a write never
// splits a line (see writeLines).
const chunkBytes = 64 << 10

// Writer writes log lines from one goroutine, which owns the output. Line
// never blocks on the output: it appends to a pending buffer under a mutex
// that the writer holds only to swap buffers. Close stops the goroutine
// after writing what is pending; a line that comes after (a request still
// in flight when a reload retired this writer) is dropped and counted,
// never a panic.
type Writer struct {
	mu      sync.Mutex // guards pending and closed
	pending []byte     // whole lines, each ending in '\n'
	closed  bool       // set by Close: later lines are dropped
	limit   int        // most bytes pending

	wake    chan struct{} // a line arrived in an empty buffer
	reopen  chan struct{}
	stop    chan struct{} // closed by Close
	done    chan struct{}
	once    sync.Once
	dropped func()
	out     io.Writer
	closer  func() error // closes (and so reopens on next write) a file
}

// Output describes where lines go: "stdout", "stderr" or a file path, which
// rotates at maxSize bytes (0 = never) keeping maxBackups old files.
type Output struct {
	Path       string
	MaxSize    int64
	MaxBackups int
}

// NewWriter starts a Writer on out; dropped, when set, is called per
// dropped line.
func NewWriter(o Output, dropped func()) *Writer {
	w := newWriter(o, queueBytes, dropped)
	go w.run()
	return w
}

// newWriter makes a Writer holding at most limit pending bytes, without
// starting its goroutine.
func newWriter(o Output, limit int, dropped func()) *Writer {
	w := &Writer{limit: limit, wake: make(chan struct{}, 1), reopen: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), dropped: dropped}
	switch o.Path {
	case "stdout", "":
		w.out = os.Stdout
	case "stderr":
		w.out = os.Stderr
	default:
		// lumberjack counts MaxSize in MiB and treats 0 as 100; "never"
		// is the largest size it can hold. A size under 1MiB rounds up.
		mb := math.MaxInt32
		if o.MaxSize > 0 {
			mb = int((o.MaxSize + 1<<20 - 1) >> 20)
		}
		lj := &lumberjack.Logger{Filename: o.Path, MaxSize: mb, MaxBackups: o.MaxBackups}
		// After Close, lumberjack opens Filename again on the next write:
		// that is the reopen logrotate's "mv, then SIGUSR1" wants.
		w.out, w.closer = lj, lj.Close
	}
	return w
}

// Line queues one line (ending in its newline); it copies b.
func (w *Writer) Line(b []byte) {
	w.mu.Lock()
	if w.closed || len(w.pending)+len(b) > w.limit {
		w.mu.Unlock()
		w.drop()
		return
	}
	first := len(w.pending) == 0
	w.pending = append(w.pending, b...)
	w.mu.Unlock()
	if first {
		select {
		case w.wake <- struct{}{}:
		default: // the writer has been woken already
		}
	}
}

func (w *Writer) drop() {
	if w.dropped != nil {
		w.dropped()
	}
}

// Reopen makes a file output start writing to its path again (after it
// was moved away). It does not wait.
func (w *Writer) Reopen() {
	select {
	case w.reopen <- struct{}{}:
	default: // one is already pending
	}
}

func (w *Writer) run() {
	defer close(w.done)
	var spare []byte
	delay := time.NewTimer(flushDelay)
	delay.Stop()
	for {
		select {
		case <-w.stop:
			w.flush(&spare)
			w.closeOutput()
			return
		case <-w.wake:
			delay.Reset(flushDelay)
			select {
			case <-delay.C:
				w.flush(&spare)
			case <-w.stop: // written by the stop case
				delay.Stop()
			case <-w.reopen:
				delay.Stop()
				w.flush(&spare)
				w.closeOutput()
			}
		case <-w.reopen:
			// Lines queued before the signal go to the old file.
			w.flush(&spare)
			w.closeOutput()
		}
	}
}

// flush writes the pending lines, swapping buffers so Line never waits for
// the output.
func (w *Writer) flush(spare *[]byte) {
	w.mu.Lock()
	batch := w.pending
	w.pending = (*spare)[:0]
	w.mu.Unlock()
	writeLines(w.out, batch)
	*spare = batch
}

func (w *Writer) closeOutput() {
	if w.closer != nil {
		w.closer()
	}
}

// writeLines writes whole lines in chunks of at most chunkBytes (a longer
// line goes out in one write of its own), so a line never straddles two
// writes: lumberjack may rotate between two writes, which would leave half
// a line at the end of one file and half at the start of the next.
func writeLines(out io.Writer, b []byte) {
	for len(b) > 0 {
		n := len(b)
		if n > chunkBytes {
			n = bytes.LastIndexByte(b[:chunkBytes], '\n') + 1
			if n == 0 { // one line longer than a chunk
				n = bytes.IndexByte(b, '\n') + 1
				if n == 0 {
					n = len(b)
				}
			}
		}
		_, _ = out.Write(b[:n])
		b = b[n:]
	}
}

// Close writes what is pending and stops the goroutine, or gives up
// waiting when ctx ends.
func (w *Writer) Close(ctx context.Context) error {
	w.once.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		close(w.stop)
	})
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
