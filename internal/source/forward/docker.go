package forward

import (
	"bytes"
	"encoding/binary"
	"unicode/utf8"
)

// DockerFields are the string values of the keys Docker's fluentd log driver
// writes (moby daemon/logger/fluentd). They are views into the record passed to
// ScanDocker, valid as long as it is. A key that is absent, or whose value is
// not a str, leaves its field nil.
type DockerFields struct {
	Log, ContainerID, ContainerName, Source                []byte
	PartialMessage, PartialID, PartialOrdinal, PartialLast []byte
	// IsDocker is set when the record has a "log" key with a str value.
	IsDocker bool
	// Others counts the members whose key is not one of the above as a str
	// (the --log-opt labels and env attributes): with none,
	// appendLabels has nothing to add.
	Others int
}

// Partial reports whether the record is one piece of a line Docker split
// (partial_message "true").
func (f *DockerFields) Partial() bool { return string(f.PartialMessage) == "true" }

// Last reports whether the record is the last piece of a split line
// (partial_last "true").
func (f *DockerFields) Last() bool { return string(f.PartialLast) == "true" }

// ScanDocker fills f from the msgpack map record, without allocating. It
// returns an error when record is not a well-formed map.
func ScanDocker(record []byte, f *DockerFields) error {
	*f = DockerFields{}
	h, err := readHdr(record)
	if err != nil {
		return errRecordShort
	}
	if h.k != kMap {
		return errNotMap
	}
	off := h.size
	for i := 0; i < h.n; i++ {
		// The common member, a str key and a str value, is read without
		// the general header decoding.
		if ks, ke, ok := strAt(record, off); ok {
			if vs, ve, ok := strAt(record, ke); ok {
				f.set(record[ks:ke], record[vs:ve])
				off = ve
				continue
			}
		}
		kh, err := readHdr(record[off:])
		if err != nil || kh.end() > len(record)-off {
			return errRecordShort
		}
		var key []byte
		if kh.k == kStr {
			key = record[off+kh.size : off+kh.end()]
		}
		if off, err = next(record, off, &kh); err != nil {
			return err
		}
		vh, err := readHdr(record[off:])
		if err != nil || vh.end() > len(record)-off {
			return errRecordShort
		}
		var val []byte
		if vh.k == kStr {
			val = record[off+vh.size : off+vh.end()]
		}
		if off, err = next(record, off, &vh); err != nil {
			return err
		}
		if val == nil {
			if key == nil || !DockerKey(key) {
				f.Others++
			}
			continue
		}
		f.set(key, val)
	}
	if off != len(record) {
		return errTrailing
	}
	return nil
}

// set records the str value val of the member key (nil when the key is not
// a str).
func (f *DockerFields) set(key, val []byte) {
	switch string(key) {
	case "log":
		f.Log, f.IsDocker = val, true
	case "container_id":
		f.ContainerID = val
	case "container_name":
		f.ContainerName = val
	case "source":
		f.Source = val
	case "partial_message":
		f.PartialMessage = val
	case "partial_id":
		f.PartialID = val
	case "partial_ordinal":
		f.PartialOrdinal = val
	case "partial_last":
		f.PartialLast = val
	default:
		f.Others++
	}
}

// The keys ScanDocker extracts, numbered for decodeMessage, which reads a
// record's keys without branching on which key comes (Docker's driver writes
// them in map order, a different one for each record): slot 0 is any other
// key.
var dockerSlotKeys = [dockerSlots]string{"", "log", "container_id", "container_name", "source",
	"partial_message", "partial_id", "partial_ordinal", "partial_last"}

const dockerSlots = 9

var (
	// dockerSlotWords is each slot's key as keyWords reads it; slot 0
	// matches nothing.
	dockerSlotWords [16]struct {
		lo, hi uint64
		n      int
	}
	dockerSlotOf [32]uint8 // slot by keyHash; a key with another hash is slot 0
	// loMask[n] and hiMask[n] keep the first n bytes of a key of 16 bytes
	// read as two little-endian words.
	loMask, hiMask [16]uint64
)

