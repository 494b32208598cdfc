// Package forward is the Fluent Forward protocol v1 input: the request
// decoder (msgpack and JSON connections), the rendering of msgpack records as
// JSON document members, Docker fluentd-driver helpers (field scan, partial
// line joining), and Server, which accepts connections (TCP, unix socket,
// TLS, shared-key handshake, UDP heartbeat), encodes records into pipeline
// batches and acknowledges requests once their records are delivered.
//
// Spec: https://github.com/fluent/fluentd/wiki/Forward-Protocol-Specification-v1
package forward

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/klauspost/compress/gzip"
)

// Default limits, used for zero fields of Limits.
const (
	DefaultMaxRequestBytes      = 16 << 20
	DefaultMaxDecompressedBytes = 64 << 20
	DefaultMaxRecordsPerRequest = 1 << 18
)

// Scratch memory above these sizes is released at the start of the next
// Decode (and by a Server's connection as soon as the request is handled), so
// one huge request does not pin memory for the connection's life.
const (
	retainScratchBytes = 4 << 20
	retainEntries      = 1 << 12
	// keepZBytes is the decompression buffer a Decoder with a scratch
	// budget keeps as its own; larger ones are lent by the budget for one
	// request.
	keepZBytes = 64 << 10
)

// Limits bound what one request may cost. Zero fields take the defaults.
type Limits struct {
	// MaxRequestBytes bounds the encoded size of one top-level value. A
	// value that declares (or turns out) to be larger fails as soon as that
	// is known, before it is buffered.
	MaxRequestBytes int
	// MaxDecompressedBytes bounds the gzip-decompressed entries of one
	// CompressedPackedForward request; a gzip bomb fails at this size.
	MaxDecompressedBytes int
	// MaxRecordsPerRequest bounds the entries of one request, counting the
	// skipped ones.
	MaxRecordsPerRequest int
}

func (l Limits) withDefaults() Limits {
	if l.MaxRequestBytes <= 0 {
		l.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if l.MaxDecompressedBytes <= 0 {
		l.MaxDecompressedBytes = DefaultMaxDecompressedBytes
	}
	if l.MaxRecordsPerRequest <= 0 {
		l.MaxRecordsPerRequest = DefaultMaxRecordsPerRequest
	}
	return l
}

// Mode is the request shape (Forward protocol v1, "Event Modes").
type Mode uint8

const (
	ModeNone                    Mode = iota // heartbeat or ignored value
	ModeMessage                             // [tag, time, record, option?]
	ModeForward                             // [tag, [[time, record]...], option?]
	ModePackedForward                       // [tag, bin|str stream of entries, option?]
	ModeCompressedPackedForward             // PackedForward with compressed="gzip"
)

func (m Mode) String() string {
	switch m {
	case ModeMessage:
		return "Message"
	case ModeForward:
		return "Forward"
	case ModePackedForward:
		return "PackedForward"
	case ModeCompressedPackedForward:
		return "CompressedPackedForward"
	}
	return "none"
}

// RecordFormat says how Entry.Record is encoded.
type RecordFormat uint8

const (
	// MsgpackRecord: Entry.Record is one msgpack map; see AppendRecordJSON,
	// ScanDocker and AppendOtherMembers.
	MsgpackRecord RecordFormat = iota
	// JSONRecord: Entry.Record is one JSON object, braces included, checked
	// to be syntactically valid JSON (but not for valid UTF-8 or unique
	// keys); see JSONObjectMembers.
	JSONRecord
)

// Request is one decoded top-level value of a Forward connection.
//
// All slices are views into the buffer passed to Decode or DecodeJSON, or into
// the Decoder's scratch memory (decompressed entries, unescaped JSON tag).
// They are valid until the next call of any Decoder method and as long as
// that buffer is not modified.
type Request struct {
	Mode   Mode
	Format RecordFormat
	// Tag is the raw tag string (not checked for valid UTF-8).
	Tag []byte
	// Chunk is the "chunk" option, raw string bytes, or nil when the client
	// wants no ack. The ack must echo it: see AppendAck and AppendJSONAck.
	// In JSON mode it is the string literal's contents as sent (escapes
	// not decoded), which is what AppendJSONAck writes back.
	Chunk []byte
	// Entries are the events in request order. Entries whose record is nil
	// are skipped silently, as Fluentd does.
	Entries []Entry
	// Invalid counts entries dropped because they were not [time, record]
	// or their record was neither a map nor nil.
	Invalid int
	// BadTime counts entries whose time could not be read (wrong type, out
	// of range); their Time is 0.
	BadTime int
	// Heartbeat is set for a bare nil: the TCP keep-alive. No reply.
	Heartbeat bool
	// Ignored is set for a top-level value that is not an array (the spec
	// says to ignore it). No reply.
	Ignored bool

	// docker, when set, is what ScanDocker finds in the record of the one
	// entry (see Decoder.decodeMessage); valid as long as Entries.
	docker *DockerFields
}

// Entry is one event.
type Entry struct {
	// Time is Unix nanoseconds: integer seconds × 1e9, or EventTime seconds
	// and nanoseconds (also accepted: float seconds, the msgpack timestamp
	// extension -1, nil). 0 means "no usable time": the caller uses its
	// clock (Fluentd replaces a time of 0 with now, too). Negative values,
	// times before 1970, are passed through.
	Time int64
	// Record is the raw record: a msgpack map, or a JSON object when
	// Request.Format is JSONRecord.
	Record []byte
	// Meta is the raw msgpack metadata of Fluent Bit's [time, metadata]
	// time form, nil otherwise.
	Meta []byte
}

// Error classes, for errors.Is. Every error that Decode and DecodeJSON return
// besides ErrShortBuffer matches exactly one of them.
var (
	// ErrShortBuffer: the buffer ends inside a value; read more and call
	// again with the same bytes plus the new ones.
	ErrShortBuffer = errors.New("forward: short buffer")
	// ErrMalformed: the bytes are not a well-formed Forward request.
	ErrMalformed = errors.New("malformed forward request")
	// ErrUnsupported: well-formed, but asks for something we do not do
	// (metrics/traces signals, unknown compression).
	ErrUnsupported = errors.New("unsupported forward request")
	// ErrLimit: the request exceeds one of the Limits.
	ErrLimit = errors.New("forward request over limit")
)

type limitError struct {
	what       string
	limit, got int
}

func (e *limitError) Error() string {
	return fmt.Sprintf("%s: %s of at least %d exceeds the limit of %d", ErrLimit, e.what, e.got, e.limit)
}

func (e *limitError) Is(target error) bool { return target == ErrLimit }

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}

