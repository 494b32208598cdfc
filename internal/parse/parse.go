// Package parse turns one log line into one Elasticsearch document with ECS
// field names, appending it straight into a bulk body. See Parser.Append.
// docs/documents.md describes the result for users; this is the exact
// reference.
//
// # Documents
//
// A line that is a JSON object (after optional spaces, tabs and '\r' around
// it, and an optional UTF-8 byte-order mark before it) keeps its members, in
// order and copied verbatim from the line unless they are renamed (see
// below), and gets a few members of ours:
//
//	{"@timestamp":T,"log.level":L,"message":M,<the line's other members>,
//	 "log.flags":[...],"log.original_size":N,<order>,"host.name":H,
//	 "event.ingested":I,<Line.Fields>,<static>}
//
// log.level and message are there only when the line has them; log.flags and
// log.original_size only when something happened (see Flags); <order> is
// "log.offset" or "event.sequence" when the Line has one (Line.OrderKind);
// host.name is the "host.name" member of static, written only when the line
// names no host of its own (a member "host", "host.name" or "host.*").
//
//   - @timestamp comes from the first of the members "@timestamp",
//     "timestamp", "time", "ts", "@t", "asctime" (in that order) whose value parses
//     and lies between 1970 and 2262 (what Elasticsearch's date_nanos
//     holds): an RFC 3339 string (see ParseTime), or an epoch number or
//     string of digits in seconds (may have a fraction), milliseconds,
//     microseconds or nanoseconds, chosen by magnitude (< 1e11 s, < 1e14
//     ms, < 1e17 µs, else ns). That member is removed; it is written in UTC
//     by AppendTime. When none is usable, Line.Time is used, and if the line
//     had one of those members the document is flagged BadTimestamp.
//   - log.level comes from the first of "log.level" (ecszerolog), "level",
//     "severity", "lvl", "levelname" (Python), "@l" (Serilog) with a usable
//     value: a non-empty string, lower-cased (ASCII only), or a number:
//     zerolog's -1..5 become trace, debug, info, warn, error, fatal, panic;
//     6 and 7 (zerolog's NoLevel and Disabled) are not usable; pino's and
//     bunyan's 10, 20, 30, 40, 50, 60 become trace, debug, info, warn,
//     error, fatal; any other number is written as a string ("35"). In a
//     line with a "short_message" member (GELF), 0..7 are syslog
//     severities: emergency, alert, critical, error, warning, notice, info,
//     debug.
//   - message comes from the first of "message", "msg", "@m", "@mt"
//     (Serilog), "event" (structlog), "short_message" (GELF) whose value is
//     a string, copied as is. A non-string value is not used.
//   - "data_stream.dataset", when a string, is reported in Info.Dataset and
//     stays in the document.
//
// Names are compared on their raw bytes for use: "\u006cevel" is not "level"
// and is never used for @timestamp, log.level or message. Only the first
// occurrence of a name is considered.
//
// # Renamed members
//
// The mapping of the logs templates (subobjects: false) takes any shape for
// any name, so only names matter. Each member's name goes through these
// steps (names compared after unescaping):
//
//  1. A member whose value is a string, number, true or false, and whose
//     name ECS uses for an object, is renamed to the ECS field (ecsTarget):
//     service -> service.name, host -> host.name, error -> error.message,
//     url -> url.original, user_agent -> user_agent.original, trace,
//     trace_id, traceId -> trace.id, span, span_id, spanId -> span.id,
//     transaction -> transaction.id, client -> client.address, container ->
//     container.name, event -> event.action; unless the line has a member
//     with the ECS name itself. Flag ECSRenamed.
//  2. A name Elasticsearch cannot take at the top level is fixed (badName,
//     appendFixedName): a metadata field name gets "_original" ("_id" ->
//     "_id_original"); each empty or blank segment between dots becomes "_"
//     ("" -> "_", "a..b" -> "a._.b"). Flag Renamed.
//  3. A name the document owns gets the suffix "_original". Owned are the
//     names Append writes (@timestamp, event.ingested and log.flags always;
//     log.level, message, log.original_size, the order field and host.name
//     when written; every name in Line.Fields and in static) and the names
//     of the members that were used (e.g. "time", "level", "msg"), except
//     for the member used itself. Flag Renamed.
//  4. Members that end up with the same name are written once, at the first
//     of them, with the array of their values in line order. Flag Merged.
//
// Examples:
//
//	{"@timestamp":"yesterday","time":1700000000} -> "@timestamp":"2023-11-14T22:13:20Z","@timestamp_original":"yesterday"
//	{"message":"a","message":"b"}                -> "message":"a","message_original":"b"
//	{"message":{"k":1},"msg":"m"}                -> "message":"m","message_original":{"k":1}
//	{"level":"info","level":"warn","level":"x"}  -> "log.level":"info","level_original":["warn","x"]
//	{"service":"a","error":"e","a":1,"a":2}      -> "service.name":"a","error.message":"e","a":[1,2]
//
// Lines whose members need none of this (the common case) are copied in runs
// without looking at each member again.
//
// # Lines that are not JSON objects
//
// Anything else (plain text, JSON arrays, numbers...) becomes
//
//	{"@timestamp":Line.Time,"message":<the whole line as a string>,...,"event.ingested":I,...}
//
// A line that starts with '{' but is not valid JSON, or nests deeper than
// 1000 levels, is Malformed: the same, plus "error.message" with the reason
// and offset (e.g. "invalid character 'x' looking for beginning of value at
// offset 17") and the flag "json_parse_failure". Blank lines (IsBlank) are
// not for Append: callers count them and ship nothing (encode does).
//
// # Flags
//
// Everything Append changed is named in log.flags (and in Info.Flags), in
// this order: "truncated", "invalid_utf8", "json_parse_failure",
// "byte_order_mark", "timestamp_unusable", "ecs_renamed", "field_renamed",
// "field_merged". Invalid UTF-8 is replaced with U+FFFD (one per bad byte,
// like encoding/json; Line.InvalidUTF8 when the caller replaced it). A line
// cut at the length limit (Line.Size > len(Line.Data)) also gets
// "log.original_size":Line.Size; an incomplete UTF-8 sequence at the cut is
// dropped. A truncated JSON object is usually incomplete, so Malformed, with
// the truncation in error.message. No line is ever dropped.
package parse

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
	"sync/atomic"
	"time"
)

