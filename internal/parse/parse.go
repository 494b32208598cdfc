// Package parse turns one log line into one Elasticsearch document with ECS
// field names, appending it straight into a bulk body. See Parser.Append.
//
// # Documents
//
// A line that is a JSON object (after optional spaces, tabs and '\r' around
// it) keeps its members, copied verbatim and in order from the line into the
// document, and gets a few members of ours:
//
//	{"@timestamp":T,"log.level":L,"message":M,<the line's other members>,
//	 "log.flags":[...],"log.original_size":N,"event.ingested":I,<Line.Fields>,<static>}
//
// log.level and message are there only when the line has them; log.flags and
// log.original_size only when something happened (see below).
//
//   - @timestamp comes from the first of the members "@timestamp",
//     "timestamp", "time", "ts" (in that order) whose value parses: an RFC
//     3339 string (see ParseTime), or an epoch number or string of digits in
//     seconds (may have a fraction), milliseconds, microseconds or
//     nanoseconds, chosen by magnitude (< 1e11 s, < 1e14 ms, < 1e17 µs, else
//     ns). That member is removed; it is written in UTC by AppendTime. When
//     none parses, Line.Time is used.
//   - log.level comes from the first of "log.level" (ecszerolog), "level",
//     "severity", "lvl" with a usable value: a non-empty string, lower-cased
//     (ASCII only), or a number: zerolog's -1..5 become trace, debug, info,
//     warn, error, fatal, panic; 6 and 7 (zerolog's NoLevel and Disabled)
//     are not usable; pino's and bunyan's 10, 20, 30, 40, 50, 60 become
//     trace, debug, info, warn, error, fatal; any other number is written
//     as a string ("35").
//   - message comes from the first of "message", "msg" whose value is a
//     string, copied as is. A non-string value is not used.
//   - "data_stream.dataset", when a string, is reported in Info.Dataset and
//     stays in the document.
//
// Names are compared on their raw bytes: "\u006cevel" is not "level" and is
// never used for @timestamp, log.level or message. Only the first occurrence
// of a name is considered.
//
// # Names we own: <name>_original
//
// Elasticsearch rejects a document with a repeated name, so no name may be
// written twice. The names a document owns are the ones Append writes itself
// (@timestamp and event.ingested always; log.level, message, log.flags,
// log.original_size when written; every name in Line.Fields and in the static
// members) and the names of the members that were used (e.g. "time", "level",
// "msg"). Every other member of the line with an owned name (compared after
// unescaping, so "\u006dessage" counts as "message") is moved to the single
// member "<name>_original", together with any member that already had that
// name. Its value is that member's value, or an array of all of their values
// in line order when there are several. Examples:
//
//	{"@timestamp":"yesterday","time":1700000000} -> "@timestamp":"2023-11-14T22:13:20Z","@timestamp_original":"yesterday"
//	{"message":"a","message":"b"}                -> "message":"a","message_original":"b"
//	{"message":{"k":1},"msg":"m"}                -> "message":"m","message_original":{"k":1}
//	{"level":"info","level":"warn","level":"x"}  -> "log.level":"info","level_original":["warn","x"]
//
// Other repeated names are left alone: Elasticsearch rejects that document and
// the sink dead-letters it with the reason.
//
// # Lines that are not JSON objects
//
// Anything else (plain text, empty lines, JSON arrays, numbers...) becomes
//
//	{"@timestamp":Line.Time,"message":<the whole line as a string>,"event.ingested":I,...}
//
// A line that starts with '{' but is not valid JSON, or nests deeper than
// 1000 levels, is Malformed: the same, plus "error.message" with the reason
// and offset (e.g. "invalid character 'x' looking for beginning of value at
// offset 17") and "tags":["json_parse_failure"].
//
// # Flags
//
// Invalid UTF-8 is replaced with U+FFFD (one per bad byte, like encoding/json)
// and flagged "log.flags":["invalid_utf8"]. A line cut at the length limit
// (Line.Size > len(Line.Data)) is flagged "log.flags":["truncated"] and gets
// "log.original_size":Line.Size; an incomplete UTF-8 sequence at the cut is
// dropped. A truncated JSON object is usually incomplete, so Malformed, with
// the truncation in error.message. No line is ever dropped.
package parse

