package file

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// DefaultMaxRecordBytes caps a joined record (CRI "P" pieces, json-file
// pieces, multiline groups).
const DefaultMaxRecordBytes = 1 << 20

// Format is the framing of a log file.
type Format uint8

const (
	// FormatAuto detects the format from the first line (DetectFormat).
	FormatAuto Format = iota
	// FormatCRI: containerd and CRI-O ("<time> <stream> <P|F> <content>").
	FormatCRI
	// FormatDocker: Docker's json-file driver (`{"log":…}`).
	FormatDocker
	// FormatPlain: one record per line.
	FormatPlain
)

func (f Format) String() string {
	switch f {
	case FormatAuto:
		return "auto"
	case FormatCRI:
		return "cri"
	case FormatDocker:
		return "docker"
	case FormatPlain:
		return "plain"
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// ParseFormat parses "auto", "cri", "docker" (or "json-file") and "plain".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "auto", "":
		return FormatAuto, nil
	case "cri":
		return FormatCRI, nil
	case "docker", "json-file":
		return FormatDocker, nil
	case "plain":
		return FormatPlain, nil
	}
	return 0, fmt.Errorf("unknown log format %q (want auto, cri, docker or plain)", s)
}

// DetectFormat guesses a file's format from its first line: CRI if the line
// parses as CRI, Docker if it starts with `{"log":`, else plain.
func DetectFormat(firstLine []byte) Format {
	if _, ok := ParseCRI(firstLine); ok {
		return FormatCRI
	}
	if bytes.HasPrefix(firstLine, []byte(`{"log":`)) {
		return FormatDocker
	}
	return FormatPlain
}

// DecoderConfig configures a Decoder.
type DecoderConfig struct {
	// Format is the file's format; FormatAuto detects it from the first
	// line added.
	Format Format
	// MaxRecordBytes caps a record's Content; longer records are truncated
	// and flagged, never dropped. Default DefaultMaxRecordBytes.
	MaxRecordBytes int
	// Multiline, when set, joins continuation lines (per stream) after the
	// format's own joining. Nil turns it off.
	Multiline *MultilineConfig
	// Budget, when not nil, is charged for the buffers of records being
	// joined and for json-file unescaping (see Budget). Call Release when
	// done with the decoder.
	Budget *Budget
}

// Decoder turns the lines of one file into records: it parses the file's
// format, joins CRI "P" pieces and json-file pieces per stream (stdout and
// stderr separately, since their pieces interleave), optionally joins
// multiline groups, and computes for each record the offset a checkpoint may
// move to.
//
// Rules shared by all formats:
//   - A record's Content never ends with its line terminator: the "\n" and a
//     single '\r' before it are removed (containerd already strips "\r\n"
//     from CRI lines; json-file keeps the "\r" inside "log", and plain files
//     may have CRLF endings). A '\r' is kept when the record was truncated,
//     since its end is not known.
//   - A record longer than MaxRecordBytes keeps its first MaxRecordBytes
//     bytes and is flagged Truncated, with Size its original size.
//   - A line that does not parse in a CRI or json-file file is not dropped:
//     it becomes a record of its own, the whole line as Content, flagged
//     Malformed, with StreamNone and Time 0 (the caller substitutes the read
//     time). It does not disturb open "P" sequences.
//   - An empty CRI content ("<time> stdout F" with or without a trailing
//     space) is a valid empty record.
//
// A Decoder is pure: it does no I/O, starts no goroutine and never blocks.
// It is not safe for concurrent use.
type Decoder struct {
	format    Format
	cfgFormat Format
	maxBytes  int
	joins     [3]joiner     // open pieces, by Stream
	ml        [3]*Multiline // by Stream; nil when multiline is off
	mlCfg     *MultilineConfig
	scratch   []byte // json-file unescaping
	scratchN  int    // bytes of scratch charged to mem
	mem       *Budget
	last      int64 // End of the last line added
	out       []Record
	// joinAll sends every line through the joining, whole records too
	// (tests compare the two paths).
	joinAll bool

	times timeCache // the runtime's timestamps
}

// NewDecoder returns a decoder for one file. Lines are added in file order.
func NewDecoder(cfg DecoderConfig) *Decoder {
	d := &Decoder{format: cfg.Format, cfgFormat: cfg.Format, maxBytes: cfg.MaxRecordBytes, mem: cfg.Budget}
	if d.maxBytes <= 0 {
		d.maxBytes = DefaultMaxRecordBytes
	}
	for i := range d.joins {
		d.joins[i].mem = cfg.Budget
	}
	if cfg.Multiline != nil {
		c := *cfg.Multiline
		if c.MaxBytes <= 0 {
			c.MaxBytes = d.maxBytes
		}
		c.Budget = cfg.Budget
		d.mlCfg = &c
		for i := range d.ml {
			d.ml[i] = NewMultiline(c)
		}
	}
	return d
}

