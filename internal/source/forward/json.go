package forward

import (
	"bytes"
	"math"
	"strconv"

	"shipper/internal/parse"
)

// The JSON connection mode: Fluentd's in_forward parses a
// connection whose first byte is '{' or '[' as a stream of JSON values and
// answers acks in JSON. fluent-logger-golang's MarshalAsJSON writes
// ["tag",<unix seconds>,{record},{option}], with the tag spliced in without
// escaping.

// forwardJSON are the scanner options of the JSON mode: records nest up to
// 256 levels.
var forwardJSON = parse.Options{MaxDepth: 256}

// DecodeJSON decodes the first JSON value of buf, for a connection in JSON
// mode. Whitespace before the value is consumed and counted in n.
//
// The contract is Decode's: ErrShortBuffer with n == 0 when buf ends inside
// the value, any other error closes the connection, the Request's views are
// valid until the next call. Records are JSON objects (Request.Format ==
// JSONRecord). Message and Forward shapes are accepted; PackedForward cannot
// be carried by JSON and is an error.
//
// Unlike Decode, the scan restarts at the start of the value on every call:
// a value arriving in many small reads costs O(size²), bounded by
// MaxRequestBytes. JSON mode is rare (fluent-logger-golang MarshalAsJSON).
func (d *Decoder) DecodeJSON(buf []byte) (req Request, n int, err error) {
	d.release()
	start := jsonWS(buf, 0)
	end, err := jsonValue(buf, start)
	if err == errShort {
		if len(buf) > d.lim.MaxRequestBytes {
			return req, 0, &limitError{what: "request size", limit: d.lim.MaxRequestBytes, got: len(buf)}
		}
		return req, 0, ErrShortBuffer
	}
	if err != nil {
		return req, 0, malformed("JSON request: %v", err)
	}
	if end-start > d.lim.MaxRequestBytes {
		return req, 0, &limitError{what: "request size", limit: d.lim.MaxRequestBytes, got: end - start}
	}
	req, err = d.decodeJSON(buf[start:end])
	return req, end, err
}

func (d *Decoder) decodeJSON(b []byte) (req Request, err error) {
	req.Format = JSONRecord
	if b[0] != '[' {
		req.Ignored = true
		return req, nil
	}
	var el [5][2]int // start, end of the first elements
	count := 0
	it := jsonIter{b: b, i: 1, close: ']'}
	for {
		s, e, ok := it.next()
		if !ok {
			break
		}
		if count < len(el) {
			el[count] = [2]int{s, e}
		}
		count++
	}
	if count < 2 || count > 4 {
		return req, malformed("JSON request is an array of %d elements, want 2 to 4", count)
	}
	tag := b[el[0][0]:el[0][1]]
	if tag[0] != '"' {
		return req, malformed("JSON request tag is not a string")
	}
	req.Tag = tag[1 : len(tag)-1]
	if bytes.IndexByte(req.Tag, '\\') >= 0 {
		d.tagBuf = parse.Unescape(d.tagBuf[:0], req.Tag)
		req.Tag = d.tagBuf
	}
	e1 := b[el[1][0]:el[1][1]]
	optIdx := -1
	switch e1[0] {
	case '[':
		req.Mode = ModeForward
		if count > 3 {
			return req, malformed("JSON Forward request with tag %q has %d elements, want 2 or 3", clip(req.Tag), count)
		}
		if count == 3 {
			optIdx = 2
		}
	case '"':
		return req, unsupported("JSON request with tag %q: PackedForward entries cannot be carried in JSON", clip(req.Tag))
	default:
		req.Mode = ModeMessage
		if count < 3 {
			return req, malformed("JSON message request with tag %q has %d elements, want 3 or 4", clip(req.Tag), count)
		}
		if count == 4 {
			optIdx = 3
		}
	}
	d.entries = d.entries[:0]
	defer func() { req.Entries = d.entries }()
	if optIdx >= 0 {
		if err := jsonOptions(b[el[optIdx][0]:el[optIdx][1]], &req); err != nil {
			return req, err
		}
	}
	if req.Mode == ModeMessage {
		return req, d.jsonEntry(&req, e1, b[el[2][0]:el[2][1]])
	}
	d.it = entryIter{kind: iterJSON, js: jsonIter{b: e1, i: 1, close: ']'}}
	return req, d.fill(&req)
}

// jsonElem decodes one element of a JSON request's entry array.
func (d *Decoder) jsonElem(req *Request, ent []byte) error {
	if ent[0] != '[' {
		d.seen++
		req.Invalid++
		return d.checkSeen()
	}
	pair := jsonIter{b: ent, i: 1, close: ']'}
	ts, te, ok1 := pair.next()
	rs, re, ok2 := pair.next()
	if !ok1 || !ok2 {
		d.seen++
		req.Invalid++
		return d.checkSeen()
	}
	return d.jsonEntry(req, ent[ts:te], ent[rs:re])
}