// Decoder decodes the requests of one connection. It keeps the scan position
// of an incomplete request between calls and reuses its scratch memory, so
// steady-state decoding does not allocate. A Decoder is not safe for
// concurrent use; use one per connection.
type Decoder struct {
	lim     Limits
	fr      frame
	entries []Entry
	zbuf    []byte // decompressed entries
	gz      *gzip.Reader
	zr      bytes.Reader
	probe   [1]byte
	tagBuf  []byte
	seen    int // entries looked at in the current request, for the limit
	// maxBatch, when not 0, bounds the entries decoded at once (see More).
	maxBatch int
	it       entryIter

	// mem, when set, lends zbuf beyond keepZBytes: zheld bytes of it are
	// taken, and zkeep is the Decoder's own buffer meanwhile.
	mem   scratchBudget
	zheld int
	zkeep []byte

	docker   DockerFields // see decodeMessage
	slots    [16]*[]byte  // by slot; 9 to 15 are never used
	otherVal []byte
	noFast   bool // tests: decode every request the general way
	// plain: the last request was decodeMessage's, which left nothing to
	// release but seen (the Decoder was released before it).
	plain bool
}

// scratchBudget lends a Decoder the memory of decompressed entries larger
// than keepZBytes; a Server's connection, see bufferBudget.
type scratchBudget interface {
	// acquireScratch takes n bytes, waiting until they are free; the
	// Decoder holds none when it calls it.
	acquireScratch(n int) error
	// tryScratch takes n bytes if they are free now.
	tryScratch(n int) bool
	releaseScratch(n int)
}

// errNoRoom: no budget free to grow a buffer without waiting.
var errNoRoom = errors.New("no buffer budget free")

// NewDecoder returns a Decoder with the given limits (zero fields take the
// defaults).
func NewDecoder(lim Limits) *Decoder {
	return &Decoder{lim: lim.withDefaults()}
}

// Limits returns the limits in effect.
func (d *Decoder) Limits() Limits { return d.lim }

// Reset forgets a partly scanned request, e.g. before reusing the Decoder for
// another connection.
func (d *Decoder) Reset() { d.fr.reset() }

// Need returns, after Decode returned ErrShortBuffer, the least len(buf) at
// which the next call can make progress. It lets the caller grow its buffer
// once for a large str or bin instead of once per read.
func (d *Decoder) Need() int { return d.fr.need }

// pending describes the unfinished request at the start of buf after Decode
// returned ErrShortBuffer. exact reports that Need covers all of it but its
// option: a PackedForward request whose entries are being read. gz reports
// that it may need decompression: a PackedForward request whose entries
// start with gzip's magic bytes or are not there yet, or a request still in
// its tag.
func (d *Decoder) pending(buf []byte) (exact, gz bool) {
	fr := &d.fr
	switch {
	case fr.top < 2:
		return false, false // not a request array: never decompressed
	case fr.nb < 2:
		return false, true
	}
	p := fr.bounds[1]
	h, err := readHdr(buf[p:])
	if err != nil {
		return false, true
	}
	if h.k != kStr && h.k != kBin {
		return false, false // Forward or Message mode
	}
	entries := buf[min(p+h.size, len(buf)):]
	gz = len(entries) < 2 || entries[0] == 0x1f && entries[1] == 0x8b
	return fr.nb == 2, gz
}

// Decode decodes the first msgpack value of buf.
//
// It returns the request and n, the number of bytes it used; the caller
// drops buf[:n] and calls again with the rest. When buf ends inside the value
// it returns ErrShortBuffer and n == 0: the caller appends more bytes and
// calls again with the same bytes at the start of buf (they may move in
// memory, but must not change). The scan resumes where it stopped.
//
// Any other error means the stream is malformed, hostile or unsupported and
// the connection should be closed (errors.Is with ErrMalformed,
// ErrUnsupported or ErrLimit classifies it). When the value could be framed, n
// is its length, so a caller that prefers to skip an unsupported request
// (say, a Fluent Bit metrics signal) can do so.
func (d *Decoder) Decode(buf []byte) (req Request, n int, err error) {
	d.release()
	n, err = d.decodeTo(buf, &req)
	return req, n, err
}