import (
	"bytes"
	"math"
	"time"
)

// Flags describe what happened to a line on its way to a document.
type Flags uint8

const (
	// JSON: the line was a JSON object and its members were kept.
	JSON Flags = 1 << iota
	// Malformed: the line looked like a JSON object ('{' first) but was not
	// valid JSON; it was kept raw as message with the reason in error.message.
	Malformed
	// InvalidUTF8: invalid UTF-8 sequences were replaced with U+FFFD.
	InvalidUTF8
	// Truncated: the line was longer than the limit and was cut (Line.Size > len(Line.Data)).
	Truncated
)

// Line is the input of Parser.Append.
type Line struct {
	// Data is the line without its line terminator. Append only reads it.
	Data []byte
	// Size is the line's original size in bytes when Data was truncated
	// (Size > len(Data)); 0 when Data is the whole line.
	Size int
	// Time is the time in Unix nanoseconds to use for @timestamp when the
	// line carries no usable timestamp of its own (read time, or the
	// container runtime's timestamp). 0 means the time set by SetIngested.
	Time int64
	// Fields are extra pre-encoded JSON object members appended to the
	// document verbatim, e.g. `"log.file.path":"/x","stream":"stdout"` (no
	// braces, no leading or trailing comma). May be empty. They must not
	// use the names Append writes itself (@timestamp, log.level, message,
	// log.flags, log.original_size, event.ingested, error.message, tags).
	Fields []byte
}

// Counts tallies the Flags of parsed lines. A source keeps one per chunk or
// request and publishes it into its shared counters at once.
type Counts struct {
	JSON, Malformed, InvalidUTF8, Truncated uint64
}

// Add counts the flags of one line.
func (c *Counts) Add(f Flags) {
	if f&JSON != 0 {
		c.JSON++
	}
	if f&Malformed != 0 {
		c.Malformed++
	}
	if f&InvalidUTF8 != 0 {
		c.InvalidUTF8++
	}
	if f&Truncated != 0 {
		c.Truncated++
	}
}

// Info reports what Append found in a line.
type Info struct {
	Flags Flags
	// Dataset is the value of the line's own "data_stream.dataset" member:
	// the raw contents of the JSON string between the quotes, escapes
	// included as written (callers that build an index name from it must
	// validate it), or nil.
	//
	// It is a view into Line.Data, or, when InvalidUTF8 is set, into the
	// Parser's scratch buffer: valid until the next call to Append and as
	// long as Line.Data is not modified.
	Dataset []byte
}

// Builtin names: the ones Append uses or writes itself.
const (
	idNone uint8 = iota
	idAtTimestamp
	idTimestamp
	idTime
	idTs
	idLogLevel
	idLevel
	idSeverity
	idLvl
	idMessage
	idMsg
	idDataset
	idEventIngested
	idLogFlags
	idLogOriginalSize
	idCount
)

var idName = [idCount]string{
	idAtTimestamp:     "@timestamp",
	idTimestamp:       "timestamp",
	idTime:            "time",
	idTs:              "ts",
	idLogLevel:        "log.level",
	idLevel:           "level",
	idSeverity:        "severity",
	idLvl:             "lvl",
	idMessage:         "message",
	idMsg:             "msg",
	idDataset:         "data_stream.dataset",
	idEventIngested:   "event.ingested",
	idLogFlags:        "log.flags",
	idLogOriginalSize: "log.original_size",
}

func builtinID(name []byte) uint8 {
	switch string(name) {
	case "@timestamp":
		return idAtTimestamp
	case "timestamp":
		return idTimestamp
	case "time":
		return idTime
	case "ts":
		return idTs
	case "log.level":
		return idLogLevel
	case "level":
		return idLevel
	case "severity":
		return idSeverity
	case "lvl":
		return idLvl
	case "message":
		return idMessage
	case "msg":
		return idMsg
	case "data_stream.dataset":
		return idDataset
	case "event.ingested":
		return idEventIngested
	case "log.flags":
		return idLogFlags
	case "log.original_size":
		return idLogOriginalSize
	}
	return idNone
}