func init() {
	for n := range loMask {
		loMask[n] = 1<<(8*min(n, 8)) - 1
		if n >= 8 {
			loMask[n] = ^uint64(0)
		}
		hiMask[n] = 1<<(8*max(n-8, 0)) - 1
	}
	for s := range dockerSlotWords {
		dockerSlotWords[s].n = -1
	}
	for s := 1; s < dockerSlots; s++ {
		k := dockerSlotKeys[s]
		b := make([]byte, 16)
		copy(b, k)
		lo, hi := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
		w := &dockerSlotWords[s]
		w.lo, w.hi, w.n = lo, hi, len(k)
		h := keyHash(lo, hi)
		if dockerSlotOf[h] != 0 {
			panic("forward: Docker keys " + k + " and " + dockerSlotKeys[dockerSlotOf[h]] + " hash alike")
		}
		dockerSlotOf[h] = uint8(s)
	}
}

// keyHash tells the Docker keys apart (init checks it).
func keyHash(lo, hi uint64) uint { return uint((lo ^ hi) * 0xff51afd7ed558ccd >> 59) }

// dockerKeySlot returns the slot of key.
func dockerKeySlot(key []byte) int {
	for s := 1; s < dockerSlots; s++ {
		if string(key) == dockerSlotKeys[s] {
			return s
		}
	}
	return 0
}

// strHeads describes, by first byte, the header of a str: its size in the
// low byte (0: not a str), and where its length is in the 8 bytes at the
// header's start read as a big-endian word: shifted right by the second
// byte, masked by the high 32 bits. With it a str's bounds are read without
// branching on its kind (fixstr and str8 values alternate in a Docker
// record: a branch on the kind mispredicts).
var strHeads = func() (t [256]uint64) {
	head := func(size, shift, mask uint64) uint64 { return size | shift<<8 | mask<<32 }
	for c := 0xa0; c <= 0xbf; c++ {
		t[c] = head(1, 56, 0x1f)
	}
	t[0xd9] = head(2, 48, 0xff)
	t[0xda] = head(3, 40, 0xffff)
	t[0xdb] = head(5, 24, 0xffffffff)
	return t
}()

// strAt returns the bounds of the content of the str (fixstr, str8, str16 or
// str32) at b[off], when there is one and it ends inside b.
func strAt(b []byte, off int) (start, end int, ok bool) {
	if off >= len(b) {
		return 0, 0, false
	}
	var n int
	switch c := b[off]; {
	case c >= 0xa0 && c <= 0xbf:
		start, n = off+1, int(c&0x1f)
	case c == 0xd9 && off+2 <= len(b):
		start, n = off+2, int(b[off+1])
	case c == 0xda && off+3 <= len(b):
		start, n = off+3, int(binary.BigEndian.Uint16(b[off+1:]))
	case c == 0xdb && off+5 <= len(b):
		start, n = off+5, int(binary.BigEndian.Uint32(b[off+1:]))
	default:
		return 0, 0, false
	}
	if n > len(b)-start {
		return 0, 0, false
	}
	return start, start + n, true
}

// DockerKey reports whether key is one of the keys ScanDocker extracts; use
// it as AppendOtherMembers' skip function to render only the extra attributes
// (labels, env).
func DockerKey(key []byte) bool {
	switch string(key) {
	case "log", "container_id", "container_name", "source",
		"partial_message", "partial_id", "partial_ordinal", "partial_last":
		return true
	}
	return false
}

// Defaults for Joiner.
const (
	DefaultMaxLineBytes = 1 << 20
	DefaultMaxPending   = 8
)

// Line is a log line out of a Joiner: a whole record passed through, or
// pieces of a split line joined.
type Line struct {
	// Time is the record's time (for a joined line, the first piece's;
	// Docker gives every piece the first piece's timestamp anyway).
	Time int64
	// Log is the line: Fields.Log for a whole record, the joined pieces
	// (possibly truncated) otherwise. Fields.Log is set to Log too.
	Log []byte
	// Record is the msgpack record, for a joined line the first piece's; use
	// it with AppendOtherMembers(dst, Record, DockerKey) for the extra
	// attributes. Fields are views into Record (except Log); they are the
	// Joiner's or Add's caller's, valid, like the Line, only during the
	// emit call.
	Record []byte
	Fields *DockerFields
	// Size is the line's length before truncation; Size > len(Log) means
	// the line was truncated to MaxLineBytes.
	Size int
	// Pieces is how many records made the line (1 for a whole record).
	Pieces int
	// Incomplete is set for a split line emitted without its last piece:
	// the stream ended mid-line (Docker then never sends partial_last
	// "true"), a new line started, FlushIdle/Flush was called, or too many
	// lines were pending; and for the parts of a line shipped in pieces
	// because a Server's buffer budget had no room to join it.
	Incomplete bool
}

