package file

import (
	"bytes"
	"errors"
	"io"
	"sync"
)

// ErrNoBudget is returned by Fill when the reader holds no buffer and the
// budget (SetBudget) has none free: read again later.
var ErrNoBudget = errors.New("file buffer budget spent")

const (
	// DefaultBufSize is the read buffer size of a LineReader.
	DefaultBufSize = 256 << 10
	// lineHead is how much of a line LineReader keeps whatever the budget
	// (see spill).
	lineHead = 1 << 10
	// DefaultMaxLineBytes is the default line limit. It exceeds
	// DefaultMaxRecordBytes by room for a CRI or json-file prefix, so that a
	// line that is a single record is cut by the record cap, not the line cap.
	DefaultMaxLineBytes = DefaultMaxRecordBytes + 64<<10
)

// LineReader frames an io.Reader (normally a file being followed) into
// '\n'-terminated lines and tracks the file offset of every line exactly.
//
// It reads into one buffer (from a pool) and carries only the unfinished tail
// of a line from one read to the next. A line longer than the buffer is
// assembled in a second buffer of at most maxLine bytes; a line longer than
// maxLine is returned once, cut to its first maxLine bytes, with its original
// size, and the rest of it is read and skipped without being kept. Memory is
// therefore bounded by bufSize + maxLine per reader.
//
// Lines are returned without their '\n'. A '\r' before the '\n' is kept:
// LineReader is byte-exact framing (len(line) == size, end-start == size+1
// for every line not cut); Decoder removes the '\r' of "\r\n" from records.
//
// A LineReader is not safe for concurrent use. Call Release when done with it
// to return its buffer to the pool.
type LineReader struct {
	rd      io.Reader
	bufSize int
	buf     []byte // read buffer; buf[r:w] is unread data
	r, w    int
	scanned int   // bytes of buf[r:w] already searched for '\n'
	off     int64 // file offset of buf[w], i.e. of the next byte to read
	maxLine int

	// A line that did not fit in buf is spilled into long (at most maxLine
	// bytes kept); spillSize counts all of its bytes seen so far.
	spilling  bool
	long      []byte
	spillSize int

	// Stats, counted locally; the caller publishes them.
	cutLines     int64
	skippedBytes int64

	// mem, when set, is charged for buf (bufHeld) and long (longHeld).
	mem      *Budget
	bufHeld  bool
	longHeld int
}

// SetBudget makes the reader charge its buffers to b: the read buffer while
// it holds one (Fill takes it, Park gives it back) and the buffer of an
// over-long line, which is cut where the budget runs out (its size is still
// counted). Call it before the first Fill.
func (r *LineReader) SetBudget(b *Budget) {
	r.mem = b
	if r.buf != nil && !r.bufHeld && r.r == r.w {
		buf := r.buf[:0]
		bufPool.Put(&buf)
		r.buf = nil
		r.r, r.w, r.scanned = 0, 0, 0
	}
}

var bufPool sync.Pool // of *[]byte

// NewLineReader returns a reader of r whose first byte is at file offset
// startOffset. bufSize <= 0 means DefaultBufSize and maxLine <= 0 means
// DefaultMaxLineBytes. The buffer comes from a pool; call Release to return it.
func NewLineReader(r io.Reader, bufSize, maxLine int, startOffset int64) *LineReader {
	if bufSize <= 0 {
		bufSize = DefaultBufSize
	}
	if maxLine <= 0 {
		maxLine = DefaultMaxLineBytes
	}
	buf := getBuf(bufSize)
	return &LineReader{rd: r, bufSize: bufSize, buf: buf, maxLine: maxLine, off: startOffset}
}

// getBuf returns a read buffer of size bytes from the pool, or a new one.
func getBuf(size int) []byte {
	if p, _ := bufPool.Get().(*[]byte); p != nil {
		if cap(*p) >= size {
			return (*p)[:size]
		}
		bufPool.Put(p)
	}
	return make([]byte, size)
}

// Park returns the read buffer to the pool when nothing is buffered (no
// partial line), and drops the buffer of a past over-long line, so that an
// idle reader holds no memory; the next Fill takes a buffer again. It
// reports whether the reader is parked.
func (r *LineReader) Park() bool {
	if r.spilling || r.r != r.w || r.buf == nil {
		return r.buf == nil
	}
	b := r.buf[:0]
	bufPool.Put(&b)
	r.buf = nil
	r.r, r.w, r.scanned = 0, 0, 0
	r.long = nil
	r.giveBack()
	return true
}