// Flags describe what happened to a line on its way to a document. All but
// JSON and Blank are also written into the document's log.flags, see the
// package documentation.
type Flags uint16

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
	// BOM: a UTF-8 byte-order mark before the '{' was removed.
	BOM
	// BadTimestamp: the line had a timestamp member but none could be used
	// (unparseable, or outside what Elasticsearch stores: before 1970 or
	// after 2262).
	BadTimestamp
	// ECSRenamed: a scalar member with a name ECS uses for an object was
	// renamed to its ECS field ("service" -> "service.name").
	ECSRenamed
	// Renamed: a member was renamed because Elasticsearch cannot take its
	// name ("_id", "", "a..b") or because the document writes that name
	// itself ("<name>_original").
	Renamed
	// Merged: members with the same (final) name were merged into an array.
	Merged
	// Blank: the line was empty or whitespace only; no document was
	// written (set by encode, see IsBlank).
	Blank
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
	// TimeText, when not empty, stands for Time: the time as text in a
	// form ParseTime reads (a container runtime's timestamp as written),
	// parsed only for a line that has no usable timestamp of its own (JSON
	// lines rarely need it). When it does not parse, or parses to 0, Time
	// is used as if TimeText were empty.
	TimeText []byte
	// Fields are extra pre-encoded JSON object members appended to the
	// document verbatim, e.g. `"log.file.path":"/x","stream":"stdout"` (no
	// braces, no leading or trailing comma). May be empty. They must not
	// use the names Append writes itself (@timestamp, log.level, message,
	// log.flags, log.original_size, log.offset, event.sequence,
	// event.ingested, error.message, host.name).
	Fields []byte
	// FieldsID, when not 0, names the bytes of Fields: every Line with
	// this FieldsID has the same Fields, so Append compares them with the
	// previous line's only when the id changes. A source gets one id from
	// NewFieldsID for each Fields it builds and never changes afterwards;
	// 0 (fields written into a reused buffer) has them compared on every
	// line.
	FieldsID uint64
	// Order breaks ties between documents of one source that share a
	// @timestamp: written as "log.offset" (the line's byte offset in its
	// file) when OrderKind is OrderOffset, as "event.sequence" (a counter
	// of the source) when it is OrderSequence, not at all for OrderNone.
	Order     int64
	OrderKind OrderKind
	// InvalidUTF8 tells that the caller already replaced invalid UTF-8 in
	// Data (a Fluent Forward record rendered as JSON): the document is
	// flagged as if Append had.
	InvalidUTF8 bool
}

// OrderKind names the field Line.Order is written to.
type OrderKind uint8

const (
	OrderNone     OrderKind = iota
	OrderOffset             // log.offset
	OrderSequence           // event.sequence
)