// decodeTo is Decode filling *req, which is zero: a Request is large, and
// a server's connection decodes one per record of Docker's driver. The
// caller has released the last request (a connection does so after
// handling each one).
func (d *Decoder) decodeTo(buf []byte, req *Request) (n int, err error) {
	if d.fr.pending == 0 && !d.noFast {
		if n, err, ok := d.decodeMessage(buf, req); ok {
			return n, err
		}
	}
	n, err = d.fr.scan(buf, d.lim.MaxRequestBytes)
	if err != nil {
		if err == errShort {
			return 0, ErrShortBuffer
		}
		d.fr.reset()
		if errors.Is(err, ErrLimit) {
			return 0, err
		}
		return 0, malformed("%v", err)
	}
	*req, err = d.decode(buf[:n])
	return n, err
}

// decodeMessage decodes the request at the start of buf in one pass when it
// is a whole Message-mode request of the shape Docker's driver sends:
// [tag, time, record] or [tag, time, record, option] with a str tag, a
// scalar time, a record that is a map (of up to 65,535 members) of str keys
// and str values, and an option that is nil, an empty map or a chunk (a str)
// alone. It then also fills d.docker as ScanDocker would, and req.docker
// points to it: the record is walked once, not three times (framing,
// decoding, ScanDocker). ok is false for anything else, a request not
// complete in buf included: the general path (frame.scan, then decode)
// decides, with the same result for requests of this shape
// (FuzzDecodeMessage compares them); *req is left as it is then.
func (d *Decoder) decodeMessage(buf []byte, req *Request) (n int, err error, ok bool) {
	if len(buf) < 4 || buf[0] != 0x93 && buf[0] != 0x94 {
		return 0, nil, false
	}
	var ts, te int
	if c := buf[1]; c&0xe0 == 0xa0 { // a fixstr, as tags are
		ts, te = 2, 2+int(c&0x1f)
		if te > len(buf) {
			return 0, nil, false
		}
	} else if ts, te, ok = strAt(buf, 1); !ok {
		return 0, nil, false
	}
	// The time: any scalar but str and bin (decodeTime reads it, or
	// counts it as BadTime as the general path does).
	tOff := te
	if tOff >= len(buf) {
		return 0, nil, false
	}
	t, tn, tok := messageTime(buf, tOff)
	if tn == 0 {
		switch c := buf[tOff]; {
		case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c >= 0xc7 && c <= 0xd8:
		default:
			return 0, nil, false
		}
		var serr error
		if tn, _, serr = step(buf[tOff:]); serr != nil || tn > len(buf)-tOff {
			return 0, nil, false
		}
		t, _, tok = decodeTime(buf, tOff, true) // no meta: not an array
	}
	recOff := tOff + tn
	if recOff >= len(buf) {
		return 0, nil, false
	}
	members, off, ok := smallMap(buf, recOff)
	if !ok {
		return 0, nil, false
	}
	df := &d.docker
	*df = DockerFields{}
	off, ok = d.dockerMembers(buf, off, members)
	if !ok {
		return 0, nil, false
	}
	recEnd := off
	var chunk []byte
	if buf[0] == 0x94 {
		// An option that asks for nothing, an empty map
		// (fluent-logger-golang) or nil, or for an ack: {"chunk": str}.
		switch {
		case off >= len(buf):
			return 0, nil, false
		case buf[off] == 0x80 || buf[off] == 0xc0:
			off++
		case buf[off] == 0x81 && len(buf)-off >= 7 && string(buf[off+1:off+7]) == "\xa5chunk":
			cs, ce, ok := strAt(buf, off+7)
			if !ok {
				return 0, nil, false
			}
			chunk, off = buf[cs:ce], ce
		default:
			return 0, nil, false
		}
	}
	if off > d.lim.MaxRequestBytes {
		return 0, nil, false // the general path reports the limit
	}
	req.Mode = ModeMessage
	req.Tag = buf[ts:te]
	req.Chunk = chunk
	if !tok {
		req.BadTime++
	}
	// As add, for a record known to be a map: set in place, not appended.
	if cap(d.entries) == 0 {
		d.entries = make([]Entry, 0, 1)
	}
	d.entries = d.entries[:1]
	e := &d.entries[0]
	e.Time, e.Record, e.Meta = t, buf[recOff:recEnd], nil
	d.seen++
	err = d.checkSeen()
	req.Entries = d.entries
	req.docker = df
	d.plain = true
	return off, err, true
}

// messageTime reads the times Docker's driver and fluent-logger-golang
// write, an int of up to 32 bits or an EventTime, at buf[off:], as
// decodeTime does; tn is its length, 0 for any other time.
func messageTime(buf []byte, off int) (ns int64, tn int, ok bool) {
	c := buf[off]
	switch {
	case c <= 0x7f:
		return int64(c) * 1e9, 1, true
	case len(buf)-off < 5:
	case c == 0xce:
		return int64(be32(buf[off+1:])) * 1e9, 5, true
	case c == 0xd2:
		return int64(int32(be32(buf[off+1:]))) * 1e9, 5, true
	case c == 0xd7 && len(buf)-off >= 10 && buf[off+1] == 0:
		if nsec := int64(be32(buf[off+6:])); nsec < 1e9 {
			return int64(be32(buf[off+2:]))*1e9 + nsec, 10, true
		}
	}
	return 0, 0, false
}