// Format returns the file's format: the configured one, the detected one
// after the first Add, or FormatAuto before it.
func (d *Decoder) Format() Format { return d.format }

// Add decodes the next line of the file. now is the read time in
// nanoseconds on any clock; it is only used for multiline timeouts. It returns
// a record when the line completes one (at most one per line).
//
// A line that is not terminated (Line.End == Start+Size, from
// LineReader.Pending when the file is being closed) is decoded like the others
// and its record, if any, flagged Incomplete; call Flush after it.
//
// The record's views are valid until the next call to Add, Flush or Expire,
// and no longer than l.Data.
func (d *Decoder) Add(l Line, now int64) (Record, bool) {
	var rec Record
	ok := d.AddTo(&rec, &l, now)
	return rec, ok
}

// AddTo is Add writing the record into *rec (left as it was when the line
// completes none): the follower's path, which does not copy records around.
//
// A whole record on one CRI or json-file line, with no pieces of its stream
// open and multiline off (nearly every line), is written straight into rec;
// the rest goes through the joining. Both give the same records.
func (d *Decoder) AddTo(rec *Record, l *Line, now int64) bool {
	if d.format == FormatAuto {
		d.format = DetectFormat(l.Data)
	}
	d.last = l.End
	var ok bool
	switch d.format {
	case FormatCRI:
		sp, s, partial, content, cok := parseCRI(l.Data, &d.times)
		if !cok {
			*rec, ok = d.malformed(*l), true
			break
		}
		// Bytes cut off the end of the line are cut off the content.
		size := len(content) + l.Size - len(l.Data)
		if !partial && d.mlCfg == nil && !d.joins[s].open && !d.joinAll {
			// The time as written: parsed only if the content has
			// none of its own (Record.TimeText).
			d.whole(rec, l, content, size, 0, s, nil)
			rec.TimeText = l.Data[:sp:sp]
			return true
		}
		t, _ := d.times.parse(l.Data[:sp])
		*rec, ok = d.piece(*l, content, size, t, s, nil, partial)
	case FormatDocker:
		if l.Size > len(l.Data) {
			// The JSON was cut by the line limit and cannot be decoded.
			*rec, ok = d.malformed(*l), true
			break
		}
		var j DockerLine
		if !d.parseDocker(&j, l.Data) {
			*rec, ok = d.malformed(*l), true
			break
		}
		if !j.Partial && d.mlCfg == nil && !d.joins[j.Stream].open && !d.joinAll {
			d.whole(rec, l, j.Log, len(j.Log), j.Time, j.Stream, j.Attrs)
			rec.TimeText = j.timeText
			return true
		}
		t := j.Time
		if j.timeText != nil {
			t, _ = d.times.parse(j.timeText)
		}
		*rec, ok = d.piece(*l, j.Log, len(j.Log), t, j.Stream, j.Attrs, j.Partial)
	default:
		*rec, ok = d.single(*l, l.Data, l.Size, 0, StreamNone, nil, 0), true
	}
	if ok && d.ml[rec.Stream] != nil {
		*rec, ok = d.ml[rec.Stream].Add(*rec, now)
	}
	if ok {
		rec.Commit = d.Commit()
	}
	return ok
}

// wholeCRI is AddTo for a terminated line of a CRI file that is a whole
// record of its stream ("F") while no record of any stream is open and
// multiline is off: nearly every line. It returns the record's members
// instead of writing a Record (the record's commit offset is end, its Time
// 0, its TimeText line[:sp]). ok is false, and nothing changed, for any other
// line: the caller passes it to AddTo.
func (d *Decoder) wholeCRI(line []byte, size int, end int64) (sp int, s Stream, content []byte, csize int, f Flags, ok bool) {
	if d.format != FormatCRI || d.mlCfg != nil || d.joinAll || d.joins[0].open || d.joins[1].open || d.joins[2].open {
		return 0, 0, nil, 0, 0, false
	}
	// Nearly every line: a time in the second and zone the cache holds,
	// then "stdout F ". Read as timeCache.prefix and parseCRI read it,
	// without their two calls; any other line goes to parseCRI.
	c := &d.times
	const dt = dateTimeLen
	found := false
	if c.ok && !c.spaced && len(line) >= dt+18 && line[dt] == '.' && c.sameSecond(line) {
		n := fractionDigits(line[dt+1 : dt+10])
		i := dt + 1 + n
		if n != 0 && binary.LittleEndian.Uint64(line[i:])&c.zsMask == c.zs {
			sp = i + c.nz
			if rest := line[sp+1:]; len(rest) >= 9 && binary.LittleEndian.Uint64(rest) == stdoutF && rest[8] == ' ' {
				s, content, found = StreamStdout, rest[9:], true
			}
		}
	}
	if !found {
		var partial bool
		sp, s, partial, content, ok = parseCRI(line, c)
		if !ok || partial {
			return 0, 0, nil, 0, 0, false
		}
	}
	// As whole: bytes cut off the end of the line are cut off the
	// content.
	content, csize, f = capTrim(content, len(content)+size-len(line), d.maxBytes)
	d.last = end
	return sp, s, content, csize, f, true
}