// Truncated reports whether Log is shorter than the line was.
func (l *Line) Truncated() bool { return l.Size > len(l.Log) }

// Joiner reassembles the lines Docker splits into partial messages (pieces of
// 16 KiB carrying partial_message "true", partial_id, partial_ordinal from
// "1", partial_last "true"/"false"). Use one per connection. Pieces are
// keyed by container_id and source: stdout and stderr are copied by separate
// goroutines in Docker and can interleave on one connection.
//
// A Joiner never drops text: a line longer than MaxLineBytes is truncated
// (Line.Size tells) and a line that never gets its last piece is emitted
// incomplete when the next record of the same key is not its continuation,
// when FlushIdle finds it idle, when Flush is called (at connection end), or
// when more than MaxPending lines are pending.
//
// Acks: Docker with fluentd-request-ack waits for the ack of each piece
// before sending the next, so a server must ack pieces once they are held by
// the Joiner, not once the joined line is delivered, or it deadlocks; held
// pieces are lost if the process dies before Flush.
//
// The zero value is ready to use. Not safe for concurrent use.
type Joiner struct {
	// MaxLineBytes caps a joined line (default DefaultMaxLineBytes).
	MaxLineBytes int
	// MaxPending caps the lines being joined at once (default
	// DefaultMaxPending); beyond it the least recently extended is emitted.
	MaxPending int

	slots     []*pending
	out       Line
	outFields DockerFields // of a joined line

	// mem, when set, lends the capacity of the slots' buffers beyond
	// joinFreeBytes (caps in all, held of it taken), only when it is free
	// at once: otherwise the line is shipped in pieces, flagged Incomplete.
	// A Joiner holding budget is flushed before its connection waits for
	// more (see bufferBudget).
	mem  *bufferBudget
	caps int
	held int
}

// joinFreeBytes is the memory of lines being joined a Joiner with a budget
// keeps without asking it: a line of a few 16 KiB Docker pieces.
const joinFreeBytes = 64 << 10

type pending struct {
	active   bool
	id       []byte // partial_id; empty for Docker before partial ids
	key      []byte // container_id + 0 + source
	keyLen   int    // len(container_id)
	record   []byte // copy of the first piece's record
	log      []byte
	time     int64
	size     int
	pieces   int
	cut      bool // the line's start was shipped already (no budget to join)
	lastSeen int64
}

func (j *Joiner) maxLine() int {
	if j.MaxLineBytes > 0 {
		return j.MaxLineBytes
	}
	return DefaultMaxLineBytes
}

func (j *Joiner) maxPending() int {
	if j.MaxPending > 0 {
		return j.MaxPending
	}
	return DefaultMaxPending
}

// Pending returns the number of lines waiting for more pieces.
func (j *Joiner) Pending() int {
	n := 0
	for _, p := range j.slots {
		if p.active {
			n++
		}
	}
	return n
}

// OldestPiece returns the smallest now given to Add among the newest pieces
// of the pending lines, so the caller can schedule FlushIdle; ok is false when
// nothing is pending.
func (j *Joiner) OldestPiece() (now int64, ok bool) {
	for _, p := range j.slots {
		if p.active && (!ok || p.lastSeen < now) {
			now, ok = p.lastSeen, true
		}
	}
	return now, ok
}