var (
	timestampIDs = [...]uint8{idAtTimestamp, idTimestamp, idTime, idTs}
	levelIDs     = [...]uint8{idLogLevel, idLevel, idSeverity, idLvl}
	messageIDs   = [...]uint8{idMessage, idMsg}
)

// zerologLevels maps zerolog's numeric levels -1..5; 6 (NoLevel) and 7
// (Disabled) carry no level.
var zerologLevels = [...]string{"trace", "debug", "info", "warn", "error", "fatal", "panic"}

// pinoLevels maps pino's and bunyan's numeric levels 10, 20, ... 60.
var pinoLevels = [...]string{"trace", "debug", "info", "warn", "error", "fatal"}

const originalSuffix = "_original"

// Member actions.
const (
	actKeep  = iota // copy verbatim
	actDrop         // used for @timestamp, log.level or message
	actGroup        // written in "<name>_original"
	actDone         // already written in its group
)

// keepScratch caps the scratch buffers a Parser keeps between lines, so that
// one huge line does not pin its memory for the life of the source.
const keepScratch = 1 << 20

// maxDynNames caps the names taken from each of Fields and static; more are
// not checked for clashes (far more than any real configuration).
const maxDynNames = 1024

// Parser turns lines into Elasticsearch documents, see the package
// documentation for their shape.
//
// A Parser is not safe for concurrent use: use one per source goroutine. It
// keeps scratch buffers between calls, so that Append does not allocate in
// steady state; it never keeps a reference to a Line or to dst.
type Parser struct {
	scanner

	static     []byte // "," + static members, or empty
	staticKeys keySet
	ingested   []byte // `,"event.ingested":"..."`
	ingestedNs int64

	fields     []byte  // copy of the last Line.Fields whose names are in keys
	fieldsKeys keySet  // names of fields
	aux        scanner // scans Fields and static for their names

	// Lines of one source carry close timestamps: the date and time down to
	// the second are parsed and formatted once per second, not per line.
	parsedDT  [dateTimeLen]byte // last date and time parsed...
	parsedSec int64             // ...in Unix seconds, valid if parsedOK
	parsedOK  bool
	fmtSec    int64 // last second formatted...
	fmtDT     [dateTimeLen + 1]byte
	fmtOK     bool

	san     []byte // the line with invalid UTF-8 replaced
	keyBuf  []byte // an unescaped member name
	reason  []byte // error.message before quoting
	dynSeen []bool // per dynamic name: some member took it (slow path)
}

// New returns a Parser that appends static to every document: pre-encoded
// JSON object members without braces or surrounding commas, e.g.
// `"agent.type":"shipper","host.name":"h"`, possibly empty. static is copied.
// The event.ingested time is the current time until SetIngested is called.
// Like Line.Fields, static must not use the names Append writes itself.
func New(static []byte) *Parser {
	p := &Parser{}
	static = bytes.Trim(static, " \t\r\n")
	if len(static) > 0 {
		p.static = append([]byte{','}, static...)
		p.staticKeys.parse(static, &p.aux)
	}
	p.SetIngested(time.Now().UnixNano())
	return p
}

// SetIngested sets the event.ingested time, in Unix nanoseconds, written into
// the documents of the following calls to Append. Callers set it once per
// read chunk, not per line: it is formatted here, once.
func (p *Parser) SetIngested(unixNano int64) {
	p.ingestedNs = unixNano
	p.ingested = append(p.ingested[:0], `,"event.ingested":`...)
	p.ingested = AppendTime(p.ingested, unixNano)
}