// Counts tallies the Flags of parsed lines. A source keeps one per chunk or
// request and publishes it into its shared counters at once.
type Counts struct {
	JSON, Malformed, InvalidUTF8, Truncated uint64
	// Blank lines were counted and not shipped.
	Blank uint64
	// Changed lines had members renamed or merged, a byte-order mark
	// removed or an unusable timestamp (any of the flags in log.flags
	// other than the four above).
	Changed uint64
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
	if f&Blank != 0 {
		c.Blank++
	}
	if f&(BOM|BadTimestamp|ECSRenamed|Renamed|Merged) != 0 {
		c.Changed++
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

// Builtin names: the ones Append uses or writes itself, and the ECS names
// of the normalisation table (see ecsTarget). At most 64: they are bits of a
// uint64.
const (
	idNone uint8 = iota
	idAtTimestamp
	idTimestamp
	idTime
	idTs
	idAtT
	idAsctime
	idLogLevel
	idLevel
	idSeverity
	idLvl
	idLevelname
	idAtL
	idMessage
	idMsg
	idAtM
	idAtMT
	idEvent
	idShortMessage
	idDataset
	idEventIngested
	idLogFlags
	idLogOriginalSize
	idLogOffset
	idEventSequence
	idService
	idHost
	idError
	idURL
	idUserAgent
	idTrace
	idTraceIDU
	idTraceIDC
	idSpan
	idSpanIDU
	idSpanIDC
	idTransaction
	idClient
	idContainer
	idServiceName
	idHostName
	idErrorMessage
	idURLOriginal
	idUserAgentOriginal
	idTraceID
	idSpanID
	idTransactionID
	idClientAddress
	idContainerName
	idEventAction
	idCount
)

var idName = [idCount]string{
	idAtTimestamp:       "@timestamp",
	idTimestamp:         "timestamp",
	idTime:              "time",
	idTs:                "ts",
	idAtT:               "@t",
	idAsctime:           "asctime",
	idLogLevel:          "log.level",
	idLevel:             "level",
	idSeverity:          "severity",
	idLvl:               "lvl",
	idLevelname:         "levelname",
	idAtL:               "@l",
	idMessage:           "message",
	idMsg:               "msg",
	idAtM:               "@m",
	idAtMT:              "@mt",
	idEvent:             "event",
	idShortMessage:      "short_message",
	idDataset:           "data_stream.dataset",
	idEventIngested:     "event.ingested",
	idLogFlags:          "log.flags",
	idLogOriginalSize:   "log.original_size",
	idLogOffset:         "log.offset",
	idEventSequence:     "event.sequence",
	idService:           "service",
	idHost:              "host",
	idError:             "error",
	idURL:               "url",
	idUserAgent:         "user_agent",
	idTrace:             "trace",
	idTraceIDU:          "trace_id",
	idTraceIDC:          "traceId",
	idSpan:              "span",
	idSpanIDU:           "span_id",
	idSpanIDC:           "spanId",
	idTransaction:       "transaction",
	idClient:            "client",
	idContainer:         "container",
	idServiceName:       "service.name",
	idHostName:          "host.name",
	idErrorMessage:      "error.message",
	idURLOriginal:       "url.original",
	idUserAgentOriginal: "user_agent.original",
	idTraceID:           "trace.id",
	idSpanID:            "span.id",
	idTransactionID:     "transaction.id",
	idClientAddress:     "client.address",
	idContainerName:     "container.name",
	idEventAction:       "event.action",
}

// The ids are bits of uint64 sets: a 65th name does not compile.
var _ [64 - idCount]struct{}

// builtinID returns the id of name if it is a builtin name, else idNone.
func builtinID(name []byte) uint8 { return builtinIDHash(name, nameHash(name)) }

// builtinIDHash is builtinID with nameHash(name) already computed: one
// table lookup and at most one comparison.
func builtinIDHash(name []byte, h uint32) uint8 {
	id := builtinTable[h>>(32-builtinBits)]
	if id != idNone && idName[id] == string(name) {
		return id
	}
	return idNone
}

// nameHash hashes a member name from its length and three of its bytes
// (first, last, third from last: "trace.id" and "trace_id" differ there).
// builtinTable and keyHash use its top bits.
func nameHash(name []byte) uint32 {
	n := len(name)
	if n == 0 {
		return 0
	}
	// Odd multipliers picked so that the builtin names fill distinct
	// slots of builtinTable.
	return uint32(n)*0xa6cecc1b ^ uint32(name[0])*0x612e7697 ^
		uint32(name[n-1])*0xc9e9c617 ^ uint32(name[max(n-3, 0)])*0x35bf992d
}

// builtinTable maps the top builtinBits bits of nameHash to the builtin
// name with that hash; no two builtin names share a slot (checked at
// start-up).
const builtinBits = 9

var builtinTable = func() (t [1 << builtinBits]uint8) {
	for id := idNone + 1; id < idCount; id++ {
		slot := nameHash([]byte(idName[id])) >> (32 - builtinBits)
		if t[slot] != idNone {
			panic("parse: builtin names " + idName[t[slot]] + " and " + idName[id] + " share a hash slot")
		}
		t[slot] = id
	}
	return t
}()

var (
	timestampIDs = [...]uint8{idAtTimestamp, idTimestamp, idTime, idTs, idAtT, idAsctime}
	levelIDs     = [...]uint8{idLogLevel, idLevel, idSeverity, idLvl, idLevelname, idAtL}
	messageIDs   = [...]uint8{idMessage, idMsg, idAtM, idAtMT, idEvent, idShortMessage}
)

// zerologLevels maps zerolog's numeric levels -1..5; 6 (NoLevel) and 7
// (Disabled) carry no level.
var zerologLevels = [...]string{"trace", "debug", "info", "warn", "error", "fatal", "panic"}

// pinoLevels maps pino's and bunyan's numeric levels 10, 20, ... 60.
var pinoLevels = [...]string{"trace", "debug", "info", "warn", "error", "fatal"}

// syslogLevels maps the syslog severities 0 to 7, GELF's numeric level (a
// line with short_message is GELF).
var syslogLevels = [...]string{"emergency", "alert", "critical", "error", "warning", "notice", "info", "debug"}

const originalSuffix = "_original"

// Member actions.
const (
	actKeep = iota // written, under its name or its final name
	actDrop        // used for @timestamp, log.level or message
	_
	actDone // merged into the array of an earlier member
)

// keepScratch caps the scratch buffers a Parser keeps between lines, so that
// one huge line does not pin its memory for the life of the source.
const keepScratch = 1 << 20

// maxDynNames caps the names taken from each of Fields and static; more are
// not checked for clashes (far more than any real configuration).
const maxDynNames = 1024

// maxFastMembers: lines with more top-level members always take the slow
// path of appendObject, whose duplicate check is linear.
const maxFastMembers = 64

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
	host       []byte // `,"host.name":...` taken out of static, or empty
	ingested   []byte // `,"event.ingested":"..."`
	ingestedNs int64
	ingestVer  uint64 // changes with ingested

	// tails[1] (with host.name) and tails[0] (without): the end of
	// every document, pre-joined (see appendTail).
	tails [2]tail
	order struct { // the last order field written (appendOrder)
		b    [48]byte // its text: b[:n]
		n    int
		kind OrderKind
		v    int64
	}

	fields     []byte  // copy of the last Line.Fields whose names are in keys
	fieldsKeys keySet  // names of fields
	fieldsVer  uint32  // changes with fields: shapes classified with other Fields are stale
	fieldsID   uint64  // Line.FieldsID of fields
	aux        scanner // scans Fields and static for their names

	// Lines of one source carry close timestamps: the date and time down to
	// the second are parsed and formatted once per second, not per line.
	// Two are kept, by the parity of the hour's last digit: the same
	// second in two zones an hour apart (UTC and CET) do not evict each
	// other (see parseTimestamp).
	parsed  [2]parsedDT
	fmtSec  int64    // last second formatted...
	fmtHead [48]byte // ...as `{"@timestamp":"2006-01-02T15:04:05`
	fmtOK   bool

	san    []byte // the line with invalid UTF-8 replaced
	keyBuf []byte // an unescaped member name
	reason []byte // error.message before quoting

	// Slow path of appendObject (appendNormalised).
	fin     []byte  // final member names, back to back
	finEnd  []int32 // end of member k's final name in fin
	slots   []int32 // hash table of final names: 1 + member index
	next    []int32 // chains of members with equal final names
	renamed []bool  // per member: its final name is not its own

	dsMember int // index of the member data_stream.dataset was taken from, or -1

	renames uint64 // targets of the members markRenames renamed

	shapes  []shape // classified member names of recent lines, see shapeOf
	tmp     shape   // the classification of a line whose shape is not kept
	missRun int     // lines since one met a kept shape

	// general makes every JSON line take the slow path (appendNormalised):
	// tests compare the fast paths with it.
	general bool
	// noShapes makes every JSON line classify its member names (no kept
	// shapes): tests compare the kept shapes with it.
	noShapes bool
}

// New returns a Parser that appends static to every document: pre-encoded
// JSON object members without braces or surrounding commas, e.g.
// `"agent.type":"shipper","host.name":"h"`, possibly empty. static is copied.
// A "host.name" member of static is a default: it is written only into
// documents whose line names no host of its own (see the package
// documentation). The event.ingested time is the current time until
// SetIngested is called. Like Line.Fields, static must not use the names
// Append writes itself.
func New(static []byte) *Parser {
	p := &Parser{}
	static = bytes.Trim(static, " \t\r\n")
	static = p.takeHost(static)
	if len(static) > 0 {
		p.static = append([]byte{','}, static...)
		p.staticKeys.parse(static, &p.aux)
	}
	p.SetIngested(time.Now().UnixNano())
	return p
}

// takeHost moves a "host.name" member of static into p.host and returns the
// other members.
func (p *Parser) takeHost(static []byte) []byte {
	obj := append(append(append([]byte(nil), '{'), static...), '}')
	if !p.aux.scanObject(obj, 0) {
		p.aux.members = p.aux.members[:0]
		return static
	}
	var rest []byte
	for _, m := range p.aux.members {
		if string(obj[m.ks:m.ke]) == `"host.name"` && p.host == nil {
			p.host = append([]byte(`,"host.name":`), obj[m.vs:m.ve]...)
			continue
		}
		if len(rest) > 0 {
			rest = append(rest, ',')
		}
		rest = append(rest, obj[m.ks:m.ve]...)
	}
	p.aux.members = p.aux.members[:0]
	if p.host == nil {
		return static
	}
	return rest
}

// SetIngested sets the event.ingested time, in Unix nanoseconds, written into
// the documents of the following calls to Append. Callers set it once per
// read chunk, not per line: it is formatted here, once.
func (p *Parser) SetIngested(unixNano int64) {
	p.ingestedNs = unixNano
	p.ingestVer++
	p.ingested = append(p.ingested[:0], `,"event.ingested":`...)
	p.ingested = AppendTime(p.ingested, unixNano)
}

// Append appends the document for l to dst, without a trailing newline, and
// returns the extended dst and what it found. It never fails: every line
// becomes a document that is valid JSON and valid UTF-8. (Callers skip
// blank lines before, see IsBlank.)
//
// Append does not keep l, l.Data or dst after it returns. Info.Dataset is a
// view described at Info.
func (p *Parser) Append(dst []byte, l *Line) ([]byte, Info) {
	data := l.Data
	var flags Flags
	if l.InvalidUTF8 {
		flags |= InvalidUTF8
	}
	if l.Size > len(data) {
		flags |= Truncated
		data = trimPartialRune(data)
	}
	var info Info
	i := 0
	if len(data) == 0 || data[0] != '{' { // else neither whitespace nor a BOM
		i = skipWS(data, 0)
		if len(data)-i > len(utf8BOM) && string(data[i:i+len(utf8BOM)]) == utf8BOM {
			if j := skipWS(data, i+len(utf8BOM)); j < len(data) && data[j] == '{' {
				data, i = data[i+len(utf8BOM):], j-i-len(utf8BOM)
				flags |= BOM
			}
		}
	}
	if i < len(data) && data[i] == '{' && len(data) <= math.MaxInt32 {
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
			dst, info = p.appendObject(dst, data, l, flags)
			p.trimScratch()
			return dst, info
		}
		flags |= Malformed
	}
	dst, info.Flags = p.appendText(dst, data, l, flags)
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
	if cap(p.fin) > keepScratch {
		p.fin, p.finEnd, p.slots, p.next = nil, nil, nil, nil
	}
	// The structural index: eight bytes per 64 bytes of the line.
	if cap(p.stop) > keepScratch/8 {
		p.stop = nil
	}
}

