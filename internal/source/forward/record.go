package forward

import (
	"encoding/base64"
	"errors"
	"math"
	"strconv"
	"time"

	"shipper/internal/parse"
)

// maxRecordDepth bounds the nesting AppendRecordJSON renders (it recurses).
// Elasticsearch's own default mapping depth limit is 20, so real logs stay far
// below.
const maxRecordDepth = 64

var (
	errNotMap        = errors.New("record is not a msgpack map")
	errRecordDepth   = errors.New("record nested more than 64 levels deep")
	errTrailing      = errors.New("bytes after the record's map")
	errRecordShort   = errors.New("record truncated")
	errRecordBadType = errors.New("record has a value of unknown type")
)

// AppendRecordJSON appends the members of the msgpack map record to dst as
// JSON object members without the braces, e.g. `"a":"x","b":1`, with no
// leading or trailing comma (nothing for an empty map).
//
// Rendering: str as JSON strings (escaped; invalid UTF-8 replaced by U+FFFD);
// bin as base64 strings; ints as numbers; floats as numbers, except NaN and
// ±Inf as the strings "NaN", "+Inf", "-Inf"; nil as null; time extensions
// (EventTime type 0, msgp time.Time type 5, msgpack timestamp type -1) as
// RFC 3339 strings in UTC with nanoseconds (years 0 to 9999); other
// extensions as {"ext_type":N,"data":"<base64>"}. Keys that are not str are
// rendered as strings: bin as text, scalars and extensions as their JSON, a
// map or array key as its JSON text (with "[map]"/"[array]" for map and array
// keys nested inside it). Maps and arrays nest up to 64 levels.
//
// Duplicate keys are passed through (Elasticsearch rejects such documents).
// On error (not a map, malformed, too deep, trailing bytes) it returns dst
// unchanged in length and an error describing the record's problem; the
// error concerns this record only.
func AppendRecordJSON(dst []byte, record []byte) ([]byte, error) {
	return AppendOtherMembers(dst, record, nil)
}