// whole writes into rec the record of one line that is a whole record of its
// stream (no pieces open, multiline off): what single gives, with its commit
// offset. It leaves rec.TimeText to the caller.
//
// It is capRecord and trimCR on locals (capTrim), and writes rec's fields
// one by one: a Record built whole and then copied goes through the stack,
// and its copy's wide loads of the narrow stores just made wait for them.
func (d *Decoder) whole(rec *Record, l *Line, content []byte, size int, t int64, s Stream, attrs []byte) {
	content, size, f := capTrim(content, size, d.maxBytes)
	if l.End <= l.Start+int64(l.Size) { // !l.Terminated(), without copying l
		f |= Incomplete
	}
	// Commit: the end of this line (d.last), unless a record of another
	// stream is open.
	commit := l.End
	if d.joins[0].open || d.joins[1].open || d.joins[2].open {
		commit = d.Commit()
	}
	rec.Content, rec.Size, rec.Time, rec.Stream, rec.Flags, rec.Attrs = content, size, t, s, f, attrs
	rec.Start, rec.End, rec.Commit = l.Start, l.End, commit
}

// capTrim is capRecord and trimCR on a whole record's content and original
// size: the content cut to max bytes, Truncated when it is shorter than
// size, else without a final '\r'.
func capTrim(content []byte, size, max int) ([]byte, int, Flags) {
	if len(content) > max {
		content = content[:max]
	}
	if size > len(content) {
		return content, size, Truncated
	}
	if len(content) > 0 && content[len(content)-1] == '\r' {
		return content[:len(content)-1], size - 1, 0
	}
	return content, size, 0
}

// single builds a record from one terminated or unterminated line whose
// content (a view of the line) has original size size.
func (d *Decoder) single(l Line, content []byte, size int, t int64, s Stream, attrs []byte, f Flags) Record {
	r := Record{Content: content, Size: size, Time: t, Stream: s, Flags: f, Attrs: attrs, Start: l.Start, End: l.End}
	capRecord(&r, d.maxBytes)
	trimCR(&r)
	if !l.Terminated() {
		r.Flags |= Incomplete
	}
	return r
}

func (d *Decoder) malformed(l Line) Record {
	return d.single(l, l.Data, l.Size, 0, StreamNone, nil, Malformed)
}

// parseDocker parses a json-file line into *j (zero), unescaping into the
// decoder's scratch buffer (charged to the budget).
func (d *Decoder) parseDocker(j *DockerLine, line []byte) bool {
	// parseDockerJSONLazy, one call less.
	scratch, ok, done := parseDockerLayout(j, line, d.scratch)
	if !done {
		*j = DockerLine{}
		scratch, ok = parseDockerJSON(j, line, scratch)
	}
	// The unescapers write into d.scratch's array, or into a larger new one.
	if cap(scratch) > cap(d.scratch) {
		d.scratch = scratch
		if d.mem != nil {
			// Allocated already: charged after the fact, and dropped when
			// the budget is over (the next long line allocates again).
			d.mem.Force(cap(scratch) - d.scratchN)
			d.scratchN = cap(scratch)
			if d.mem.Over() {
				d.dropScratch()
			}
		}
	}
	return ok
}

// piece joins one CRI or json-file piece into its stream's record.
func (d *Decoder) piece(l Line, content []byte, size int, t int64, s Stream, attrs []byte, partial bool) (Record, bool) {
	j := &d.joins[s]
	if !j.open {
		if !partial {
			// A whole record on one line: no copy.
			return d.single(l, content, size, t, s, attrs, 0), true
		}
		j.begin(t, l.Start)
		j.attrs = append(j.attrs, attrs...)
	}
	j.add(content, size, d.maxBytes)
	j.end = l.End
	if partial {
		return Record{}, false
	}
	r := j.record(s, l.End)
	trimCR(&r)
	if !l.Terminated() {
		r.Flags |= Incomplete
	}
	return r, true
}