// appendText writes a line that is not a JSON object as a message.
func (p *Parser) appendText(dst, data []byte, l *Line, flags Flags) ([]byte, Flags) {
	p.syncFields(l)
	dst = p.appendTimestamp(dst, p.lineTime(l))
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
	}
	return p.appendTail(dst, l, flags, true), flags
}

// tail is the end of a document, pre-joined: host.name (or not),
// event.ingested, Fields, static and the closing brace, for the event.ingested
// time and Fields of key.
type tail struct {
	b      []byte
	ingest uint64 // ingestVer of b
	fields uint32 // fieldsVer of b, 0 without Fields
	ok     bool
}

// appendOps writes the members of a line of a kept shape by the ops of its
// plan. It is a function of its own, with few values live in its loop, so
// that they stay in registers.
func appendOps(dst, s []byte, ms []member, ops []op) []byte {
	// Room for every op's window (see below) reserved once: the loop
	// makes no call on its common path, so that its values stay in
	// registers. An op writes its prefix (at most 32 bytes, see
	// TestQuotedNameFitsOp) and its span, and makePlan's spans are
	// disjoint parts of s in order: dst grows by at most len(s) +
	// 32*len(ops), and the last window needs 192 bytes past its start.
	// Were that wrong, the window's bounds check would panic: it never
	// writes past cap(dst).
	if need := len(s) + 32*len(ops) + 192; cap(dst)-len(dst) < need {
		dst = slices.Grow(dst, need)
	}
	s = s[:len(s):len(s)] // one register for len and cap
	// The members as an array (scanObject leaves room for that many):
	// masked, the indexes of an op need no bounds check. makePlan's are
	// below len(ms).
	msa := (*[maxFastMembers]member)(ms[:maxFastMembers])
	for i := range ops {
		o := &ops[i]
		a, b := &msa[o.a%maxFastMembers], &msa[o.b%maxFastMembers]
		// Offsets into s, through uint32 known to be >= 0.
		start := int(uint32(a.ks + (a.vs-a.ks)&o.fromValue))
		end := int(uint32(b.ve + (b.ke-1-b.ve)&o.toName))
		l := len(dst)
		// The prefix as four words, and a span of up to 64 bytes that
		// has 64 bytes of the line from its start as eight, past the
		// end of dst, of which the lengths are kept: the spans vary in
		// length from line to line, and memmove's branches on the
		// length mispredict. Words, not blocks of 16 bytes: a word
		// load or store takes a base and an offset in its addressing,
		// a block move needs its address computed. The window of 192
		// bytes holds both whatever npre (at most 32; the mask spares
		// the bounds checks), with spans of up to 128 bytes below.
		d := (*[192]byte)(dst[l : l+192])
		*(*[8]byte)(d[0:8]) = *(*[8]byte)(o.pre[0:8])
		*(*[8]byte)(d[8:16]) = *(*[8]byte)(o.pre[8:16])
		*(*[8]byte)(d[16:24]) = *(*[8]byte)(o.pre[16:24])
		*(*[8]byte)(d[24:32]) = *(*[8]byte)(o.pre[24:32])
		np := int(o.npre) & 63
		if n := end - start; n <= 64 && start+64 <= len(s) {
			w, a := (*[64]byte)(d[np:np+64]), (*[64]byte)(s[start:start+64])
			*(*[8]byte)(w[0:8]) = *(*[8]byte)(a[0:8])
			*(*[8]byte)(w[8:16]) = *(*[8]byte)(a[8:16])
			*(*[8]byte)(w[16:24]) = *(*[8]byte)(a[16:24])
			*(*[8]byte)(w[24:32]) = *(*[8]byte)(a[24:32])
			*(*[8]byte)(w[32:40]) = *(*[8]byte)(a[32:40])
			*(*[8]byte)(w[40:48]) = *(*[8]byte)(a[40:48])
			*(*[8]byte)(w[48:56]) = *(*[8]byte)(a[48:56])
			*(*[8]byte)(w[56:64]) = *(*[8]byte)(a[56:64])
			dst = dst[:l+np+n]
		} else if n <= 128 && start+128 <= len(s) {
			// Runs of members are often longer: the same with 128
			// bytes, sixteen words.
			w, a := (*[128]byte)(d[np:np+128]), (*[128]byte)(s[start:start+128])
			*(*[8]byte)(w[0:8]) = *(*[8]byte)(a[0:8])
			*(*[8]byte)(w[8:16]) = *(*[8]byte)(a[8:16])
			*(*[8]byte)(w[16:24]) = *(*[8]byte)(a[16:24])
			*(*[8]byte)(w[24:32]) = *(*[8]byte)(a[24:32])
			*(*[8]byte)(w[32:40]) = *(*[8]byte)(a[32:40])
			*(*[8]byte)(w[40:48]) = *(*[8]byte)(a[40:48])
			*(*[8]byte)(w[48:56]) = *(*[8]byte)(a[48:56])
			*(*[8]byte)(w[56:64]) = *(*[8]byte)(a[56:64])
			*(*[8]byte)(w[64:72]) = *(*[8]byte)(a[64:72])
			*(*[8]byte)(w[72:80]) = *(*[8]byte)(a[72:80])
			*(*[8]byte)(w[80:88]) = *(*[8]byte)(a[80:88])
			*(*[8]byte)(w[88:96]) = *(*[8]byte)(a[88:96])
			*(*[8]byte)(w[96:104]) = *(*[8]byte)(a[96:104])
			*(*[8]byte)(w[104:112]) = *(*[8]byte)(a[104:112])
			*(*[8]byte)(w[112:120]) = *(*[8]byte)(a[112:120])
			*(*[8]byte)(w[120:128]) = *(*[8]byte)(a[120:128])
			dst = dst[:l+np+n]
		} else {
			dst = append(dst[:l+np], s[start:end]...)
		}
	}
	return dst
}