// Append appends the document for l to dst, without a trailing newline, and
// returns the extended dst and what it found. It never fails: every line
// becomes a document that is valid JSON and valid UTF-8.
//
// Append does not keep l, l.Data or dst after it returns. Info.Dataset is a
// view described at Info.
func (p *Parser) Append(dst []byte, l *Line) ([]byte, Info) {
	data := l.Data
	var flags Flags
	if l.Size > len(data) {
		flags |= Truncated
		data = trimPartialRune(data)
	}
	ts := l.Time
	if ts == 0 {
		ts = p.ingestedNs
	}
	var info Info
	if i := skipWS(data, 0); i < len(data) && data[i] == '{' && len(data) <= math.MaxInt32 {
		ok := p.scanObject(data, i)
		if ok && p.badUTF8 {
			// Only bytes inside strings change, so this scan succeeds too;
			// if it did not, the line would still become a document.
			flags |= InvalidUTF8
			p.san = appendValidUTF8(p.san[:0], data)
			data = p.san
			ok = p.scanObject(data, i)
		}
		if ok {
			dst, info = p.appendObject(dst, data, l, flags, ts)
			p.trimScratch()
			return dst, info
		}
		flags |= Malformed
	}
	dst, info.Flags = p.appendText(dst, data, l, flags, ts)
	p.trimScratch()
	return dst, info
}

func (p *Parser) trimScratch() {
	if cap(p.san) > keepScratch {
		p.san = nil
	}
	if cap(p.members) > keepScratch/32 {
		p.members = nil
	}
	if cap(p.keyBuf) > keepScratch {
		p.keyBuf = nil
	}
}

// appendText writes a line that is not a JSON object as a message.
func (p *Parser) appendText(dst, data []byte, l *Line, flags Flags, ts int64) ([]byte, Flags) {
	dst = append(dst, `{"@timestamp":`...)
	dst = p.appendTime(dst, ts)
	dst = append(dst, `,"message":`...)
	var bad bool
	dst, bad = AppendString(dst, data)
	if bad {
		flags |= InvalidUTF8
	}
	if flags&Malformed != 0 {
		r := p.appendReason(p.reason[:0], data)
		if flags&Truncated != 0 {
			r = append(r, "; line truncated at "...)
			r = appendInt(r, int64(len(l.Data)))
			r = append(r, " of "...)
			r = appendInt(r, int64(l.Size))
			r = append(r, " bytes"...)
		}
		p.reason = r
		dst = append(dst, `,"error.message":`...)
		dst, _ = AppendString(dst, r)
		dst = append(dst, `,"tags":["json_parse_failure"]`...)
	}
	return p.appendTail(dst, l, flags), flags
}

// appendTail writes log.flags, log.original_size, event.ingested, Fields,
// static and the closing brace.
func (p *Parser) appendTail(dst []byte, l *Line, flags Flags) []byte {
	switch flags & (Truncated | InvalidUTF8) {
	case Truncated:
		dst = append(dst, `,"log.flags":["truncated"]`...)
	case InvalidUTF8:
		dst = append(dst, `,"log.flags":["invalid_utf8"]`...)
	case Truncated | InvalidUTF8:
		dst = append(dst, `,"log.flags":["truncated","invalid_utf8"]`...)
	}
	if flags&Truncated != 0 {
		dst = append(dst, `,"log.original_size":`...)
		dst = appendInt(dst, int64(l.Size))
	}
	dst = append(dst, p.ingested...)
	if len(l.Fields) > 0 {
		dst = append(dst, ',')
		dst = append(dst, l.Fields...)
	}
	dst = append(dst, p.static...)
	return append(dst, '}')
}

