package file

import (
	"sync"
	"sync/atomic"
)

// DefaultBufferBytes is the default memory budget of the file input's
// buffers (Config.BufferBytes): 16 read buffers (half of it, see
// TryTakeRead) and 4 MiB or more for records being assembled. The shipper takes it out of
// its --buffer-bytes, so that one budget bounds the process's memory
// whichever inputs run; more files than it has read buffers for are read
// in turn (a file waits a poll interval, the file is its own buffer).
const DefaultBufferBytes = 8 << 20

// Budget caps the bytes of the file input's buffers, all files together:
// read buffers (LineReader), over-long lines being assembled (LineReader's
// spill buffer), pieces being joined (CRI "P", json-file) and multiline
// groups (Decoder), json-file unescaping. A nil *Budget is unlimited.
//
// Full policies, by buffer:
//   - a read buffer is taken before a read (TryTakeRead) and given back
//     when the file is idle (GiveRead): when the budget is spent, or read
//     buffers hold half of it already, the file is read later (the
//     harvester waits a poll interval; the file is its own buffer, nothing
//     is lost). Read buffers never take more than half of the budget, so
//     that they cannot leave records being assembled without room: with
//     every byte in read buffers, a CRI record split in P pieces was cut
//     although it was a hundred bytes long;
//   - a buffer that grows inside a record (spill, join, multiline) takes
//     what it needs with TryTake; when the budget is spent the record is
//     cut where it is and flagged truncated, with its original size: a
//     record is never waited for, since the lock-free framing of a read must
//     not block. The first bytes of a line longer than the read buffer
//     (its CRI prefix, see LineReader.spill) are kept all the same (Force):
//     cut within them, the line could not be framed;
//   - json-file unescaping is charged after the fact (Force): it is at most
//     one line and given back at once when the budget is over.
//
// All methods are safe for concurrent use and never block.
type Budget struct {
	max   int64
	used  atomic.Int64
	peak  atomic.Int64
	reads int64      // held by read buffers (TryTakeRead), under mu
	mu    sync.Mutex // serializes the check-and-take of TryTake
}

// NewBudget returns a budget of max bytes; max <= 0 means unlimited (nil).
func NewBudget(max int64) *Budget {
	if max <= 0 {
		return nil
	}
	return &Budget{max: max}
}

// TryTake takes n bytes if they are free and reports whether it did.
func (b *Budget) TryTake(n int) bool {
	if b == nil || n <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used.Load()+int64(n) > b.max {
		return false
	}
	b.note(b.used.Add(int64(n)))
	return true
}

// TryTakeRead takes n bytes for a read buffer if they are free and read
// buffers hold at most half of the budget with them (one read buffer is
// always allowed when the budget has room for it), and reports whether it
// did. Give them back with GiveRead.
func (b *Budget) TryTakeRead(n int) bool {
	if b == nil || n <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.reads > 0 && b.reads+int64(n) > b.max/2 || b.used.Load()+int64(n) > b.max {
		return false
	}
	b.reads += int64(n)
	b.note(b.used.Add(int64(n)))
	return true
}

// GiveRead returns n bytes of a read buffer taken with TryTakeRead.
func (b *Budget) GiveRead(n int) {
	if b == nil || n <= 0 {
		return
	}
	b.mu.Lock()
	b.reads -= int64(n)
	b.mu.Unlock()
	b.Give(n)
}

// Force takes n bytes even beyond the budget (memory already allocated, or
// a few bytes that must be kept).
func (b *Budget) Force(n int) {
	if b == nil || n <= 0 {
		return
	}
	b.note(b.used.Add(int64(n)))
}

// Over reports whether more than the budget is taken.
func (b *Budget) Over() bool { return b != nil && b.used.Load() > b.max }

// Give returns n bytes.
func (b *Budget) Give(n int) {
	if b == nil || n <= 0 {
		return
	}
	if b.used.Add(-int64(n)) < 0 {
		panic("file: buffer budget given back more than was taken")
	}
}

// Used returns the bytes taken now, and the most ever taken at once.
func (b *Budget) Used() (now, peak int64) {
	if b == nil {
		return 0, 0
	}
	return b.used.Load(), b.peak.Load()
}

// Max returns the budget's size (0: unlimited).
func (b *Budget) Max() int64 {
	if b == nil {
		return 0
	}
	return b.max
}

func (b *Budget) note(used int64) {
	for {
		p := b.peak.Load()
		if used <= p || b.peak.CompareAndSwap(p, used) {
			return
		}
	}
}

// grow returns buf with room for n more bytes, at most limit in all,
// charging the growth of its capacity to b (*held counts what buf holds).
// When the budget is spent, the room is what is free: the caller keeps what
// fits and cuts the rest.
func (b *Budget) grow(buf []byte, n, limit int, held *int) []byte {
	need := min(len(buf)+n, limit)
	if need <= cap(buf) {
		return buf
	}
	if b == nil {
		return growCap(buf, need, limit)
	}
	newCap := min(max(2*cap(buf), need, 4<<10), limit)
	for newCap > cap(buf) {
		if b.TryTake(newCap - *held) {
			nb := make([]byte, len(buf), newCap)
			copy(nb, buf)
			*held = newCap
			return nb
		}
		if newCap == need {
			break
		}
		newCap = need
	}
	return buf
}

// force returns buf with a capacity of need bytes (more than it has),
// charging the growth to b even beyond the budget (*held counts what buf
// holds): for the few bytes that are kept whatever the budget (the head of
// a line, see LineReader.spill).
func (b *Budget) force(buf []byte, need int, held *int) []byte {
	nb := make([]byte, len(buf), need)
	copy(nb, buf)
	if b != nil {
		b.Force(need - *held)
		*held = need
	}
	return nb
}

// growCap returns buf with a capacity of at least need (at most limit).
func growCap(buf []byte, need, limit int) []byte {
	newCap := min(max(2*cap(buf), need), limit)
	nb := make([]byte, len(buf), newCap)
	copy(nb, buf)
	return nb
}