// appendTail writes log.flags, log.original_size, the order field,
// host.name (when host is set), event.ingested, Fields, static and the
// closing brace. p.fields is l.Fields (syncFields).
func (p *Parser) appendTail(dst []byte, l *Line, flags Flags, host bool) []byte {
	dst = appendFlags(dst, flags)
	if flags&Truncated != 0 {
		dst = append(dst, `,"log.original_size":`...)
		dst = appendInt(dst, int64(l.Size))
	}
	if l.OrderKind != OrderNone {
		dst = p.appendOrder(dst, l.OrderKind, l.Order)
	}
	var t *tail
	if host {
		t = &p.tails[1]
	} else {
		t = &p.tails[0]
	}
	var fv uint32
	if len(l.Fields) > 0 {
		fv = p.fieldsVer
	}
	if !t.ok || t.ingest != p.ingestVer || t.fields != fv {
		b := t.b[:0]
		if host {
			b = append(b, p.host...)
		}
		b = append(b, p.ingested...)
		if len(l.Fields) > 0 {
			b = append(b, ',')
			b = append(b, l.Fields...)
		}
		b = append(b, p.static...)
		t.b, t.ingest, t.fields, t.ok = append(b, '}'), p.ingestVer, fv, true
	}
	return append(dst, t.b...)
}

// appendOrder writes the order field, `,"log.offset":N` or
// `,"event.sequence":N`. A file's offset (the last one plus a line's length)
// is formatted whole by appendOffset. The text of the last sequence number is
// kept: the next line's is one more (a digit or two change), and the whole
// text is stored as one block.
func (p *Parser) appendOrder(dst []byte, kind OrderKind, v int64) []byte {
	if kind == OrderOffset && uint64(v)-10 < 1e16-10 {
		return appendOffset(dst, uint64(v))
	}
	o := &p.order
	if kind != o.kind || v != o.v || o.n == 0 {
		switch {
		case kind == o.kind && o.n > 0 && o.v >= 0 && o.v < math.MaxInt64 && v == o.v+1 && o.b[o.n-1] != '9':
			o.b[o.n-1]++
		default:
			var name string
			if kind == OrderOffset {
				name = `,"log.offset":`
			} else {
				name = `,"event.sequence":`
			}
			o.n = len(appendInt(append(o.b[:0], name...), v))
		}
		o.kind, o.v = kind, v
	}
	return appendFixed48(dst, &o.b, o.n)
}

// offsetName is `,"log.offset":` as two overlapping little-endian words,
// its bytes 0 to 7 and 6 to 13.
var offsetName = [2]uint64{
	binary.LittleEndian.Uint64([]byte(`,"log.offset":`)[0:8]),
	binary.LittleEndian.Uint64([]byte(`,"log.offset":`)[6:14]),
}

// appendOffset writes `,"log.offset":v` for 10 <= v < 1e16. The sixteen
// digits of v, leading zeros included, are made eight at a time in the lanes
// of a word (digits8) and stored so that the first significant one follows
// the name, which is stored after them over the leading zeros: no loop over
// the digits, whose number and carries vary from line to line (adding a
// line's length to the last offset's digits, as before, mispredicted one to
// two branches a line).
func appendOffset(dst []byte, v uint64) []byte {
	const (
		nameLen = len(`,"log.offset":`)
		zeros   = 0x3030303030303030
	)
	l := len(dst)
	if cap(dst)-l < 32 {
		dst = append(dst, make([]byte, 32)...)
	}
	w := dst[l : l+32 : l+32]
	hi := v / 1e8
	a, b := digits8(hi), digits8(v-hi*1e8)
	// The leading zero digits: the low zero bytes of a, then of b. v >= 10
	// has two digits at least: lz <= 14 = nameLen.
	lz := bits.TrailingZeros64(a) >> 3
	if lz == 8 {
		lz += bits.TrailingZeros64(b) >> 3
	}
	at := (nameLen - lz) & 15
	binary.LittleEndian.PutUint64(w[at:], a|zeros)
	binary.LittleEndian.PutUint64(w[at+8:], b|zeros)
	binary.LittleEndian.PutUint64(w[0:], offsetName[0])
	binary.LittleEndian.PutUint64(w[6:], offsetName[1])
	return dst[:l+nameLen+16-lz]
}

// syncFields makes p.fields (and its names) those of l.Fields, when it has
// any. Fields named by the FieldsID of the last ones are not compared again.
func (p *Parser) syncFields(l *Line) {
	// The common cases inline, the rest in a call.
	if len(l.Fields) != 0 && (l.FieldsID == 0 || l.FieldsID != p.fieldsID) {
		p.loadFields(l)
	}
}

// loadFields is syncFields for Fields that may differ from p.fields.
func (p *Parser) loadFields(l *Line) {
	if !bytes.Equal(l.Fields, p.fields) {
		p.fields = append(p.fields[:0], l.Fields...)
		p.fieldsKeys.parse(p.fields, &p.aux)
		if p.fieldsVer++; p.fieldsVer == 0 {
			p.fieldsVer = 1 // 0 is for no Fields
		}
	}
	p.fieldsID = l.FieldsID
}

// fieldsIDs hands out FieldsIDs.
var fieldsIDs atomic.Uint64

// NewFieldsID returns a FieldsID no other call returns (in this process).
func NewFieldsID() uint64 { return fieldsIDs.Add(1) }

