package file

import "shipper/internal/parse"

// Stream is the output stream a record was written to.
type Stream uint8

const (
	// StreamNone: the format has no streams (plain lines), or the line could
	// not be parsed (Malformed).
	StreamNone Stream = iota
	StreamStdout
	StreamStderr
)

// String returns "stdout", "stderr" or "" for StreamNone.
func (s Stream) String() string {
	switch s {
	case StreamStdout:
		return "stdout"
	case StreamStderr:
		return "stderr"
	}
	return ""
}

// Flags describe what happened to a record while it was framed and joined.
type Flags uint8

const (
	// Truncated: the record was longer than the limit; Content holds its
	// first bytes and Size its original size (Size > len(Content)).
	Truncated Flags = 1 << iota
	// Malformed: the line did not parse in the file's format (a garbage line
	// in a CRI or json-file file). It is not dropped: the whole line is the
	// record's Content, with StreamNone and Time 0.
	Malformed
	// Incomplete: the record was ended by Flush rather than by its own end:
	// a CRI "P" sequence without its "F", a json-file piece without "\n", or
	// an unterminated last line of a file. It may continue in a newer file.
	// (A multiline group ended by Flush or Expire is not flagged: a group
	// never knows its end before the next start line.)
	Incomplete
)

// Line is one framed line of a file, as produced by LineReader.
type Line struct {
	// Data is the line without its '\n', cut to the line limit. It is a view
	// owned by whoever framed the line (see LineReader.Next for how long it
	// stays valid).
	Data []byte
	// Size is the line's size before the cut, without the '\n'.
	Size int
	// Start is the file offset of the line's first byte.
	Start int64
	// End is the file offset just past the line's '\n' (Start+Size+1), or
	// Start+Size for an unterminated last line (LineReader.Pending).
	End int64
}

// Terminated reports whether the line ended with '\n'.
func (l Line) Terminated() bool { return l.End > l.Start+int64(l.Size) }

// Record is one log record: a plain line, a joined CRI or json-file record,
// or a multiline group.
//
// Content, Attrs: views valid until the next call to Add, Flush or Expire on
// the Decoder that returned the record, and no longer than the Line passed to
// the Add that returned it. Copy what must outlive that.
type Record struct {
	// Content is the message: the line without its terminator, the joined
	// content of the pieces, or the lines of a multiline group joined with
	// '\n'. A single trailing '\r' of a complete record is removed (see
	// Decoder).
	Content []byte
	// Size is the original size of Content before truncation
	// (len(Content) unless Flags has Truncated).
	Size int
	// Time is the container runtime's timestamp of the first piece (Unix
	// nanoseconds), or 0 when the format has none (plain, Malformed) or
	// TimeText holds it.
	Time int64
	// TimeText, when not nil, is the runtime's timestamp as written, for
	// parse.ParseTime, and Time is 0: the decoder does not read its value,
	// for parse.Line.TimeText (only a line without a time of its own needs
	// it). A view valid like Content. Set on the records of a single line
	// written straight (see Decoder.AddTo): in CRI it was checked to parse
	// (else the line is Malformed); in json-file it may not (then the time
	// is 0, as Time is for an unparsable "time"). UnixNano gives the time
	// of any record.
	TimeText []byte
	// Stream is stdout or stderr for CRI and json-file records.
	Stream Stream
	Flags  Flags
	// Attrs is the raw JSON object of json-file's "attrs" (labels, env), or
	// nil.
	Attrs []byte
	// Start is the file offset of the record's first byte (its first piece or
	// line); End is the offset just past its last line.
	Start, End int64
	// Commit is the offset a checkpoint may move to once this record and
	// every record the Decoder returned before it are delivered: everything
	// before it belongs to records already returned. It never decreases from
	// one record to the next and never passes the last line added; it is
	// smaller than Start when another stream has a record still open.
	Commit int64
}

// UnixNano returns the runtime's timestamp of the record: Time, or TimeText
// parsed (0 when it does not parse).
func (r *Record) UnixNano() int64 {
	if r.TimeText != nil {
		t, _ := parse.ParseTime(r.TimeText)
		return t
	}
	return r.Time
}

// joiner accumulates the pieces of one record up to a byte cap. Pieces beyond
// the cap are counted, not kept.
type joiner struct {
	buf   []byte // the first max bytes of the record
	size  int    // the record's total size so far
	time  int64  // time of the first piece
	start int64  // file offset of the first piece's line
	end   int64  // file offset just past the last piece's line
	attrs []byte // json-file attrs of the first piece (copied)
	flags Flags
	open  bool
	mem   *Budget // charged for buf's capacity; nil: unlimited
	held  int     // bytes of buf charged to mem
}

// release gives buf back to the budget and drops it.
func (j *joiner) release() {
	j.mem.Give(j.held)
	j.buf, j.held = nil, 0
}

// begin opens a record at the first piece's line.
func (j *joiner) begin(t int64, start int64) {
	j.buf = j.buf[:0]
	j.size = 0
	j.time = t
	j.start = start
	j.attrs = j.attrs[:0]
	j.flags = 0
	j.open = true
}

// add appends a piece whose original size is size (size > len(p) when the
// line carrying it was cut), keeping at most max bytes in total.
func (j *joiner) add(p []byte, size int, max int) {
	if size > len(p) {
		j.flags |= Truncated
	}
	if room := max - len(j.buf); room > 0 {
		if len(p) > room {
			p = p[:room]
		}
		// Past the budget the record is cut here (flagged below).
		j.buf = j.mem.grow(j.buf, len(p), max, &j.held)
		if free := cap(j.buf) - len(j.buf); len(p) > free {
			p = p[:free]
		}
		j.buf = append(j.buf, p...)
	}
	j.size += size
	if j.size > len(j.buf) {
		j.flags |= Truncated
	}
}

// record ends the open record at end and returns it; its Content is j.buf
// (valid until the next begin).
func (j *joiner) record(stream Stream, end int64) Record {
	j.open = false
	r := Record{
		Content: j.buf,
		Size:    j.size,
		Time:    j.time,
		Stream:  stream,
		Flags:   j.flags,
		Start:   j.start,
		End:     end,
	}
	if len(j.attrs) > 0 {
		r.Attrs = j.attrs
	}
	return r
}

// trimCR removes a single trailing '\r' from a complete, untruncated record:
// "\r\n" ends a line in every format, as containerd already does for CRI.
func trimCR(r *Record) {
	if r.Flags&Truncated == 0 && len(r.Content) > 0 && r.Content[len(r.Content)-1] == '\r' {
		r.Content = r.Content[:len(r.Content)-1]
		r.Size--
	}
}

// capRecord cuts a single-piece record to max bytes.
func capRecord(r *Record, max int) {
	if len(r.Content) > max {
		r.Content = r.Content[:max]
		r.Flags |= Truncated
	}
	if r.Size > len(r.Content) {
		r.Flags |= Truncated
	}
}