func (d *Decoder) jsonEntry(req *Request, tm, rec []byte) error {
	d.seen++
	t, ok := jsonTime(tm)
	if !ok {
		req.BadTime++
	}
	switch rec[0] {
	case '{':
		d.entries = append(d.entries, Entry{Time: t, Record: rec})
	case 'n': // null record: skipped
	default:
		req.Invalid++
	}
	return d.checkSeen()
}

func jsonOptions(o []byte, req *Request) error {
	switch o[0] {
	case 'n':
		return nil
	case '{':
	default:
		return malformed("JSON option of tag %q is not an object", clip(req.Tag))
	}
	it := jsonIter{b: o, i: 1, close: '}'}
	for {
		ks, ke, ok := it.next()
		if !ok {
			return nil
		}
		vs, ve, _ := it.next()
		key, val := o[ks+1:ke-1], o[vs:ve]
		switch string(key) {
		case "chunk":
			if val[0] == '"' {
				req.Chunk = val[1 : len(val)-1]
			} else if val[0] != 'n' {
				return malformed("JSON option chunk of tag %q is not a string", clip(req.Tag))
			}
		case "compressed":
			switch string(val) {
			case `"text"`, "null":
			default:
				return unsupported("JSON option compressed=%s of tag %q: compression cannot be carried in JSON", clip(val), clip(req.Tag))
			}
		case "fluent_signal":
			switch string(val) {
			case "0", "null":
			default:
				return unsupported("JSON option fluent_signal=%s of tag %q: only log signals (fluent_signal 0) are supported, not metrics or traces", clip(val), clip(req.Tag))
			}
		}
	}
}

// jsonTime reads a JSON time: a number of seconds (integer or fraction), or
// null meaning now.
func jsonTime(b []byte) (int64, bool) {
	if string(b) == "null" {
		return 0, true
	}
	if b[0] != '-' && (b[0] < '0' || b[0] > '9') {
		return 0, false
	}
	i, neg := 0, false
	if b[0] == '-' {
		neg, i = true, 1
	}
	var sec int64
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if sec > maxSec/10 {
			return 0, false
		}
		sec = sec*10 + int64(b[i]-'0')
	}
	var nsec int64
	if i < len(b) && b[i] == '.' {
		scale := int64(1e8)
		for i++; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			nsec += int64(b[i]-'0') * scale
			scale /= 10
		}
	}
	if i < len(b) { // exponent: rare, take the slow path
		f, err := strconv.ParseFloat(string(b), 64)
		if err != nil || math.IsNaN(f) || f < -maxSec || f > maxSec {
			return 0, false
		}
		s := math.Floor(f)
		return int64(s)*1e9 + int64(math.Round((f-s)*1e9)), true
	}
	if sec > maxSec {
		return 0, false
	}
	ns := sec*1e9 + nsec
	if neg {
		ns = -ns
	}
	return ns, true
}

// JSONObjectMembers returns the members of a JSON object without the braces
// and surrounding whitespace: the form AppendRecordJSON produces for msgpack
// records. obj must be a valid JSON object, such as a JSONRecord.
func JSONObjectMembers(obj []byte) []byte {
	if len(obj) < 2 {
		return nil
	}
	return bytes.TrimSpace(obj[1 : len(obj)-1])
}

// jsonIter walks the elements of a validated JSON array (or the keys and
// values, alternately, of an object) starting after the opening bracket.
type jsonIter struct {
	b     []byte
	i     int
	close byte
	n     int
}

func (it *jsonIter) next() (start, end int, ok bool) {
	i := jsonWS(it.b, it.i)
	if i >= len(it.b) || it.b[i] == it.close {
		return 0, 0, false
	}
	if it.n > 0 { // ',' or ':'
		i = jsonWS(it.b, i+1)
	}
	end, err := jsonValue(it.b, i)
	if err != nil {
		return 0, 0, false
	}
	it.n++
	it.i = end
	return i, end, true
}

func jsonWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// jsonValue validates the JSON value at b[i:] (after whitespace) with the
// parser's scanner and returns the offset just past it, errShort when b ends
// inside it (a number that reaches the end of b may go on), or the scanner's
// error.
func jsonValue(b []byte, i int) (int, error) {
	end, err := parse.SkipValue(b, i, forwardJSON)
	if err == parse.ErrShort {
		return i, errShort
	}
	if err != nil {
		return i, err
	}
	if end == len(b) {
		if c := b[end-1]; c >= '0' && c <= '9' || c == '.' {
			return i, errShort
		}
	}
	return end, nil
}