// giveBack returns to the budget what the reader was charged for the
// buffers it no longer holds.
func (r *LineReader) giveBack() {
	if r.bufHeld && r.buf == nil {
		r.mem.GiveRead(r.bufSize)
		r.bufHeld = false
	}
	if r.long == nil && r.longHeld > 0 {
		r.mem.Give(r.longHeld)
		r.longHeld = 0
	}
}

// Release returns the read buffer to the pool. The reader, and every view it
// handed out, must not be used afterwards.
func (r *LineReader) Release() {
	if r.buf != nil && r.bufSize > 0 {
		b := r.buf[:0]
		bufPool.Put(&b)
	}
	r.buf, r.long = nil, nil
	r.giveBack()
	*r = LineReader{}
}

// Reset discards any buffered data and partial line and continues with rd,
// whose next byte is at file offset offset (after a reopen, a seek or a
// truncation). The stats are kept.
func (r *LineReader) Reset(rd io.Reader, offset int64) {
	r.rd = rd
	r.r, r.w, r.scanned = 0, 0, 0
	r.off = offset
	r.spilling = false
	r.long = r.long[:0]
	r.spillSize = 0
}

// Next returns the next complete line without its '\n', its size before it
// was cut to maxLine (size > len(line) only for over-long lines), and the
// file offset just past its '\n'; the line started at end-size-1.
//
// The line is a view valid until the next call to Next, NextBuffered, Fill,
// Reset or Release.
//
// Next returns io.EOF when no complete line is available: the reader hit the
// end of its data in the middle of a line or at a line boundary. The partial
// line stays buffered (see Pending); calling Next again reads on, so a
// follower calls Next again after the file grew. Other read errors are
// returned as they are, also without losing buffered data. Next blocks only
// as long as the underlying Read does.
//
// Next is NextBuffered and Fill in a loop.
func (r *LineReader) Next() (line []byte, size int, end int64, err error) {
	empty := 0
	for {
		if line, size, end, ok := r.NextBuffered(); ok {
			return line, size, end, nil
		}
		n, rerr := r.Fill()
		if rerr != nil {
			if n > 0 {
				// Frame what arrived before reporting the error;
				// the next Read will report it again if it persists.
				continue
			}
			return nil, 0, r.lineStart(), rerr
		}
		if n == 0 {
			if empty++; empty >= 100 {
				return nil, 0, r.lineStart(), io.ErrNoProgress
			}
		} else {
			empty = 0
		}
	}
}

// NextBuffered is Next without reading: it returns the next complete line
// already in the buffer, or ok false when there is none (call Fill). It does
// no I/O, so a caller can frame and process the lines of one read while
// holding a lock it must not hold across a read.
//
// The line is a view valid until the next call to Next, NextBuffered, Fill,
// Reset or Release.
func (r *LineReader) NextBuffered() (line []byte, size int, end int64, ok bool) {
	if r.buf == nil {
		return nil, 0, 0, false // parked: nothing buffered
	}
	if r.spilling {
		if i := bytes.IndexByte(r.buf[r.r:r.w], '\n'); i >= 0 {
			r.spill(r.buf[r.r : r.r+i])
			r.r += i + 1
			r.spilling = false
			line, size = r.long, r.spillSize
			r.noteCut(size)
			return line, size, r.off - int64(r.w-r.r), true
		}
		r.spill(r.buf[r.r:r.w])
		r.r, r.w = 0, 0
		return nil, 0, 0, false
	}
	if i := bytes.IndexByte(r.buf[r.r+r.scanned:r.w], '\n'); i >= 0 {
		i += r.r + r.scanned
		line = r.buf[r.r:i]
		r.r = i + 1
		r.scanned = 0
		size = len(line)
		if size > r.maxLine {
			line = line[:r.maxLine]
			r.noteCut(size)
		}
		return line, size, r.off - int64(r.w-r.r), true
	}
	r.scanned = r.w - r.r
	if r.w-r.r > r.maxLine || (r.r == 0 && r.w == len(r.buf)) {
		// Over-long, or longer than the buffer: move it aside so the
		// buffer can take the rest of the line.
		r.spilling = true
		r.long = r.long[:0]
		r.spillSize = 0
		r.spill(r.buf[r.r:r.w])
		r.r, r.w, r.scanned = 0, 0, 0
	}
	return nil, 0, 0, false
}

