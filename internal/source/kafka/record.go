package kafka

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"strconv"
	"strings"
	"unicode/utf8"

	"shipper/internal/datastream"
	"shipper/internal/encode"
	"shipper/internal/event"
	"shipper/internal/parse"
)

// The headers a shipper's Kafka output writes on every record: the record
// value is then the document it would have sent to Elasticsearch.
const (
	// HeaderID holds the document id (22 characters of base64url, see
	// encode.AppendID).
	HeaderID = "shipper.id"
	// HeaderIndex holds the data stream name, logs-<dataset>-<namespace>.
	HeaderIndex = "shipper.index"
)

// maxIDBytes is Elasticsearch's limit on a document id.
const maxIDBytes = 512

// record is what the encoder needs of one Kafka record. Its slices are views
// into the Kafka client's buffers, valid while the caller holds the record.
type record struct {
	Value     []byte
	Offset    int64
	Timestamp int64 // Unix nanoseconds; 0: unknown
	ID        []byte
	Index     []byte
	// IDHi is the partition's half of a derived document id (partIDHi).
	IDHi uint64
	// Fields are the pre-encoded kafka.* members of the partition, for
	// records parsed as log lines ("kafka.topic":T,"kafka.partition":P).
	Fields []byte
	// FieldsID is Fields' parse.Line.FieldsID (0: compared every record).
	FieldsID uint64
}

// result says what became of a record.
type result struct {
	// Document: the value was sent as it was (a shipper's document).
	Document bool
	// Flags of a record parsed as a log line (parse.Blank: nothing written).
	Flags parse.Flags
	// Refused: the record's data stream was refused and it went to the
	// default one, flagged labels.dataset_rejected; Invalid: its data
	// stream header was not a valid name (the default one, unflagged).
	Refused, InvalidIndex bool
	// BadID: an id header that could not be used (the id was derived
	// from topic, partition and offset instead).
	BadID bool
}

// recordEncoder turns Kafka records into bulk items: a shipper's documents
// as they are, any other record parsed as a log line. Not safe for
// concurrent use.
type recordEncoder struct {
	enc       *encode.Encoder
	index     string // the default data stream
	namespace string
	streams   *encode.Streams

	compact bytes.Buffer // scratch: a JSON value spread over lines

	// Cache of the last data stream header and its verdict.
	lastHeader  []byte
	lastIndex   string // "" with lastInvalid: use the default
	lastRefused string // the refused dataset
	lastInvalid bool
	idScratch   []byte
}

// partIDHi returns the high half of the document ids derived for a
// partition's records (the low half is the offset). The topic's id (Kafka
// 3.1+ returns it with every fetch; zero when unknown) tells a deleted and
// re-created topic of the same name apart: its offsets start again at 0,
// and its records must not be taken for those already indexed.
func partIDHi(topic string, partition int32, topicID [16]byte) uint64 {
	h := fnv.New64a()
	h.Write([]byte(topic))
	var p [5]byte
	binary.BigEndian.PutUint32(p[1:], uint32(partition))
	h.Write(p[:])
	if topicID != ([16]byte{}) {
		h.Write(topicID[:])
	}
	return h.Sum64()
}

// partFields returns the pre-encoded kafka.topic and kafka.partition
// members. Topic names need no JSON escaping ([a-zA-Z0-9._-]); the name is
// quoted anyway in case a broker allows more.
func partFields(topic string, partition int32) []byte {
	out := append([]byte(`"kafka.topic":`), strconv.Quote(topic)...)
	out = append(out, `,"kafka.partition":`...)
	return strconv.AppendInt(out, int64(partition), 10)
}

// append adds the bulk item of r to b.
func (e *recordEncoder) append(b *event.Batch, r *record) result {
	var res result
	hi, lo := r.IDHi, uint64(r.Offset)
	var rawID []byte // an id header usable as it is, not of our format
	if len(r.ID) > 0 {
		if h, l, ok := decodeID(r.ID); ok {
			hi, lo = h, l
		} else if validID(r.ID) {
			rawID = r.ID
		} else {
			res.BadID = true
		}
	}
	if len(r.Index) > 0 {
		if doc, ok := documentValue(r.Value); ok {
			res.Document = true
			e.appendDocument(b, doc, r.Index, rawID, hi, lo, &res)
			return res
		}
	}
	value := r.Value
	if bytes.IndexByte(value, '\n') >= 0 && json.Valid(value) {
		// JSON spread over lines (a pretty-printed object): a line of
		// the other inputs never holds a '\n', and the parser copies
		// the whitespace between members verbatim.
		e.compact.Reset()
		if json.Compact(&e.compact, value) == nil {
			value = e.compact.Bytes()
		}
	}
	// The offset is the tiebreaker (event.sequence), not one of Fields:
	// Fields stay the same for every record of a partition, so the parser
	// and the processing stage work out what they mean once per partition.
	l := parse.Line{Data: value, Time: r.Timestamp, Fields: r.Fields, FieldsID: r.FieldsID, Order: r.Offset, OrderKind: parse.OrderSequence}
	info := e.enc.Append(b, &l, hi, lo)
	res.Flags = info.Flags
	return res
}