// appendObject writes a line that is a valid JSON object; p.members holds its
// members, s is the line (sanitised).
func (p *Parser) appendObject(dst, s []byte, l *Line, flags Flags, ts int64) ([]byte, Info) {
	flags |= JSON
	info := Info{}
	ms := p.members

	// filter is the union of the name filters of static and Fields.
	filter := p.staticKeys.filter
	if len(l.Fields) > 0 {
		if !bytes.Equal(l.Fields, p.fields) {
			p.fields = append(p.fields[:0], l.Fields...)
			p.fieldsKeys.parse(p.fields, &p.aux)
		}
		for k := range filter {
			filter[k] |= p.fieldsKeys.filter[k]
		}
	}

	// Classify member names. first[id] is 1 + the index of the first member
	// whose raw name is the builtin name id. Bit id of seen is set when a
	// member (raw or unescaped) has that name, of twice when several do.
	var first [idCount]int32
	var seen, twice uint16
	special := false // some member has a name of Fields or static
	for k := range ms {
		m := &ms[k]
		name := s[m.ks+1 : m.ke-1]
		if m.escKey {
			p.keyBuf = Unescape(p.keyBuf[:0], name)
			name = p.keyBuf
		}
		id := builtinID(name)
		if id != idNone {
			m.id = id
			twice |= seen & (1 << id)
			seen |= 1 << id
			if first[id] == 0 && !m.escKey {
				first[id] = int32(k + 1)
			}
		}
		if h := keyHash(name); filter[h>>6]&(1<<(h&63)) != 0 {
			m.dyn = p.dynIndex(name, l)
		}
		if m.dyn == 0 && id == idNone && len(name) > len(originalSuffix) &&
			name[len(name)-1] == 'l' && string(name[len(name)-len(originalSuffix):]) == originalSuffix {
			base := name[:len(name)-len(originalSuffix)]
			if m.id = builtinID(base); m.id == idNone {
				m.dyn = p.dynIndex(base, l)
			}
			m.orig = m.id != idNone || m.dyn != 0
		}
		// An "<owned>_original" member matters only if another member
		// has the owned name: builtin ones are in seen.
		special = special || m.dyn != 0 && !m.orig
	}

	// Pick the members to use.
	var tsM, lvlM, msgM *member
	var used uint16
	for _, id := range timestampIDs {
		if k := first[id]; k != 0 {
			if t, ok := p.parseTimestamp(s, &ms[k-1]); ok {
				ts, tsM, used = t, &ms[k-1], used|1<<id
				break
			}
		}
	}
	for _, id := range levelIDs {
		if k := first[id]; k != 0 && usableLevel(s, &ms[k-1]) {
			lvlM, used = &ms[k-1], used|1<<id|1<<idLogLevel
			break
		}
	}
	for _, id := range messageIDs {
		if k := first[id]; k != 0 && ms[k-1].kind == kindString {
			msgM, used = &ms[k-1], used|1<<id|1<<idMessage
			break
		}
	}
	if k := first[idDataset]; k != 0 && ms[k-1].kind == kindString {
		m := &ms[k-1]
		info.Dataset = s[m.vs+1 : m.ve-1 : m.ve-1]
	}

	// Owned names: written by us, or used (log.level and message are in
	// used when written). A name needs a group when a member other than the
	// used one has it: any member if the name was not used, a second one if
	// it was (the used member is the first raw one).
	owned := used | 1<<idAtTimestamp | 1<<idEventIngested
	if flags&(Truncated|InvalidUTF8) != 0 {
		owned |= 1 << idLogFlags
	}
	if flags&Truncated != 0 {
		owned |= 1 << idLogOriginalSize
	}
	// Careful: log.level (message) is in used when it was written from
	// "level" ("msg"); then any log.level (message) member is left over.
	var src uint16
	for _, m := range [...]*member{tsM, lvlM, msgM} {
		if m != nil {
			src |= 1 << m.id
		}
	}
	group := owned & (src&twice | ^src&seen)

	// Write.
	dst = append(dst, `{"@timestamp":`...)
	dst = p.appendTime(dst, ts)
	if lvlM != nil {
		dst = append(dst, `,"log.level":`...)
		dst = appendLevel(dst, s, lvlM)
		lvlM.act = actDrop
	}
	if msgM != nil {
		dst = append(dst, `,"message":`...)
		dst = append(dst, s[msgM.vs:msgM.ve]...)
		msgM.act = actDrop
	}
	if tsM != nil {
		tsM.act = actDrop
	}
	if special || group != 0 {
		dst = p.appendGrouped(dst, s, group)
	} else {
		// Copy runs of kept members in one go, commas and all.
		for k := 0; k < len(ms); k++ {
			if ms[k].act != actKeep {
				continue
			}
			j := k
			for j+1 < len(ms) && ms[j+1].act == actKeep {
				j++
			}
			dst = append(dst, ',')
			dst = append(dst, s[ms[k].ks:ms[j].ve]...)
			k = j
		}
	}
	info.Flags = flags
	return p.appendTail(dst, l, flags), info
}

