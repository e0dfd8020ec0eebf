package accesslog

import (
	"bufio"
	"context"
	"io"
	"math"
	"os"
	"sync"
	"sync/atomic"

	"gopkg.in/natefinch/lumberjack.v2"
)

// queueLen bounds the lines waiting to be written. A full queue drops lines
// (counted) rather than making requests wait for the disk.
const queueLen = 8192

// Writer writes log lines from one goroutine, which owns the output. Line
// never blocks. Close stops the goroutine after writing what is queued;
// a line that comes after (a request still in flight when a reload
// retired this writer) is dropped and counted, never a panic.
type Writer struct {
	lines   chan []byte
	reopen  chan struct{}
	stop    chan struct{} // closed by Close
	stopped atomic.Bool
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
	return newWriter(o, queueLen, dropped)
}

func newWriter(o Output, n int, dropped func()) *Writer {
	w := &Writer{lines: make(chan []byte, n), reopen: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), dropped: dropped}
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
	go w.run()
	return w
}

// Line queues one line (with its newline); w keeps it.
func (w *Writer) Line(b []byte) {
	if w.stopped.Load() {
		if w.dropped != nil {
			w.dropped()
		}
		return
	}
	select {
	case w.lines <- b:
	default:
		if w.dropped != nil {
			w.dropped()
		}
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
	bw := bufio.NewWriterSize(w.out, 64<<10)
	for {
		select {
		case <-w.stop:
			for n := len(w.lines); n > 0; n-- {
				writeWhole(bw, <-w.lines)
			}
			bw.Flush()
			if w.closer != nil {
				w.closer()
			}
			return
		case b := <-w.lines:
			writeWhole(bw, b)
			// Flush when nothing else waits, so lines reach the file
			// promptly but a burst is one write.
			if len(w.lines) == 0 {
				bw.Flush()
			}
		case <-w.reopen:
			// Lines queued before the signal go to the old file.
			for n := len(w.lines); n > 0; n-- {
				writeWhole(bw, <-w.lines)
			}
			bw.Flush()
			if w.closer != nil {
				w.closer()
			}
		}
	}
}

// writeWhole buffers one line so that it never straddles two writes to
// the output: bufio would fill its buffer with the line's head and flush,
// and lumberjack may rotate between the two writes, leaving half a line
// at the end of one file and half at the start of the next.
func writeWhole(bw *bufio.Writer, line []byte) {
	if bw.Available() < len(line) {
		bw.Flush()
	}
	// A line longer than the buffer goes out in one write of its own.
	bw.Write(line)
}

// Close writes what is queued and stops the goroutine, or gives up
// waiting when ctx ends.
func (w *Writer) Close(ctx context.Context) error {
	w.once.Do(func() { w.stopped.Store(true); close(w.stop) })
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