// PendingStart returns the smallest file offset of any record still open (a
// "P" sequence, json-file pieces or a multiline group), if there is one. No
// checkpoint may pass it.
func (d *Decoder) PendingStart() (int64, bool) {
	var min int64
	found := false
	for i := range d.joins {
		if j := &d.joins[i]; j.open && (!found || j.start < min) {
			min, found = j.start, true
		}
		if m := d.ml[i]; m != nil && m.Pending() && (!found || m.PendingStart() < min) {
			min, found = m.PendingStart(), true
		}
	}
	return min, found
}

// Commit returns the offset a checkpoint may move to once every record
// returned so far is delivered: the end of the last line added, or the start
// of the oldest open record if it is before that.
func (d *Decoder) Commit() int64 {
	if s, ok := d.PendingStart(); ok && s < d.last {
		return s
	}
	return d.last
}

// PendingSince returns the oldest now passed with the first line of an open
// multiline group, if any. The caller calls Expire when it is older than the
// multiline timeout.
func (d *Decoder) PendingSince() (int64, bool) {
	var min int64
	found := false
	for _, m := range d.ml {
		if m != nil && m.Pending() && (!found || m.PendingSince() < min) {
			min, found = m.PendingSince(), true
		}
	}
	return min, found
}

// Expire ends the multiline groups that have been open since before
// now - MultilineConfig.Timeout and returns them in file order. It leaves open
// "P" sequences alone: they wait for their "F". The records are valid until
// the next call to Add, Flush or Expire.
func (d *Decoder) Expire(now int64) []Record {
	d.out = d.out[:0]
	if d.mlCfg == nil {
		return d.out
	}
	deadline := now - int64(d.mlCfg.Timeout)
	for _, m := range d.ml {
		if m.Pending() && m.PendingSince() <= deadline {
			r, _ := m.Flush()
			d.out = append(d.out, r)
		}
	}
	return d.finish(d.out)
}

// Flush ends every open record, for when the file is closed for good (after
// its unterminated last line, if any, was added): open "P" sequences and
// json-file pieces (flagged Incomplete), then multiline groups. It returns them
// in file order, valid until the next call to Add, Flush or Expire.
func (d *Decoder) Flush() []Record {
	d.out = d.out[:0]
	for s := range d.joins {
		j := &d.joins[s]
		if !j.open {
			continue
		}
		r := j.record(Stream(s), j.end)
		r.Flags |= Incomplete
		if m := d.ml[s]; m != nil {
			var ok bool
			if r, ok = m.Add(r, 0); !ok {
				continue
			}
		}
		d.out = append(d.out, r)
	}
	for _, m := range d.ml {
		if m == nil {
			continue
		}
		if r, ok := m.Flush(); ok {
			d.out = append(d.out, r)
		}
	}
	return d.finish(d.out)
}

// finish sorts records that were ended together by file offset and gives each
// the commit offset that holds once it and those before it are delivered.
func (d *Decoder) finish(rs []Record) []Record {
	for i := 1; i < len(rs); i++ {
		for k := i; k > 0 && rs[k].Start < rs[k-1].Start; k-- {
			rs[k], rs[k-1] = rs[k-1], rs[k]
		}
	}
	c := d.Commit()
	for i := len(rs) - 1; i >= 0; i-- {
		rs[i].Commit = c
		if rs[i].Start < c {
			c = rs[i].Start
		}
	}
	return rs
}

// dropScratch gives the unescaping buffer back to the budget.
func (d *Decoder) dropScratch() {
	d.mem.Give(d.scratchN)
	d.scratch, d.scratchN = nil, 0
}

// Trim gives back to the budget the buffers of the streams with no record
// open (an idle file holds no memory). Records returned before are no longer
// valid.
func (d *Decoder) Trim() {
	for i := range d.joins {
		if !d.joins[i].open {
			d.joins[i].release()
		}
		if m := d.ml[i]; m != nil && !m.cur.open {
			m.release()
		}
	}
	d.dropScratch()
}

// Release gives every buffer back to the budget. The decoder must not be
// used afterwards.
func (d *Decoder) Release() {
	for i := range d.joins {
		d.joins[i].release()
		if m := d.ml[i]; m != nil {
			m.release()
		}
	}
	d.dropScratch()
}

// Reset forgets every open record and the detected format, for a file that
// was truncated or replaced and is read again from offset; Flush first to
// keep what was open. The configuration is kept.
func (d *Decoder) Reset(offset int64) {
	d.format = d.cfgFormat
	for i := range d.joins {
		d.joins[i].open = false
		if m := d.ml[i]; m != nil {
			m.Flush()
		}
	}
	d.last = offset
}