// dockerMembers reads the members records of the map at buf[off:] into
// d.docker, which is zero, and returns where they end; ok is false when one
// is not a str key with a str value or does not end inside buf.
func (d *Decoder) dockerMembers(buf []byte, off, members int) (end int, ok bool) {
	df := &d.docker
	slots := d.dockerSlots()
	// Fewer live variables than registers: members counts down, and
	// Others is counted in place; buf's capacity is its length.
	df.Others = 0
	buf = buf[:len(buf):len(buf)]
	// A fixstr key of up to 15 bytes and the value's header are read
	// from the words at off, without branching on which key, or which
	// kind of str, comes (labels and env attributes, other keys, come in
	// random order too); the loop calls nothing, so that what it needs
	// stays in registers.
	for ; members > 0 && len(buf)-off >= 24; members-- {
		// One bounds check for the 24 bytes a member's key and value
		// header can span: n <= 15, so w[1+n:] holds 8 bytes.
		w := (*[24]byte)(buf[off:])
		c := w[0]
		if c&0xf0 != 0xa0 {
			break
		}
		n := int(c & 0x0f)
		lo := binary.LittleEndian.Uint64(w[1:]) & loMask[n]
		hi := binary.LittleEndian.Uint64(w[9:]) & hiMask[n]
		s := int(dockerSlotOf[keyHash(lo, hi)] & 15)
		sw := &dockerSlotWords[s]
		diff := (lo ^ sw.lo) | (hi ^ sw.hi) | uint64(n^sw.n)
		s &= int((diff|-diff)>>63) - 1 // slot 0 unless the key is the slot's
		x := binary.BigEndian.Uint64(w[1+n:])
		h := strHeads[x>>56]
		vn := int(x >> (h >> 8 & 63) & (h >> 32))
		size := int(h & 0xff)
		vs := off + 1 + n + size
		if size == 0 || vn > len(buf)-vs {
			return 0, false
		}
		off = vs + vn
		*slots[s] = buf[vs:off]
		df.Others += int((uint(s) - 1) >> 63) // s == 0
	}
	// The members near the end of buf, and any after a key that is not a
	// short fixstr.
	for ; members > 0; members-- {
		ks, ke, ok := strAt(buf, off)
		if !ok {
			return 0, false
		}
		vs, ve, ok := strAt(buf, ke)
		if !ok {
			return 0, false
		}
		s := dockerKeySlot(buf[ks:ke])
		*slots[s] = buf[vs:ve]
		if s == 0 {
			df.Others++
		}
		off = ve
	}
	df.IsDocker = df.Log != nil
	return off, true
}

// smallMap reads the header of a fixmap or map16 at b[off] (off < len(b)):
// its member count and where its members start.
func smallMap(b []byte, off int) (members, start int, ok bool) {
	switch c := b[off]; {
	case c&0xf0 == 0x80:
		return int(c & 0x0f), off + 1, true
	case c == 0xde && len(b)-off >= 3:
		return int(binary.BigEndian.Uint16(b[off+1:])), off + 3, true
	}
	return 0, 0, false
}

// recordEnd is skip for the value at b[off:], a record, with a path for the
// usual one, a map of str keys and str values, that reads each member's two
// headers instead of taking the general walk's steps; anything else, or a
// member that does not end inside b, is left to skip.
func recordEnd(b []byte, off int) (int, error) {
	if off >= len(b) {
		return skip(b, off)
	}
	members, p, ok := smallMap(b, off)
	if !ok {
		return skip(b, off)
	}
	for ; members > 0; members-- {
		_, ke, ok := strAt(b, p)
		if !ok {
			return skip(b, off)
		}
		if _, p, ok = strAt(b, ke); !ok {
			return skip(b, off)
		}
	}
	return p, nil
}

// scanDocker is ScanDocker for the record of an entry of the last request
// (not empty: add keeps only maps), into the Decoder's own DockerFields,
// which it returns (zero fields when record is not a well-formed map):
// valid until the next Decode, More or scanDocker. The usual record, a map of str keys and str values, is read
// as decodeMessage reads it, without branching on which key comes;
// FuzzScanDocker compares the two.
func (d *Decoder) scanDocker(record []byte) *DockerFields {
	df := &d.docker
	if members, off, ok := smallMap(record, 0); ok {
		*df = DockerFields{}
		if end, ok := d.dockerMembers(record, off, members); ok && end == len(record) {
			return df
		}
	}
	if ScanDocker(record, df) != nil {
		*df = DockerFields{} // rendered whole; the renderer says what is wrong
	}
	return df
}

// dockerSlots returns where decodeMessage stores the value of a key, by
// dockerSlot: d.docker's fields, and for slot 0 a place never read.
func (d *Decoder) dockerSlots() *[16]*[]byte {
	p := &d.slots
	if p[1] != &d.docker.Log { // first use, or the Decoder was copied
		df := &d.docker
		*p = [16]*[]byte{&d.otherVal, &df.Log, &df.ContainerID, &df.ContainerName, &df.Source,
			&df.PartialMessage, &df.PartialID, &df.PartialOrdinal, &df.PartialLast}
		for s := dockerSlots; s < len(p); s++ {
			p[s] = &d.otherVal
		}
	}
	return p
}