// Add offers one record: its time t, its msgpack bytes and the fields
// ScanDocker found in it; now is the caller's clock (any unit, for
// FlushIdle). Add calls emit zero, one or two times, in order; the Line and
// its views are valid only during the call. emit's error stops Add and is
// returned (a line then may be lost only if the caller gives up on the
// connection). Store emit in a variable once rather than making a new
// closure per call, to keep Add free of allocations.
//
// A record that is not partial (including non-Docker records) is emitted
// as is, after any pending line of the same key. A partial piece is held,
// copied, until its line completes.
func (j *Joiner) Add(now, t int64, record []byte, f *DockerFields, emit func(*Line) error) error {
	if !f.IsDocker {
		return j.emitWhole(t, record, f, emit)
	}
	p := j.find(f)
	if !f.Partial() {
		if p != nil {
			if len(p.id) == 0 {
				// Docker before partial ids (inferred, not verified on a
				// running system): pieces carry only partial_message and
				// the last piece carries none, so this record ends the line.
				if !j.appendPiece(p, f.Log, now) {
					if err := j.emitPending(p, true, emit); err != nil {
						return err
					}
					return j.emitPiece(t, record, f, emit)
				}
				return j.emitPending(p, false, emit)
			}
			if err := j.emitPending(p, true, emit); err != nil {
				return err
			}
		}
		return j.emitWhole(t, record, f, emit)
	}
	if p != nil && !bytes.Equal(p.id, f.PartialID) {
		if err := j.emitPending(p, true, emit); err != nil {
			return err
		}
		p = nil
	}
	if p == nil {
		var err error
		if p, err = j.slot(emit); err != nil {
			return err
		}
		if !j.start(p, t, record, f) {
			return j.emitPiece(t, record, f, emit)
		}
	}
	if !j.appendPiece(p, f.Log, now) {
		// No budget for a longer line: ship what is joined so far and go
		// on with this piece.
		if err := j.emitPending(p, true, emit); err != nil {
			return err
		}
		if !j.start(p, t, record, f) || !j.appendPiece(p, f.Log, now) {
			p.active = false
			j.drop(p)
			return j.emitPiece(t, record, f, emit)
		}
		p.cut = true
	}
	if f.Last() {
		return j.emitPending(p, false, emit)
	}
	return nil
}

// start makes p the pending line that record, a partial piece, begins.
// false: the budget has no room for it.
func (j *Joiner) start(p *pending, t int64, record []byte, f *DockerFields) bool {
	p.id, p.key, p.record, p.log = p.id[:0], p.key[:0], p.record[:0], p.log[:0]
	if j.mem != nil && !(j.room(&p.id, len(f.PartialID), 0) && j.room(&p.key, len(f.ContainerID)+1+len(f.Source), 0) &&
		j.room(&p.record, len(record), 0)) {
		j.drop(p)
		return false
	}
	p.active = true
	p.id = append(p.id, f.PartialID...)
	p.key = append(append(append(p.key, f.ContainerID...), 0), f.Source...)
	p.keyLen = len(f.ContainerID)
	p.record = append(p.record, record...)
	p.time, p.size, p.pieces, p.cut = t, 0, 0, false
	return true
}

// room makes *b, one of a slot's buffers, able to take n more bytes without
// growing past max(len+n, limit). With a budget, the capacity of all slots
// beyond joinFreeBytes must be free in it at once; false when it is not.
// Without one, append grows the buffer.
func (j *Joiner) room(b *[]byte, n, limit int) bool {
	if j.mem == nil || len(*b)+n <= cap(*b) {
		return true
	}
	newCap := max(len(*b)+n, min(2*cap(*b), limit))
	if !j.account(newCap - cap(*b)) {
		return false
	}
	nb := make([]byte, len(*b), newCap)
	copy(nb, *b)
	*b = nb
	return true
}

// account adds delta to the capacity of the slots' buffers, taking or giving
// back budget for what passes joinFreeBytes; false, changing nothing, when
// the budget has no room.
func (j *Joiner) account(delta int) bool {
	caps := j.caps + delta
	want := max(caps-joinFreeBytes, 0)
	if want > j.held && !j.mem.tryAcquire(int64(want-j.held), false) {
		return false
	}
	if want < j.held {
		j.mem.release(int64(j.held-want), false)
	}
	j.caps, j.held = caps, want
	return true
}

// drop lets p's buffers go when the Joiner holds budget, so that what an
// inactive slot keeps never needs any.
func (j *Joiner) drop(p *pending) {
	if j.mem == nil || j.held == 0 {
		return
	}
	n := cap(p.id) + cap(p.key) + cap(p.record) + cap(p.log)
	p.id, p.key, p.record, p.log = nil, nil, nil, nil
	j.account(-n)
}

// discard forgets the pending lines without emitting them, and gives back
// the budget they held.
func (j *Joiner) discard() {
	_ = j.Flush(func(*Line) error { return nil })
}