// appendGrouped writes the members when some go to "<name>_original" groups:
// bit id of group tells which builtin names have one, every dynamic name (Fields,
// static) has one.
func (p *Parser) appendGrouped(dst, s []byte, group uint16) []byte {
	ms := p.members
	nd := len(p.staticKeys.names) + len(p.fieldsKeys.names)
	if cap(p.dynSeen) < nd {
		p.dynSeen = make([]bool, nd)
	}
	seen := p.dynSeen[:nd]
	clear(seen)
	// Members with an owned name open (or join) their group, those with
	// "<owned name>_original" only join one that exists.
	for k := range ms {
		m := &ms[k]
		if m.act != actKeep || m.orig {
			continue
		}
		switch {
		case m.dyn != 0:
			m.act, m.gid = actGroup, uint16(idCount)+m.dyn-1
			seen[m.dyn-1] = true
		case group&(1<<m.id) != 0:
			m.act, m.gid = actGroup, uint16(m.id)
		}
	}
	for k := range ms {
		m := &ms[k]
		if !m.orig {
			continue
		}
		switch {
		case m.dyn != 0:
			if seen[m.dyn-1] {
				m.act, m.gid = actGroup, uint16(idCount)+m.dyn-1
			}
		case group&(1<<m.id) != 0:
			m.act, m.gid = actGroup, uint16(m.id)
		}
	}
	for k := range ms {
		m := &ms[k]
		switch m.act {
		case actKeep:
			dst = append(dst, ',')
			dst = append(dst, s[m.ks:m.ve]...)
		case actGroup:
			dst = append(dst, ',')
			dst = p.appendGroupName(dst, m.gid)
			dst = append(dst, ':')
			n := 0
			for j := k + 1; j < len(ms); j++ {
				if ms[j].act == actGroup && ms[j].gid == m.gid {
					n++
				}
			}
			if n == 0 {
				dst = append(dst, s[m.vs:m.ve]...)
				break
			}
			dst = append(dst, '[')
			dst = append(dst, s[m.vs:m.ve]...)
			for j := k + 1; n > 0; j++ {
				if o := &ms[j]; o.act == actGroup && o.gid == m.gid {
					dst = append(dst, ',')
					dst = append(dst, s[o.vs:o.ve]...)
					o.act = actDone
					n--
				}
			}
			dst = append(dst, ']')
		}
	}
	return dst
}

// appendGroupName appends the quoted "<name>_original" of group gid.
func (p *Parser) appendGroupName(dst []byte, gid uint16) []byte {
	if gid < uint16(idCount) {
		dst = append(dst, '"')
		dst = append(dst, idName[gid]...)
		return append(dst, originalSuffix+`"`...)
	}
	var name []byte
	if d := int(gid) - int(idCount); d < len(p.staticKeys.names) {
		name = p.staticKeys.name(d)
	} else {
		name = p.fieldsKeys.name(d - len(p.staticKeys.names))
	}
	dst, _ = AppendString(dst, name)
	return append(dst[:len(dst)-1], originalSuffix+`"`...)
}

// dynIndex returns 1 + the index of name among the names of static followed
// by those of Line.Fields, or 0.
func (p *Parser) dynIndex(name []byte, l *Line) uint16 {
	if d := p.staticKeys.index(name); d >= 0 {
		return uint16(d + 1)
	}
	if len(l.Fields) > 0 {
		if d := p.fieldsKeys.index(name); d >= 0 {
			return uint16(len(p.staticKeys.names) + d + 1)
		}
	}
	return 0
}

// parseTimestamp parses the value of m as a timestamp.
func (p *Parser) parseTimestamp(s []byte, m *member) (int64, bool) {
	v := s[m.vs:m.ve]
	switch m.kind {
	case kindNumber:
		return parseEpoch(v)
	case kindString:
		v = v[1 : len(v)-1]
		if len(v) < dateTimeLen {
			if isEpochString(v) {
				return parseEpoch(v)
			}
			return 0, false
		}
		if !p.parsedOK || string(v[:dateTimeLen]) != string(p.parsedDT[:]) {
			if isEpochString(v) {
				return parseEpoch(v)
			}
			sec, ok := parseDateTime(v[:dateTimeLen])
			if !ok {
				return 0, false
			}
			copy(p.parsedDT[:], v)
			p.parsedSec, p.parsedOK = sec, true
		}
		return parseTimeRest(p.parsedSec, v[dateTimeLen:])
	}
	return 0, false
}