// release drops the scratch memory of the last request beyond what a Decoder
// keeps, and gives back what its budget lent. The views of the last Request
// become invalid.
func (d *Decoder) release() {
	if d.plain {
		d.plain, d.seen = false, 0
		return
	}
	d.dropZ()
	if cap(d.zbuf) > retainScratchBytes {
		d.zbuf = nil
	}
	if cap(d.entries) > retainEntries {
		d.entries = nil
	}
	d.seen = 0
	// Only the requests with several entries set d.it, and each sets a
	// view: a Message request leaves nothing to clear.
	if d.it.kind != iterNone || d.it.b != nil || d.it.js.b != nil {
		d.it = entryIter{}
	}
}

// decode decodes one complete, framed value. Offsets inside b are trusted to
// be in range only where frame.scan checked them (the request array itself);
// packed and decompressed streams are checked as they are read.
func (d *Decoder) decode(b []byte) (req Request, err error) {
	h, _ := readHdr(b)
	switch h.k {
	case kNil:
		req.Heartbeat = true
		return req, nil
	case kArray:
	default:
		req.Ignored = true
		return req, nil
	}
	count := h.n
	if count < 2 || count > 4 {
		return req, malformed("request is an array of %d elements, want 2 to 4", count)
	}
	// frame.scan recorded where the elements end.
	bd := d.fr.bounds
	th, _ := readHdr(b[bd[0]:])
	if th.k != kStr && th.k != kBin {
		return req, malformed("request tag is %s, want str", th.k)
	}
	req.Tag = b[bd[0]+th.size : bd[1]]
	e1, e1end := bd[1], bd[2]
	e1h, _ := readHdr(b[e1:])
	optOff, recOff, recEnd := -1, -1, -1
	switch e1h.k {
	case kArray:
		req.Mode = ModeForward
	case kStr, kBin:
		req.Mode = ModePackedForward
	default:
		req.Mode = ModeMessage
	}
	if req.Mode == ModeMessage {
		if count < 3 {
			return req, malformed("message request with tag %q has %d elements, want 3 or 4", clip(req.Tag), count)
		}
		recOff, recEnd = bd[2], bd[3]
		if count == 4 {
			optOff = bd[3]
		}
	} else {
		if count > 3 {
			return req, malformed("%s request with tag %q has %d elements, want 2 or 3", req.Mode, clip(req.Tag), count)
		}
		if count == 3 {
			optOff = e1end
		}
	}
	d.entries = d.entries[:0]
	defer func() {
		req.Entries = d.entries
	}()
	compressed := false
	if optOff >= 0 {
		if compressed, err = d.options(b, optOff, &req); err != nil {
			return req, err
		}
	}
	switch req.Mode {
	case ModeMessage:
		if compressed {
			return req, malformed("message request with tag %q has option compressed=gzip", clip(req.Tag))
		}
		t, meta, ok := decodeTime(b, e1, true)
		if !ok {
			req.BadTime++
		}
		return req, d.add(&req, t, meta, b[recOff:recEnd])
	case ModeForward:
		if e1h.n > d.lim.MaxRecordsPerRequest {
			return req, &limitError{what: "entries per request", limit: d.lim.MaxRecordsPerRequest, got: e1h.n}
		}
		d.it = entryIter{kind: iterArray, b: b, p: e1 + e1h.size, left: e1h.n}
		return req, d.fill(&req)
	}
	// PackedForward: a msgpack stream of entries inside a str or bin.
	stream := b[e1+e1h.size : e1end]
	if compressed {
		req.Mode = ModeCompressedPackedForward
		if stream, err = d.gunzip(stream); err != nil {
			return req, fmt.Errorf("%w (request tag %q)", err, clip(req.Tag))
		}
	}
	d.it = entryIter{kind: iterPacked, b: stream}
	return req, d.fill(&req)
}

// entryIter is where decoding the entries of the last request stands, for
// a Decoder whose maxBatch bounds Request.Entries (see More).
type entryIter struct {
	kind    uint8 // iterNone: every entry is in Request.Entries
	b       []byte
	p, left int      // iterArray: offset in b, entries left; iterPacked: offset in b
	js      jsonIter // iterJSON
	checked bool     // the entries after the first batch were checked
}

const (
	iterNone = iota
	iterArray
	iterPacked
	iterJSON
)

// More replaces req.Entries with the next entries of the request Decode or
// DecodeJSON returned last, when the Decoder hands them out in batches of
// maxBatch (a Server's connection does: the decoded entry list of one
// request then holds at most maxBatch entries, whatever the request's
// size). It reports false when none are left. req.Invalid and req.BadTime
// count the entries of the new batch. Before a request's first batch is
// handed out the rest of its entries are checked, so More returns no error
// that Decode would have returned; the views stay valid as Decode's do.
func (d *Decoder) More(req *Request) (bool, error) {
	if d.it.kind == iterNone {
		return false, nil
	}
	d.entries = d.entries[:0]
	req.Invalid, req.BadTime = 0, 0
	err := d.fill(req)
	req.Entries = d.entries
	return len(req.Entries) > 0 || req.Invalid > 0, err
}

// fill decodes entries into d.entries until the request has no more or
// maxBatch are there; then it checks the rest of the request once.
func (d *Decoder) fill(req *Request) error {
	it := &d.it
	for d.maxBatch == 0 || len(d.entries) < d.maxBatch {
		ok, err := d.step(req)
		if err != nil {
			return err
		}
		if !ok {
			it.kind = iterNone
			return nil
		}
	}
	if !it.checked {
		it.checked = true
		return d.checkRest(req)
	}
	return nil
}