// A plan is how appendObject writes the members of the lines of one shape
// whose picks (the members used for @timestamp, log.level, message and
// data_stream.dataset), scalar values among the members that may be renamed
// to their ECS field, and settings are those of its key: everything the
// choice between the fast and the slow path, and the fast path's renames and
// runs, depend on. A shape keeps the plan of its last line; the lines of one
// logger share it, and their members are written without looking at each
// member again.
type plan struct {
	key    uint64 // see appendObject
	scalar uint64 // bit k: member k is a scalar, for the members of shape.ecsCand
	ok     bool
	slow   bool   // appendNormalised writes the members
	owned  uint64 // for appendNormalised
	flags  Flags  // ECSRenamed and Renamed, on the fast path
	ops    []op   // the fast path
}

// An op writes pre[:npre], then the bytes of the line from the start of
// member a's name (or, with fromValue, of its value) to the end of member
// b's value (or, with toName, to the end of its name without the closing
// quote). The choices are masks, not branches: the ops of a line follow no
// pattern a branch predictor could learn.
type op struct {
	pre               [32]byte
	npre              uint8
	a, b              uint8
	fromValue, toName int32 // 0 or -1
}

// appendObject writes a line that is a valid JSON object; p.members holds its
// members, s is the line (sanitised).
func (p *Parser) appendObject(dst, s []byte, l *Line, flags Flags) ([]byte, Info) {
	flags |= JSON
	info := Info{}
	ms := p.members

	p.syncFields(l)
	sh := p.shapeOf(s, l)

	// Pick the members to use: the first usable one of each list.
	var tsK, lvlK, msgK, dsK int // 1 + member index, 0 for none
	var ts int64
	for _, k := range sh.tsCand[:sh.nTs] {
		if t, ok := p.parseTimestamp(s, &ms[k]); ok && t >= 0 {
			ts, tsK = t, int(k)+1
			break
		}
	}
	if tsK == 0 {
		ts = p.lineTime(l)
		if sh.nTs > 0 {
			flags |= BadTimestamp
		}
	}
	// GELF's level is a syslog severity: such lines have short_message.
	syslog := sh.seen&(1<<idShortMessage) != 0
	for _, k := range sh.lvlCand[:sh.nLvl] {
		if usableLevel(s, &ms[k], syslog) {
			lvlK = int(k) + 1
			break
		}
	}
	for _, k := range sh.msgCand[:sh.nMsg] {
		if ms[k].kind == kindString {
			msgK = int(k) + 1
			break
		}
	}
	p.dsMember = -1
	if k := sh.first[idDataset]; k != 0 && ms[k-1].kind == kindString {
		m := &ms[k-1]
		info.Dataset = s[m.vs+1 : m.ve-1 : m.ve-1]
		p.dsMember, dsK = int(k-1), int(k)
	}

	// The plan of the shape, if this line has its key.
	key := uint64(tsK) | uint64(lvlK)<<8 | uint64(msgK)<<16 | uint64(dsK)<<24 |
		uint64(l.OrderKind)<<32 | uint64(flags&Truncated)<<40
	if sh.dyn != 0 && compactMembers(ms) {
		key |= 1 << 48
	}
	var scalar uint64
	for b := sh.ecsCand; b != 0; b &= b - 1 {
		if k := bits.TrailingZeros64(b); isScalar(s, &ms[k]) {
			scalar |= 1 << k
		}
	}
	pl := &sh.plan
	if !pl.ok || pl.key != key || pl.scalar != scalar || p.general {
		if sh != &p.tmp {
			sh.setIDs(ms)
		}
		p.makePlan(s, l, sh, tsK, lvlK, msgK, flags)
		pl.key, pl.scalar, pl.ok = key, scalar, true
	} else if pl.slow && sh != &p.tmp {
		sh.setIDs(ms)
	}

	// Write.
	dst = p.appendTimestamp(dst, ts)
	if lvlK != 0 {
		dst = append(dst, `,"log.level":`...)
		dst = appendLevel(dst, s, &ms[lvlK-1], syslog)
	}
	if msgK != 0 {
		m := &ms[msgK-1]
		dst = append(dst, `,"message":`...)
		dst = append(dst, s[m.vs:m.ve]...)
	}
	if pl.slow {
		for _, k := range [...]int{tsK, lvlK, msgK} {
			if k != 0 {
				ms[k-1].act = actDrop
			}
		}
		var f Flags
		dst, f = p.appendNormalised(dst, s, l, pl.owned, sh.seen, sh.maybeDup, &sh.dups)
		flags |= f
	} else if sh == &p.tmp {
		// A shape that is not kept: its plan has no ops, the members
		// are written from their marks.
		flags |= pl.flags
		dst = p.appendMarked(dst, s)
	} else {
		flags |= pl.flags
		dst = appendOps(dst, s, ms, pl.ops)
	}
	info.Flags = flags
	return p.appendTail(dst, l, flags, !sh.hasHost), info
}

// appendMarked writes the kept members as the ops of a plan would, from
// the marks makePlan left on them, for the lines whose shape is not kept:
// runs of kept members are copied in one go, a member renamed by
// markRenames is written under its ECS name, one marked by markOriginals
// as "<name>_original".
func (p *Parser) appendMarked(dst, s []byte) []byte {
	ms := p.members
	for k := 0; k < len(ms); k++ {
		if ms[k].act != actKeep {
			continue
		}
		if t := ms[k].ren; t != idNone {
			dst = append(dst, quotedName[t]...)
			dst = append(dst, s[ms[k].vs:ms[k].ve]...)
			continue
		}
		if ms[k].orig {
			dst = append(dst, ',')
			dst = append(dst, s[ms[k].ks:ms[k].ke-1]...)
			dst = append(dst, `_original":`...)
			dst = append(dst, s[ms[k].vs:ms[k].ve]...)
			continue
		}
		j := k
		for j+1 < len(ms) && ms[j+1].act == actKeep && ms[j+1].ren == idNone && !ms[j+1].orig {
			j++
		}
		dst = append(dst, ',')
		dst = append(dst, s[ms[k].ks:ms[j].ve]...)
		k = j
	}
	return dst
}

// compactMembers reports whether nothing separates the names, colons,
// values and commas of ms.
func compactMembers(ms []member) bool {
	for k := range ms {
		if ms[k].vs != ms[k].ke+1 || k+1 < len(ms) && ms[k+1].ks != ms[k].ve+1 {
			return false
		}
	}
	return true
}