// Buffered reports whether NextBuffered has something to do: a complete
// line to return, or part of a line too long for the buffer to move aside
// (without that, a full buffer would take no more reads). It does not
// consume anything.
func (r *LineReader) Buffered() bool {
	if r.buf == nil {
		return false
	}
	if r.spilling {
		return r.w > r.r
	}
	if bytes.IndexByte(r.buf[r.r+r.scanned:r.w], '\n') >= 0 {
		return true
	}
	return r.w-r.r > r.maxLine || (r.r == 0 && r.w == len(r.buf))
}

// Fill reads once from the underlying reader into the buffer, keeping the
// unfinished tail of a line, and returns what Read returned. Call it after
// NextBuffered reported no complete line; views handed out before are no
// longer valid. A Fill on a buffer with no room reads nothing and returns 0,
// nil.
func (r *LineReader) Fill() (int, error) {
	if r.buf == nil {
		if r.mem != nil {
			if !r.mem.TryTakeRead(r.bufSize) {
				return 0, ErrNoBudget
			}
			r.bufHeld = true
		}
		r.buf = getBuf(r.bufSize)
	}
	// Keep the unfinished tail, drop the rest.
	if r.r == r.w {
		r.r, r.w = 0, 0
	} else if r.w == len(r.buf) && r.r > 0 {
		n := copy(r.buf, r.buf[r.r:r.w])
		r.r, r.w = 0, n
	}
	if r.w == len(r.buf) {
		return 0, nil
	}
	n, err := r.rd.Read(r.buf[r.w:])
	if n < 0 || n > len(r.buf)-r.w {
		panic("file: io.Reader returned an invalid count")
	}
	r.w += n
	r.off += int64(n)
	return n, err
}

// ReadOffset returns the file offset of the next byte Fill will read: how far
// the underlying reader has been consumed.
func (r *LineReader) ReadOffset() int64 { return r.off }

// spill appends p to the over-long line, keeping at most maxLine bytes.
//
// Past the budget the line is cut (size says how long it was), but never
// within its first lineHead bytes: they are kept even when the budget is
// spent, taken with Budget.Force. The head is what frames the line: a CRI
// line cut to nothing, or within its prefix, lost its time, stream and "P"
// tag, and became a malformed record outside its "P" sequence (the first
// line of a file made the format detection guess plain). A reader spills
// only while it holds a read buffer, so the overshoot is at most lineHead
// per read buffer the budget lets be taken.
func (r *LineReader) spill(p []byte) {
	r.spillSize += len(p)
	if room := r.maxLine - len(r.long); room > 0 {
		if len(p) > room {
			p = p[:room]
		}
		r.long = r.mem.grow(r.long, len(p), r.maxLine, &r.longHeld)
		if head := min(len(r.long)+len(p), lineHead); cap(r.long) < head {
			r.long = r.mem.force(r.long, head, &r.longHeld)
		}
		if free := cap(r.long) - len(r.long); len(p) > free {
			p = p[:free]
		}
		r.long = append(r.long, p...)
	}
}

func (r *LineReader) noteCut(size int) {
	if size > r.maxLine {
		r.cutLines++
		r.skippedBytes += int64(size - r.maxLine)
	}
}

// lineStart returns the offset of the first byte not yet returned in a line.
func (r *LineReader) lineStart() int64 {
	s := r.off - int64(r.w-r.r)
	if r.spilling {
		s -= int64(r.spillSize)
	}
	return s
}

// Offset returns the file offset just past the last line returned by Next
// (or the start offset): where the pending partial line, if any, begins.
func (r *LineReader) Offset() int64 { return r.lineStart() }

// Pending returns the unterminated partial line buffered after the last
// complete line, if any: its first maxLine bytes, its size so far, and
// Start/End offsets with End == Start+Size (no '\n'). A follower ignores it
// (more may come); a caller closing the file for good may hand it to
// Decoder.Add, which flags the record Incomplete. Data is valid until the next
// call to Next, Reset or Release.
func (r *LineReader) Pending() (Line, bool) {
	start := r.lineStart()
	if r.spilling {
		return Line{Data: r.long, Size: r.spillSize, Start: start, End: start + int64(r.spillSize)}, true
	}
	if r.r == r.w {
		return Line{}, false
	}
	data := r.buf[r.r:r.w]
	size := len(data)
	if size > r.maxLine {
		data = data[:r.maxLine]
	}
	return Line{Data: data, Size: size, Start: start, End: start + int64(size)}, true
}

// Stats returns how many lines were cut to maxLine and how many bytes were
// skipped because of that, since the reader was created.
func (r *LineReader) Stats() (cutLines, skippedBytes int64) {
	return r.cutLines, r.skippedBytes
}