// step decodes the next entry, reporting false when there is none.
func (d *Decoder) step(req *Request) (bool, error) {
	it := &d.it
	switch it.kind {
	case iterArray:
		if it.left == 0 {
			return false, nil
		}
		end, _, err := d.entry(req, it.b, it.p) // framed by frame.scan: well-formed
		it.p, it.left = end, it.left-1
		return true, err
	case iterPacked:
		if it.p >= len(it.b) {
			return false, nil
		}
		end, werr, err := d.entry(req, it.b, it.p)
		if werr != nil {
			return false, malformed("%s entries of tag %q: entry at offset %d of %d: %v", req.Mode, clip(req.Tag), it.p, len(it.b), werr)
		}
		it.p = end
		return true, err
	case iterJSON:
		s, e, ok := it.js.next()
		if !ok {
			return false, nil
		}
		return true, d.jsonElem(req, it.js.b[s:e])
	}
	return false, nil
}

// checkRest checks that the entries not decoded yet are well-formed and
// within MaxRecordsPerRequest, without decoding them.
func (d *Decoder) checkRest(req *Request) error {
	it := d.it
	n := d.seen
	switch it.kind {
	case iterArray:
		n += it.left
	case iterPacked:
		for p := it.p; p < len(it.b) && n <= d.lim.MaxRecordsPerRequest; n++ {
			end, err := skip(it.b, p)
			if err != nil {
				return malformed("%s entries of tag %q: entry at offset %d of %d: %v", req.Mode, clip(req.Tag), p, len(it.b), err)
			}
			p = end
		}
	case iterJSON:
		for js := it.js; n <= d.lim.MaxRecordsPerRequest; n++ {
			if _, _, ok := js.next(); !ok {
				break
			}
		}
	}
	if n > d.lim.MaxRecordsPerRequest {
		return &limitError{what: "entries per request", limit: d.lim.MaxRecordsPerRequest, got: n}
	}
	return nil
}

// options reads the option map at b[off:]. The value is known to be complete.
func (d *Decoder) options(b []byte, off int, req *Request) (compressed bool, err error) {
	h, _ := readHdr(b[off:])
	if h.k == kNil {
		return false, nil // Docker 18.x sends nil for "no options"
	}
	if h.k != kMap {
		return false, malformed("option of tag %q is %s, want map", clip(req.Tag), h.k)
	}
	off += h.size
	for i := 0; i < h.n; i++ {
		kh, _ := readHdr(b[off:])
		var key []byte
		if kh.k == kStr || kh.k == kBin {
			key = b[off+kh.size : off+kh.end()]
		}
		off, _ = skip(b, off)
		vh, _ := readHdr(b[off:])
		val := b[off+vh.size : off+vh.end()]
		off, _ = skip(b, off)
		switch string(key) {
		case "chunk":
			switch vh.k {
			case kStr, kBin:
				req.Chunk = val
			case kNil:
			default:
				return false, malformed("option chunk of tag %q is %s, want str", clip(req.Tag), vh.k)
			}
		case "compressed":
			switch {
			case vh.k == kNil:
			case (vh.k == kStr || vh.k == kBin) && string(val) == "gzip":
				compressed = true
			case (vh.k == kStr || vh.k == kBin) && string(val) == "text":
				compressed = false
			case vh.k == kStr || vh.k == kBin:
				return false, unsupported("option compressed=%q of tag %q: only \"gzip\" and \"text\" are supported", clip(val), clip(req.Tag))
			default:
				return false, malformed("option compressed of tag %q is %s, want str", clip(req.Tag), vh.k)
			}
		case "fluent_signal":
			switch {
			case vh.k == kNil, vh.k == kInt && vh.v == 0:
			case vh.k == kInt || vh.k == kUint:
				sig := fmt.Sprint(vh.int())
				if vh.k == kUint {
					sig = fmt.Sprint(vh.v)
				}
				return false, unsupported("option fluent_signal=%s of tag %q: only log signals (fluent_signal 0) are supported, not metrics or traces", sig, clip(req.Tag))
			default:
				return false, malformed("option fluent_signal of tag %q is %s, want integer", clip(req.Tag), vh.k)
			}
		}
		// "size" is a hint for servers that count without decoding; we
		// decode anyway. "metadata" and unknown options are ignored.
	}
	return compressed, nil
}

// entry decodes the Entry [time, record] at b[off:] (off < len(b)) and
// returns where it ends. The entry is walked once, as it is decoded: werr
// (errShort or another error of skip) says that it is not a well-formed value
// ending inside b, and then nothing is decoded or counted. err is add's.
func (d *Decoder) entry(req *Request, b []byte, off int) (end int, werr, err error) {
	// The usual entry: [time, record] with a time messageTime reads
	// (FuzzDecodeMessage compares it with the general path).
	if b[off] == 0x92 && len(b)-off > 1 && !d.noFast {
		if t, tn, _ := messageTime(b, off+1); tn > 0 {
			recOff := off + 1 + tn
			recEnd, werr := recordEnd(b, recOff)
			if werr != nil {
				return off, werr, nil
			}
			return recEnd, nil, d.add(req, t, nil, b[recOff:recEnd])
		}
	}
	h, werr := readHdr(b[off:])
	if werr != nil {
		return off, werr, nil
	}
	if h.k != kArray || h.n < 2 {
		if end, werr = skip(b, off); werr != nil {
			return off, werr, nil
		}
		d.seen++
		req.Invalid++
		return end, nil, d.checkSeen()
	}
	tOff := off + h.size
	recOff, werr := skip(b, tOff)
	if werr != nil {
		return off, werr, nil
	}
	recEnd, werr := recordEnd(b, recOff)
	end = recEnd
	for i := 2; i < h.n && werr == nil; i++ {
		end, werr = skip(b, end)
	}
	if werr != nil {
		return off, werr, nil
	}
	t, meta, ok := decodeTime(b, tOff, true)
	if !ok {
		req.BadTime++
	}
	return end, nil, d.add(req, t, meta, b[recOff:recEnd])
}