// appendDocument adds doc, a shipper's document, under the data stream
// named by header when it may be used.
func (e *recordEncoder) appendDocument(b *event.Batch, doc, header, rawID []byte, hi, lo uint64, res *result) {
	index, refused, invalid := e.target(header)
	start := len(b.Body)
	if rawID != nil {
		b.Body = encode.AppendCreateIn(b.Body, index, b.Index, rawID)
	} else {
		e.idScratch = encode.AppendID(e.idScratch[:0], hi, lo)
		b.Body = encode.AppendCreateIn(b.Body, index, b.Index, e.idScratch)
	}
	docStart := len(b.Body)
	b.Body = append(b.Body, doc...)
	if refused != "" {
		res.Refused = true
		// The dataset is sanitized: no JSON escaping needed.
		b.Body = b.Body[:len(b.Body)-1] // the closing '}'
		if !emptyObject(doc) {
			b.Body = append(b.Body, ',')
		}
		b.Body = append(b.Body, `"labels.dataset_rejected":"`...)
		b.Body = append(b.Body, refused...)
		b.Body = append(b.Body, `"}`...)
	}
	res.InvalidIndex = invalid
	b.Body = append(b.Body, '\n')
	b.AddItem(start, docStart)
}

// target returns the data stream for a record's header: the header's when
// it is a valid logs-<dataset>-<namespace> name whose dataset Streams admits,
// else the default (with the refused dataset, or invalid set).
func (e *recordEncoder) target(header []byte) (index, refused string, invalid bool) {
	if !bytes.Equal(header, e.lastHeader) || e.lastHeader == nil {
		e.lastHeader = append(e.lastHeader[:0], header...)
		e.lastIndex, e.lastRefused, e.lastInvalid = "", "", false
		name := string(header)
		ds, _, ok := splitIndex(name)
		switch {
		case !ok:
			e.lastInvalid = true
		case name == e.index:
			e.lastIndex = name
		case e.streams.Admit(ds):
			e.lastIndex = name
		default:
			e.lastRefused = ds
		}
	} else if e.lastRefused != "" {
		// Count every refusal, as encode does: Admit counted the first.
		e.streams.Admit(e.lastRefused)
	}
	if e.lastIndex == "" {
		return e.index, e.lastRefused, e.lastInvalid
	}
	return e.lastIndex, "", false
}

// splitIndex splits a data stream name logs-<dataset>-<namespace> and checks
// both parts.
func splitIndex(name string) (dataset, namespace string, ok bool) {
	rest, found := strings.CutPrefix(name, "logs-")
	if !found {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, '-')
	if i < 0 {
		return "", "", false
	}
	dataset, namespace = rest[:i], rest[i+1:]
	if datastream.CheckPart("dataset", dataset) != nil || datastream.CheckPart("namespace", namespace) != nil {
		return "", "", false
	}
	return dataset, namespace, true
}

// documentValue returns v when it can go into a bulk body as one document:
// a JSON object on one line, valid UTF-8. Anything else is parsed as a log
// line.
func documentValue(v []byte) ([]byte, bool) {
	if len(v) < 2 || v[0] != '{' || v[len(v)-1] != '}' {
		return nil, false
	}
	if bytes.IndexByte(v, '\n') >= 0 || bytes.IndexByte(v, '\r') >= 0 {
		return nil, false
	}
	// The project's validating scanner (no allocation), and valid UTF-8,
	// which Elasticsearch's parser requires; a record failing either is
	// parsed as a line, which flags and repairs what it can.
	if end, err := parse.SkipValue(v, 0, parse.Options{}); err != nil || end != len(v) {
		return nil, false
	}
	if !utf8.Valid(v) {
		return nil, false
	}
	return v, true
}

// emptyObject reports whether doc (a valid JSON object) has no members.
func emptyObject(doc []byte) bool {
	return len(bytes.TrimSpace(doc[1:len(doc)-1])) == 0
}

// decodeID reads an id written by encode.AppendID.
func decodeID(id []byte) (hi, lo uint64, ok bool) {
	if len(id) != encode.IDLen {
		return 0, 0, false
	}
	var raw [16]byte
	n, err := base64.RawURLEncoding.Decode(raw[:], id)
	if err != nil || n != 16 {
		return 0, 0, false
	}
	// Only the canonical encoding: the same id must come back.
	var back [encode.IDLen]byte
	base64.RawURLEncoding.Encode(back[:], raw[:])
	if !bytes.Equal(back[:], id) {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(raw[:8]), binary.BigEndian.Uint64(raw[8:]), true
}

// validID reports whether id can be written into an action line as it is:
// at most 512 bytes of letters, digits, '-', '_', '.', ':' (no JSON
// escaping), and not starting with '_'.
func validID(id []byte) bool {
	if len(id) == 0 || len(id) > maxIDBytes || id[0] == '_' {
		return false
	}
	for _, c := range id {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}