// makePlan makes sh.plan for the line s with the picks tsK, lvlK, msgK (1 +
// member index, or 0) and the flags so far: whether the members need the
// slow path, and if not, the renames and runs of the fast path. It leaves
// the picked members marked actDrop.
func (p *Parser) makePlan(s []byte, l *Line, sh *shape, tsK, lvlK, msgK int, flags Flags) {
	ms := p.members
	pl := &sh.plan
	seen, twice := sh.seen, sh.twice

	// Owned names: written by us, or used (log.level and message are in
	// used when written). A name needs a new name when a member other than
	// the used one has it: any member if the name was not used, a second
	// one if it was (the used member is the first raw one).
	var used, src uint64
	if tsK != 0 {
		used |= 1 << ms[tsK-1].id
	}
	if lvlK != 0 {
		used |= 1<<ms[lvlK-1].id | 1<<idLogLevel
	}
	if msgK != 0 {
		used |= 1<<ms[msgK-1].id | 1<<idMessage
	}
	if p.dsMember >= 0 {
		used |= 1 << idDataset
		src |= 1 << idDataset
	}
	owned := used | 1<<idAtTimestamp | 1<<idEventIngested | 1<<idLogFlags
	if flags&Truncated != 0 {
		owned |= 1 << idLogOriginalSize
	}
	switch l.OrderKind {
	case OrderOffset:
		owned |= 1 << idLogOffset
	case OrderSequence:
		owned |= 1 << idEventSequence
	}
	if !sh.hasHost && len(p.host) > 0 {
		owned |= 1 << idHostName
	}
	// Careful: log.level (message) is in used when it was written from
	// "level" ("msg"); then any log.level (message) member is left over.
	for _, k := range [...]int{tsK, lvlK, msgK} {
		if k != 0 {
			src |= 1 << ms[k-1].id
			ms[k-1].act = actDrop
		}
	}
	slow := sh.slow || owned&(src&twice|^src&seen) != 0 || p.general
	var fl Flags
	if !slow && sh.dyn != 0 {
		// Members named like a member of static or Fields move to
		// "<name>_original", on the fast path when that name is free.
		slow = p.markOriginals(s, l, sh.dyn)
		if !slow {
			fl |= Renamed
		}
	}
	if !slow && sh.ecs {
		// The common renames (a scalar "service", "trace_id"...) need no
		// slow path when each goes to an ECS name that no other member has,
		// that the document does not own and that is not in Fields or
		// static: then no final name can equal another.
		slow = p.markRenames(s, l, owned, seen)
		if !slow && p.renames != 0 {
			fl |= ECSRenamed
		}
	}
	pl.slow, pl.owned, pl.flags, pl.ops = slow, owned, fl, pl.ops[:0]
	if slow || sh == &p.tmp {
		return
	}
	// Runs of kept members are copied in one go, commas and all; a member
	// renamed by markRenames is written on its own under its ECS name, one
	// marked by markOriginals as "<name>_original".
	add := func(pre string, a, b int, fromValue, toName bool) {
		o := op{npre: uint8(len(pre)), a: uint8(a), b: uint8(b)}
		if fromValue {
			o.fromValue = -1
		}
		if toName {
			o.toName = -1
		}
		copy(o.pre[:], pre)
		pl.ops = append(pl.ops, o)
	}
	for k := 0; k < len(ms); k++ {
		if ms[k].act != actKeep {
			continue
		}
		if t := ms[k].ren; t != idNone {
			add(quotedName[t], k, k, true, false)
			continue
		}
		if ms[k].orig {
			add(",", k, k, false, true)
			add(`_original":`, k, k, true, false)
			continue
		}
		j := k
		for j+1 < len(ms) && ms[j+1].act == actKeep && ms[j+1].ren == idNone && !ms[j+1].orig {
			j++
		}
		add(",", k, j, false, false)
		k = j
	}
}

// repeated reports whether member k has the raw name of an earlier member
// (no member up to k has escapes in its name).
func (p *Parser) repeated(s []byte, k int) bool {
	ms := p.members
	name := s[ms[k].ks:ms[k].ke]
	for j := 0; j < k; j++ {
		if string(s[ms[j].ks:ms[j].ke]) == string(name) {
			return true
		}
	}
	return false
}

// parseTimestamp parses the value of m as a timestamp.
func (p *Parser) parseTimestamp(s []byte, m *member) (int64, bool) {
	// The offsets as uint32 and the end checked once: the slices below
	// need no other checks.
	vs, ve := int(uint32(m.vs)), int(uint32(m.ve))
	if ve > len(s) || vs >= ve {
		return 0, false // not a member of s
	}
	switch m.kind {
	case kindNumber:
		return parseEpochWide(s[vs:ve], s[vs:])
	case kindString:
		v := s[vs+1 : ve-1]
		wide := s[vs+1:] // v, then the closing quote
		if len(v) < dateTimeLen {
			if isEpochString(v) {
				return parseEpochWide(v, wide)
			}
			return 0, false
		}
		// The date and time as three words (the last two overlap).
		w0 := binary.LittleEndian.Uint64(v)
		w1 := binary.LittleEndian.Uint64(v[8:])
		w2 := binary.LittleEndian.Uint64(v[dateTimeLen-8:])
		c := &p.parsed[w1>>32&1] // byte 12: the hour's last digit
		if !c.ok || w0 != c.w[0] || w1 != c.w[1] || w2 != c.w[2] {
			if isEpochString(v) {
				return parseEpochWide(v, wide)
			}
			if _, ok := p.learnDateTime(v); !ok {
				return 0, false
			}
		}
		if c.fast && len(wide) >= dateTimeLen+8 {
			// The usual rest, `Z` or `.` with 1 to 6 digits and `Z`,
			// read from one word with no branch on its form.
			r := binary.LittleEndian.Uint64(wide[dateTimeLen:])
			d, nd := leadingDigits(r >> 8)
			// No fraction: d and zp (where the 'Z' is) 0, by a mask.
			dot := int64((r&0xff^'.')-1) >> 63
			d, zp := d&uint64(dot), (nd+1)&int(dot)
			if zp != 1 && zp < 8 && len(v) == dateTimeLen+zp+1 && byte(r>>(8*zp)) == 'Z' {
				return c.ns + int64(d*pow10[10-zp]), true
			}
			// A zone `±hh:mm` with no fraction (logrus).
			if c0 := byte(r); (c0 == '+' || c0 == '-') && len(v) == dateTimeLen+6 && byte(r>>24) == ':' {
				h1, h2, m1, m2 := byte(r>>8)-'0', byte(r>>16)-'0', byte(r>>32)-'0', byte(r>>40)-'0'
				oh, om := int64(h1)*10+int64(h2), int64(m1)*10+int64(m2)
				if h1 <= 9 && h2 <= 9 && m1 <= 9 && m2 <= 9 && oh <= 24 && om <= 60 {
					off := (oh*60 + om) * 60
					if c0 == '-' {
						off = -off
					}
					return secToNano(c.sec-off, 0)
				}
			}
		}
		return parseTimeRest(c.sec, v[dateTimeLen:], wide[dateTimeLen:])
	}
	return 0, false
}