func (d *Decoder) add(req *Request, t int64, meta, rec []byte) error {
	d.seen++
	switch rec[0] {
	case 0xc0: // nil record: skipped, as Fluentd does
	case 0xde, 0xdf:
		d.entries = append(d.entries, Entry{Time: t, Record: rec, Meta: meta})
	default:
		if rec[0]&0xf0 == 0x80 { // fixmap
			d.entries = append(d.entries, Entry{Time: t, Record: rec, Meta: meta})
		} else {
			req.Invalid++
		}
	}
	return d.checkSeen()
}

func (d *Decoder) checkSeen() error {
	if d.seen > d.lim.MaxRecordsPerRequest {
		return &limitError{what: "entries per request", limit: d.lim.MaxRecordsPerRequest, got: d.seen}
	}
	return nil
}

// maxSec is the largest number of seconds whose nanoseconds fit an int64
// (year 2262).
const maxSec = math.MaxInt64/1_000_000_000 - 1

// decodeTime reads the time slot at b[off:], a complete value. It returns 0
// with ok == true for times that mean "now" (0, nil), and 0 with ok == false
// for times it cannot read. allowArray accepts Fluent Bit's [time, metadata].
func decodeTime(b []byte, off int, allowArray bool) (ns int64, meta []byte, ok bool) {
	h, _ := readHdr(b[off:])
	switch h.k {
	case kNil:
		return 0, nil, true
	case kInt:
		if i := h.int(); i >= -maxSec && i <= maxSec {
			return i * 1e9, nil, true
		}
		return 0, nil, false
	case kFloat:
		f := h.float()
		if math.IsNaN(f) || f < -maxSec || f > maxSec {
			return 0, nil, false
		}
		sec := math.Floor(f)
		return int64(sec)*1e9 + int64(math.Round((f-sec)*1e9)), nil, true
	case kExt:
		p := b[off+h.size : off+h.end()]
		sec, nsec, ok := extTime(h.et, p)
		if !ok || sec < -maxSec || sec > maxSec {
			return 0, nil, false
		}
		return sec*1e9 + nsec, nil, true
	case kArray:
		if !allowArray || h.n == 0 {
			return 0, nil, false
		}
		ns, _, ok = decodeTime(b, off+h.size, false)
		if h.n >= 2 {
			mOff, _ := skip(b, off+h.size)
			mEnd, _ := skip(b, mOff)
			if b[mOff] != 0xc0 {
				meta = b[mOff:mEnd]
			}
		}
		return ns, meta, ok
	}
	return 0, nil, false
}

// extTime reads the time extensions: Fluentd EventTime (type 0: uint32 BE
// seconds, uint32 BE nanoseconds), tinylib msgp's time.Time (type 5, 12
// bytes: int64 BE seconds, int32 BE nanoseconds) and the msgpack timestamp
// (type -1, 4, 8 or 12 bytes).
func extTime(et int8, p []byte) (sec, nsec int64, ok bool) {
	switch {
	case et == 0 && len(p) == 8:
		// Unsigned per the spec; fluent-logger-golang writes int32(sec),
		// which read as uint32 stays right until 2106.
		sec = int64(be32(p))
		nsec = int64(be32(p[4:]))
	case et == 5 && len(p) == 12:
		sec = int64(be64(p))
		nsec = int64(int32(be32(p[8:])))
	case et == -1 && len(p) == 4:
		sec = int64(be32(p))
	case et == -1 && len(p) == 8:
		v := be64(p)
		sec, nsec = int64(v&(1<<34-1)), int64(v>>34)
	case et == -1 && len(p) == 12:
		nsec = int64(be32(p))
		sec = int64(be64(p[4:]))
	default:
		return 0, 0, false
	}
	if nsec < 0 || nsec >= 1e9 {
		return 0, 0, false
	}
	return sec, nsec, true
}

func be32(p []byte) uint32 {
	return uint32(p[0])<<24 | uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3])
}

func be64(p []byte) uint64 { return uint64(be32(p))<<32 | uint64(be32(p[4:])) }