// appendTime is AppendTime with the formatted second cached.
func (p *Parser) appendTime(dst []byte, t int64) []byte {
	sec := floorDiv(t, 1e9)
	if !p.fmtOK || sec != p.fmtSec {
		formatDateTime(&p.fmtDT, sec)
		p.fmtSec, p.fmtOK = sec, true
	}
	dst = append(dst, p.fmtDT[:]...)
	return appendFracZ(dst, t-sec*1e9)
}

func usableLevel(s []byte, m *member) bool {
	switch m.kind {
	case kindString:
		return m.ve-m.vs > 2
	case kindNumber:
		v := s[m.vs:m.ve]
		return !(len(v) == 1 && (v[0] == '6' || v[0] == '7'))
	}
	return false
}

// appendLevel writes the quoted level from m, see the package documentation.
// Lower-casing the raw string is safe with escapes: the letters of escapes
// are already lower-case, or hex digits of any case.
func appendLevel(dst, s []byte, m *member) []byte {
	v := s[m.vs:m.ve]
	if m.kind == kindNumber {
		dst = append(dst, '"')
		switch {
		case len(v) == 1 && v[0]-'0' <= 5:
			dst = append(dst, zerologLevels[v[0]-'0'+1]...)
		case string(v) == "-1":
			dst = append(dst, zerologLevels[0]...)
		case len(v) == 2 && v[1] == '0' && v[0] >= '1' && v[0] <= '6':
			// pino and bunyan (Node.js): 10 trace ... 60 fatal.
			dst = append(dst, pinoLevels[v[0]-'1']...)
		default:
			dst = append(dst, v...)
		}
		return append(dst, '"')
	}
	for _, c := range v {
		if c-'A' < 26 {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// keySet holds the member names of pre-encoded members (Line.Fields or
// static), unescaped, with a 256-bit filter on (length, first byte, last
// byte) so that most line member names are rejected with one bit test.
type keySet struct {
	obj    []byte // scratch: the members in braces
	buf    []byte
	names  []int32 // end offsets in buf; name k is buf[names[k-1]:names[k]]
	filter [4]uint64
}

func keyHash(name []byte) uint8 {
	if len(name) == 0 {
		return 0
	}
	return uint8(len(name)*7) ^ name[0] ^ name[len(name)-1]<<2
}

// parse collects the member names of b, `"a":1,"b":{...}`, using sc for
// scratch. b is trusted (it comes from the program, not the log); if it is
// not valid the names found so far are kept.
func (ks *keySet) parse(b []byte, sc *scanner) {
	ks.buf, ks.names, ks.filter = ks.buf[:0], ks.names[:0], [4]uint64{}
	ks.obj = append(append(append(ks.obj[:0], '{'), b...), '}')
	obj := ks.obj
	sc.scanObject(obj, 0)
	for _, m := range sc.members {
		name := obj[m.ks+1 : m.ke-1]
		if m.escKey {
			ks.buf = Unescape(ks.buf, name)
		} else {
			ks.buf = append(ks.buf, name...)
		}
		start := int32(0)
		if len(ks.names) > 0 {
			start = ks.names[len(ks.names)-1]
		}
		h := keyHash(ks.buf[start:])
		ks.filter[h>>6] |= 1 << (h & 63)
		ks.names = append(ks.names, int32(len(ks.buf)))
		if len(ks.names) == maxDynNames {
			break
		}
	}
	sc.members = sc.members[:0]
}

func (ks *keySet) name(k int) []byte {
	start := int32(0)
	if k > 0 {
		start = ks.names[k-1]
	}
	return ks.buf[start:ks.names[k]]
}

// index returns the index of name in ks, or -1.
func (ks *keySet) index(name []byte) int {
	h := keyHash(name)
	if ks.filter[h>>6]&(1<<(h&63)) == 0 {
		return -1
	}
	for k := range ks.names {
		if string(ks.name(k)) == string(name) {
			return k
		}
	}
	return -1
}