// AppendOtherMembers is AppendRecordJSON leaving out the members whose key
// omit reports true for. omit sees the raw key bytes of str and bin keys
// (other keys are never left out); nil leaves out nothing. Pass a function value
// that does not capture, such as DockerKey, to keep the call free of
// allocations.
func AppendOtherMembers(dst, record []byte, omit func(key []byte) bool) ([]byte, error) {
	n0 := len(dst)
	h, err := readHdr(record)
	if err != nil {
		return dst, errRecordShort
	}
	if h.k != kMap {
		return dst, errNotMap
	}
	off := h.size
	first := true
	for i := 0; i < h.n; i++ {
		kh, err := readHdr(record[off:])
		if err != nil || kh.end() > len(record)-off {
			return dst[:n0], errRecordShort
		}
		if omit != nil && (kh.k == kStr || kh.k == kBin) && omit(record[off+kh.size:off+kh.end()]) {
			off += kh.end()
			if off, err = skipValue(record, off); err != nil {
				return dst[:n0], err
			}
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		if dst, off, err = appendKey(dst, record, off, 1, false); err != nil {
			return dst[:n0], err
		}
		dst = append(dst, ':')
		if dst, off, err = appendValue(dst, record, off, 1, false); err != nil {
			return dst[:n0], err
		}
	}
	if off != len(record) {
		return dst[:n0], errTrailing
	}
	return dst, nil
}

func skipValue(b []byte, off int) (int, error) {
	end, err := skip(b, off)
	if err != nil {
		return off, errRecordShort
	}
	return end, nil
}

// next returns the offset past the value at b[off:] whose header h was read
// and whose h.end() is known to fit in b.
func next(b []byte, off int, h *hdr) (int, error) {
	if h.k == kArray || h.k == kMap {
		return skipValue(b, off)
	}
	return off + h.end(), nil
}

// appendKey appends the key at b[off:] as a JSON string. inKey is set while
// rendering a map or array that is itself a key.
func appendKey(dst, b []byte, off, depth int, inKey bool) ([]byte, int, error) {
	h, err := readHdr(b[off:])
	if err != nil || h.end() > len(b)-off {
		return dst, off, errRecordShort
	}
	switch h.k {
	case kStr, kBin:
		dst, _ = parse.AppendString(dst, b[off+h.size:off+h.end()])
		return dst, off + h.end(), nil
	case kNil:
		return append(dst, `"null"`...), off + h.size, nil
	case kBool:
		if h.v != 0 {
			return append(dst, `"true"`...), off + h.size, nil
		}
		return append(dst, `"false"`...), off + h.size, nil
	case kInt:
		dst = append(dst, '"')
		dst = strconv.AppendInt(dst, h.int(), 10)
		return append(dst, '"'), off + h.size, nil
	case kUint:
		dst = append(dst, '"')
		dst = strconv.AppendUint(dst, h.v, 10)
		return append(dst, '"'), off + h.size, nil
	case kFloat:
		if f := h.float(); math.IsNaN(f) || math.IsInf(f, 0) {
			return appendFloat(dst, f, 64), off + h.size, nil // already quoted
		}
		dst = append(dst, '"')
		dst = appendFloat(dst, h.float(), h.bits())
		return append(dst, '"'), off + h.size, nil
	}
	// A map, array or extension as a key: render it as JSON, then quote
	// that text. Rare enough to allocate. Inside such a key, map and array
	// keys become placeholders: quoting quoted text at every level would
	// double the backslashes each time: 2^depth bytes.
	if inKey && (h.k == kMap || h.k == kArray) {
		end, err := skipValue(b, off)
		if err != nil {
			return dst, off, err
		}
		if h.k == kMap {
			return append(dst, `"[map]"`...), end, nil
		}
		return append(dst, `"[array]"`...), end, nil
	}
	start := len(dst)
	dst, end, err := appendValue(dst, b, off, depth, true)
	if err != nil {
		return dst, off, err
	}
	if dst[start] == '"' { // time extensions render as strings already
		return dst, end, nil
	}
	text := append([]byte(nil), dst[start:]...)
	dst, _ = parse.AppendString(dst[:start], text)
	return dst, end, nil
}

// appendValue appends the value at b[off:] as JSON and returns the offset
// past it.
func appendValue(dst, b []byte, off, depth int, inKey bool) ([]byte, int, error) {
	h, err := readHdr(b[off:])
	if err == errShort || err == nil && h.end() > len(b)-off {
		return dst, off, errRecordShort
	}
	if err != nil {
		return dst, off, err
	}
	end := off + h.end()
	switch h.k {
	case kNil:
		return append(dst, "null"...), end, nil
	case kBool:
		if h.v != 0 {
			return append(dst, "true"...), end, nil
		}
		return append(dst, "false"...), end, nil
	case kInt:
		return strconv.AppendInt(dst, h.int(), 10), end, nil
	case kUint:
		return strconv.AppendUint(dst, h.v, 10), end, nil
	case kFloat:
		return appendFloat(dst, h.float(), h.bits()), end, nil
	case kStr:
		dst, _ = parse.AppendString(dst, b[off+h.size:end])
		return dst, end, nil
	case kBin:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, b[off+h.size:end])
		return append(dst, '"'), end, nil
	case kExt:
		return appendExt(dst, h.et, b[off+h.size:end]), end, nil
	case kArray, kMap:
		if depth >= maxRecordDepth {
			return dst, off, errRecordDepth
		}
		// Each element takes at least one byte: reject impossible counts
		// before looping over them.
		if h.n > len(b)-end {
			return dst, off, errRecordShort
		}
		if h.k == kArray {
			dst = append(dst, '[')
			for i := 0; i < h.n; i++ {
				if i > 0 {
					dst = append(dst, ',')
				}
				if dst, end, err = appendValue(dst, b, end, depth+1, inKey); err != nil {
					return dst, off, err
				}
			}
			return append(dst, ']'), end, nil
		}
		dst = append(dst, '{')
		for i := 0; i < h.n; i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, end, err = appendKey(dst, b, end, depth+1, inKey); err != nil {
				return dst, off, err
			}
			dst = append(dst, ':')
			if dst, end, err = appendValue(dst, b, end, depth+1, inKey); err != nil {
				return dst, off, err
			}
		}
		return append(dst, '}'), end, nil
	}
	return dst, off, errRecordBadType
}

// appendFloat appends f like encoding/json does, and NaN/±Inf, which JSON
// lacks, as strings.
func appendFloat(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(dst, `"+Inf"`...)
	case math.IsInf(f, -1):
		return append(dst, `"-Inf"`...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	dst = strconv.AppendFloat(dst, f, format, -1, bits)
	if format == 'e' { // clean up e-09 to e-9
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// appendExt renders an extension value: times as RFC 3339 strings, anything
// else as {"ext_type":N,"data":"<base64>"}.
func appendExt(dst []byte, et int8, p []byte) []byte {
	if sec, nsec, ok := extTime(et, p); ok {
		t := time.Unix(sec, nsec).UTC()
		if y := t.Year(); y >= 0 && y <= 9999 {
			dst = append(dst, '"')
			dst = t.AppendFormat(dst, time.RFC3339Nano)
			return append(dst, '"')
		}
	}
	dst = append(dst, `{"ext_type":`...)
	dst = strconv.AppendInt(dst, int64(et), 10)
	dst = append(dst, `,"data":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, p)
	return append(dst, `"}`...)
}