// gunzip decompresses the CompressedPackedForward entries into d.zbuf,
// reading all concatenated gzip members, and stops with an error past
// MaxDecompressedBytes: the buffer never grows beyond that.
func (d *Decoder) gunzip(src []byte) ([]byte, error) {
	if len(src) == 0 {
		return nil, nil
	}
	if err := d.gzStart(src); err != nil {
		return nil, err
	}
	limit := d.lim.MaxDecompressedBytes
	out := d.zbuf[:0]
	if size := gzipSize(src); size > cap(out) && size <= limit {
		// One buffer of the right size for a single-member stream (Fluent
		// Bit), rather than growing it step by step. Over the limit it is
		// a gzip bomb or a broken stream: decompressing tells which, and
		// a bomb fails at the limit.
		var err error
		if out, err = d.zgrow(out, size, true); err != nil {
			return nil, err
		}
	}
	for {
		if len(out) == cap(out) {
			// Full: is there more?
			n, err := d.gz.Read(d.probe[:])
			if n == 0 {
				if err == io.EOF {
					break
				}
				if err != nil {
					return nil, malformed("cannot decompress gzip entries: %v", err)
				}
				continue
			}
			if len(out) >= limit {
				return nil, &limitError{what: "decompressed entries size", limit: limit, got: len(out) + 1}
			}
			grown, gerr := d.zgrow(out, min(max(2*cap(out), 64<<10), limit), false)
			if gerr == errNoRoom {
				return d.gunzipExact(src, len(out)+1)
			}
			if gerr != nil {
				return nil, gerr
			}
			out = append(grown, d.probe[0])
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, malformed("cannot decompress gzip entries: %v", err)
			}
			continue
		}
		n, err := d.gz.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, malformed("cannot decompress gzip entries: %v", err)
		}
	}
	d.zbuf = out
	return out, nil
}

// gunzipExact finishes gunzip when growing its buffer found no budget free:
// waiting for more while holding some could deadlock. It counts the rest of
// the output (the first done bytes were read), gives the buffer back, waits
// for one of the exact size and decompresses again.
func (d *Decoder) gunzipExact(src []byte, done int) ([]byte, error) {
	limit := d.lim.MaxDecompressedBytes
	scratch := d.zbuf[:cap(d.zbuf)]
	total := done
	for {
		n, err := d.gz.Read(scratch)
		if total += n; total > limit {
			return nil, &limitError{what: "decompressed entries size", limit: limit, got: total}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, malformed("cannot decompress gzip entries: %v", err)
		}
	}
	d.dropZ()
	out, err := d.zgrow(d.zbuf[:0], total, true)
	if err != nil {
		return nil, err
	}
	if err := d.gzStart(src); err != nil {
		return nil, err
	}
	out = out[:total]
	if _, err := io.ReadFull(d.gz, out); err != nil {
		return nil, malformed("cannot decompress gzip entries: %v", err)
	}
	d.zbuf = out
	return out, nil
}

// dropZ gives back the buffer the budget lent.
func (d *Decoder) dropZ() {
	if d.zheld > 0 {
		d.mem.releaseScratch(d.zheld)
		d.zheld = 0
		d.zbuf, d.zkeep = d.zkeep, nil
	}
}

func (d *Decoder) gzStart(src []byte) error {
	d.zr.Reset(src)
	var err error
	if d.gz == nil {
		d.gz, err = gzip.NewReader(&d.zr)
	} else {
		err = d.gz.Reset(&d.zr)
	}
	if err != nil {
		return malformed("cannot read gzip entries: %v", err)
	}
	d.gz.Multistream(true)
	return nil
}

// gzipSize returns the size the trailer of the last gzip member of src gives
// (ISIZE: that member's size mod 2^32), 0 when src is too short to hold one.
// It is the whole output of a single-member stream and less than that of
// several members; a false one (the stream then fails its check) only makes
// one request's buffer too large or too small.
func gzipSize(src []byte) int {
	if len(src) < 20 {
		return 0
	}
	return int(binary.LittleEndian.Uint32(src[len(src)-4:]))
}

// zgrow returns a buffer of capacity newCap holding out, and makes it d.zbuf.
// Beyond keepZBytes a budget, if set, lends the capacity: waiting for it when
// wait is set (the Decoder must hold none then), else only if free at once
// (errNoRoom otherwise).
func (d *Decoder) zgrow(out []byte, newCap int, wait bool) ([]byte, error) {
	if d.mem != nil && newCap > keepZBytes {
		delta := newCap - d.zheld
		if wait {
			if err := d.mem.acquireScratch(delta); err != nil {
				return out, err
			}
		} else if !d.mem.tryScratch(delta) {
			return out, errNoRoom
		}
		if d.zheld == 0 {
			d.zkeep = d.zbuf[:0]
		}
		d.zheld = newCap
	}
	grown := make([]byte, len(out), newCap)
	copy(grown, out)
	d.zbuf = grown
	return grown, nil
}

// AppendAck appends the msgpack ack for chunk, {"ack": chunk} with chunk as
// a str, byte-identical to Request.Chunk (fluent-logger-golang decodes the
// value as a msgp string and compares).
func AppendAck(dst, chunk []byte) []byte {
	dst = append(dst, 0x81, 0xa3, 'a', 'c', 'k')
	switch n := len(chunk); {
	case n < 32:
		dst = append(dst, 0xa0|byte(n))
	case n < 1<<8:
		dst = append(dst, 0xd9, byte(n))
	case n < 1<<16:
		dst = append(dst, 0xda, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0xdb, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, chunk...)
}

// AppendJSONAck appends the JSON ack {"ack":"<chunk>"} for a JSON connection;
// chunk is Request.Chunk from DecodeJSON (the string literal's contents as
// sent, so it needs no escaping).
func AppendJSONAck(dst, chunk []byte) []byte {
	dst = append(dst, `{"ack":"`...)
	dst = append(dst, chunk...)
	return append(dst, `"}`...)
}

// clip shortens client-supplied bytes quoted in error messages.
func clip(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