// learnDateTime parses v[:dateTimeLen] (len(v) >= dateTimeLen) into Unix
// seconds and caches them (see parseTimestamp).
func (p *Parser) learnDateTime(v []byte) (int64, bool) {
	sec, ok := parseDateTime(v[:dateTimeLen])
	if !ok {
		return 0, false
	}
	w1 := binary.LittleEndian.Uint64(v[8:])
	c := &p.parsed[w1>>32&1]
	c.w = [3]uint64{binary.LittleEndian.Uint64(v), w1, binary.LittleEndian.Uint64(v[dateTimeLen-8:])}
	c.sec, c.ok = sec, true
	// With sec in [0, maxSec), sec*1e9 plus any fraction fits in an int64.
	c.ns, c.fast = sec*1e9, sec >= 0 && sec < maxSec
	return sec, true
}

// lineTime returns the time for the @timestamp of a line that has no usable
// timestamp of its own: l.TimeText parsed, l.Time or the ingest time.
func (p *Parser) lineTime(l *Line) int64 {
	if b := l.TimeText; len(b) >= dateTimeLen {
		// ParseTime, with the date and time cached.
		w1 := binary.LittleEndian.Uint64(b[8:])
		c := &p.parsed[w1>>32&1]
		sec, ok := c.sec, c.ok && binary.LittleEndian.Uint64(b) == c.w[0] && w1 == c.w[1] &&
			binary.LittleEndian.Uint64(b[dateTimeLen-8:]) == c.w[2]
		if !ok {
			sec, ok = p.learnDateTime(b)
		}
		if ok {
			if t, ok := parseTimeRest(sec, b[dateTimeLen:], b[dateTimeLen:]); ok && t != 0 {
				return t
			}
		}
	}
	if l.Time != 0 {
		return l.Time
	}
	return p.ingestedNs
}

// parsedDT is a date and time to the second (as three overlapping words of
// its text) and its Unix seconds, valid if ok.
type parsedDT struct {
	w    [3]uint64
	sec  int64
	ns   int64 // sec*1e9, if fast
	ok   bool
	fast bool // sec is in [0, maxSec): a UTC time needs no range check
}

// appendTimestamp writes `{"@timestamp":` and the time t (see AppendTime),
// with the date and time down to the second formatted once per second.
func (p *Parser) appendTimestamp(dst []byte, t int64) []byte {
	const head = len(`{"@timestamp":"2006-01-02T15:04:05`)
	sec := int64(uint64(t) / 1e9) // no sign to correct for
	if t < 0 {
		sec = floorDiv(t, 1e9)
	}
	if !p.fmtOK || sec != p.fmtSec {
		var dt [dateTimeLen + 1]byte
		formatDateTime(&dt, sec)
		copy(p.fmtHead[:], `{"@timestamp":`)
		copy(p.fmtHead[head-len(dt):], dt[:])
		p.fmtSec, p.fmtOK = sec, true
	}
	l := len(dst)
	if cap(dst)-l < 64 {
		dst = append(dst, make([]byte, 64)...)
	}
	dst = dst[:l+64]
	*(*[48]byte)(dst[l:]) = p.fmtHead
	n := putFracZ((*[16]byte)(dst[l+head:]), t-sec*1e9)
	return dst[:l+head+n]
}

// usableLevel reports whether m can give log.level: a string of at least
// one character, or a number other than zerolog's 6 and 7 (no level),
// which are syslog's info and debug when syslog is set.
func usableLevel(s []byte, m *member, syslog bool) bool {
	switch m.kind {
	case kindString:
		return m.ve-m.vs > 2
	case kindNumber:
		v := s[m.vs:m.ve]
		return syslog || !(len(v) == 1 && (v[0] == '6' || v[0] == '7'))
	}
	return false
}

// appendLevel writes the quoted level from m, see the package documentation;
// syslog: the line is GELF, its numbers are syslog severities.
// Lower-casing the raw string is safe with escapes: the letters of escapes
// are already lower-case, or hex digits of any case.
func appendLevel(dst, s []byte, m *member, syslog bool) []byte {
	if vs := int(uint32(m.vs)); m.kind == kindString && m.ve-m.vs <= 16 && vs <= len(s)-16 {
		// The usual level: two words lower-cased at once and stored
		// past the end of dst, of which the value's length is kept. The
		// offset as uint32 spares the loads their bounds checks.
		w := (*[16]byte)(s[vs : vs+16])
		lo := lowerASCII(binary.LittleEndian.Uint64(w[:8]))
		hi := lowerASCII(binary.LittleEndian.Uint64(w[8:]))
		l := len(dst)
		if cap(dst)-l < 16 {
			dst = append(dst, make([]byte, 16)...)
		}
		d := (*[16]byte)(dst[l : l+16])
		binary.LittleEndian.PutUint64(d[:8], lo)
		binary.LittleEndian.PutUint64(d[8:], hi)
		return dst[:l+int(m.ve-m.vs)]
	}
	v := s[m.vs:m.ve]
	if m.kind == kindNumber {
		dst = append(dst, '"')
		switch {
		case syslog && len(v) == 1 && v[0]-'0' <= 7:
			dst = append(dst, syslogLevels[v[0]-'0']...)
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

// lowerASCII lower-cases the bytes 'A' to 'Z' of the eight bytes of w and
// leaves the others alone.
func lowerASCII(w uint64) uint64 {
	const ones, high = 0x0101010101010101, 0x8080808080808080
	x := w &^ high                  // each byte below 0x80: no carries below
	ge := x + (0x80-'A')*ones       // top bit: byte >= 'A'
	gt := x + (0x80-'Z'-1)*ones     // top bit: byte > 'Z'
	upper := (ge &^ gt) &^ w & high // 'A' to 'Z', and ASCII
	return w | upper>>2             // + 0x20
}

// keySet holds the member names of pre-encoded members (Line.Fields or
// static), unescaped, with a 256-bit filter on (length, first byte, last
// byte) so that most line member names are rejected with one bit test.
type keySet struct {
	obj    []byte // scratch: the members in braces
	buf    []byte
	names  []int32 // end offsets in buf; name k is buf[names[k-1]:names[k]]
	filter [4]uint64
	ids    uint64 // bit id set for each builtin name among the names
}

func keyHash(name []byte) uint8 { return uint8(nameHash(name) >> 24) }

// parse collects the member names of b, `"a":1,"b":{...}`, using sc for
// scratch. b is trusted (it comes from the program, not the log); if it is
// not valid the names found so far are kept.
func (ks *keySet) parse(b []byte, sc *scanner) {
	ks.buf, ks.names, ks.filter, ks.ids = ks.buf[:0], ks.names[:0], [4]uint64{}, 0
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
		if id := builtinID(ks.buf[start:]); id != idNone {
			ks.ids |= 1 << id
		}
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