// FlushIdle emits, as incomplete, the pending lines whose newest piece came
// with a now at or before cutoff.
func (j *Joiner) FlushIdle(cutoff int64, emit func(*Line) error) error {
	for _, p := range j.slots {
		if p.active && p.lastSeen <= cutoff {
			if err := j.emitPending(p, true, emit); err != nil {
				return err
			}
		}
	}
	return nil
}

// Flush emits every pending line as incomplete, e.g. when the connection
// ends.
func (j *Joiner) Flush(emit func(*Line) error) error {
	for _, p := range j.slots {
		if p.active {
			if err := j.emitPending(p, true, emit); err != nil {
				return err
			}
		}
	}
	return nil
}

func (j *Joiner) find(f *DockerFields) *pending {
	for _, p := range j.slots {
		if p.active && p.keyLen == len(f.ContainerID) && len(p.key) == len(f.ContainerID)+1+len(f.Source) &&
			bytes.Equal(p.key[:p.keyLen], f.ContainerID) && bytes.Equal(p.key[p.keyLen+1:], f.Source) {
			return p
		}
	}
	return nil
}

// slot returns a free slot, emitting the least recently extended line when
// all MaxPending are in use.
func (j *Joiner) slot(emit func(*Line) error) (*pending, error) {
	var oldest *pending
	for _, p := range j.slots {
		if !p.active {
			return p, nil
		}
		if oldest == nil || p.lastSeen < oldest.lastSeen {
			oldest = p
		}
	}
	if len(j.slots) < j.maxPending() {
		p := new(pending)
		j.slots = append(j.slots, p)
		return p, nil
	}
	return oldest, j.emitPending(oldest, true, emit)
}

// appendPiece adds piece to p's line; false, changing nothing, when the
// budget has no room for it.
func (j *Joiner) appendPiece(p *pending, piece []byte, now int64) bool {
	size := len(piece)
	room := j.maxLine() - len(p.log)
	truncated := p.size > len(p.log) || room <= 0 // already: keep counting only
	if !truncated && len(piece) > room {
		// Cut before a rune that would straddle the limit.
		cut := room
		for k := 0; k < utf8.UTFMax-1 && cut > 0 && !utf8.RuneStart(piece[cut]); k++ {
			cut--
		}
		piece = piece[:cut]
	}
	if !truncated && !j.room(&p.log, len(piece), j.maxLine()) {
		return false
	}
	p.pieces++
	p.lastSeen = now
	p.size += size
	if !truncated {
		p.log = append(p.log, piece...)
	}
	return true
}

func (j *Joiner) emitPending(p *pending, incomplete bool, emit func(*Line) error) error {
	p.active = false
	l := &j.out
	*l = Line{Time: p.time, Log: p.log, Record: p.record, Fields: &j.outFields, Size: p.size, Pieces: p.pieces, Incomplete: incomplete || p.cut}
	_ = ScanDocker(p.record, l.Fields) // scanned once already
	l.Fields.Log = p.log
	err := emit(l)
	j.drop(p)
	return err
}

// emitPiece emits one partial piece on its own, flagged Incomplete: the
// budget had no room to join it.
func (j *Joiner) emitPiece(t int64, record []byte, f *DockerFields, emit func(*Line) error) error {
	l := &j.out
	*l = Line{Time: t, Log: f.Log, Record: record, Fields: f, Size: len(f.Log), Pieces: 1, Incomplete: true}
	return emit(l)
}

func (j *Joiner) emitWhole(t int64, record []byte, f *DockerFields, emit func(*Line) error) error {
	return emit(j.whole(t, record, f))
}

// passes reports whether Add would pass the record with f through whole,
// as the Line whole returns: a record that is not Docker's, or one that is
// not a piece, with no line pending for its container and stream.
func (j *Joiner) passes(f *DockerFields) bool {
	return !f.IsDocker || !f.Partial() && (len(j.slots) == 0 || j.find(f) == nil)
}

// whole returns the Line of a record passed through whole, valid until the
// next call.
func (j *Joiner) whole(t int64, record []byte, f *DockerFields) *Line {
	// Member by member: a composite literal is built aside and copied in,
	// for every record Docker's driver sends.
	l := &j.out
	l.Time, l.Log, l.Record, l.Fields, l.Size, l.Pieces, l.Incomplete = t, f.Log, record, f, len(f.Log), 1, false
	return l
}
