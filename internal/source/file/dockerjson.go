package file

import (
	"bytes"
	"encoding/binary"
	"math/bits"

	"shipper/internal/parse"
)

// DockerLine is one parsed line of a Docker json-file log
// (`{"log":"…","stream":"stdout","attrs":{…},"time":"…"}`).
type DockerLine struct {
	// Log is the unescaped "log" value without its trailing "\n". It is a
	// view into the line when the value has no other escape, else into the
	// scratch buffer passed to ParseDockerJSON.
	Log []byte
	// Partial is true when "log" did not end with "\n": Docker split a long
	// line into pieces and the record continues on a later line of the same
	// stream.
	Partial bool
	// Stream is StreamNone when "stream" is missing or neither "stdout" nor
	// "stderr".
	Stream Stream
	// Time is "time" in Unix nanoseconds, 0 when missing or unparsable.
	Time int64
	// Attrs is the raw JSON value of "attrs" (an object of labels and env
	// values), a view into the line; nil when absent.
	Attrs []byte
	// timeText, when not nil, is "time" as written, a view into the line,
	// and Time is 0: parseDockerJSONLazy leaves it unread (see
	// Record.TimeText).
	timeText []byte
}

// ParseDockerJSON parses one json-file line (without its '\n'). It does not
// use encoding/json and does not allocate once scratch has grown to the size
// of the largest escaped "log" value: it returns scratch, possibly grown, for
// the next call.
//
// Keys may come in any order (Docker always writes log, stream, attrs, time);
// unknown keys are skipped; "log" is required. String escapes are decoded as
// encoding/json does, including \u escapes and surrogate pairs (a lone
// surrogate becomes U+FFFD). Unlike encoding/json, raw bytes inside strings
// are passed through untouched: invalid UTF-8 (which Docker never writes: it
// replaces it with \ufffd) and raw control characters are kept for the parse
// layer to deal with. ok is false when the line is not such an object.
func ParseDockerJSON(line, scratch []byte) (l DockerLine, _ []byte, ok bool) {
	scratch, ok = parseDockerJSONLazy(&l, line, scratch)
	if l.timeText != nil {
		l.Time, _ = parse.ParseTime(l.timeText)
		l.timeText = nil
	}
	return l, scratch, ok
}

// parseDockerJSONLazy is ParseDockerJSON into *l, which must be zero,
// leaving the time of a line in Docker's layout unread, in timeText: a line
// whose log has a time of its own does not need it. The line is written
// through l, not returned: a DockerLine is 112 bytes, and the decoder's
// path copied it at every level.
func parseDockerJSONLazy(l *DockerLine, line, scratch []byte) (_ []byte, ok bool) {
	scratch, ok, done := parseDockerLayout(l, line, scratch)
	if done {
		return scratch, ok
	}
	*l = DockerLine{}
	return parseDockerJSON(l, line, scratch)
}

// parseDockerLayout parses a line in the exact layout Docker writes,
// `{"log":"…","stream":"stdout|stderr","time":"…"}` with no whitespace and
// no attrs, faster than the general parser by comparing the fixed parts
// whole. done is false when the line is not in that layout (or its "time"
// has an escape): the general parser then decides, from the start, with *l
// zeroed again (parseDockerLayout may have written to it). When done, *l
// is what the general parser gives for the line, but for the time, left
// in timeText.
func parseDockerLayout(l *DockerLine, line, scratch []byte) (_ []byte, ok, done bool) {
	const (
		head   = `{"log":"`
		stream = dockerStream
	)
	if len(line) < len(head) || string(line[:len(head)]) != head {
		return scratch, false, false
	}
	var nl bool
	var next int
	l.Log, nl, scratch, next, ok = decodeLog(line, len(head)-1, scratch)
	if !ok {
		return scratch, false, true // the general parser rejects it too
	}
	rest := line[next:]
	// The fixed parts, `,"stream":"std` (bytes 0 to 14), `out` or `err` and
	// `","time":"` (17 to 27), compared as overlapping words.
	if len(rest) < len(stream) {
		return scratch, false, false
	}
	le := binary.LittleEndian
	if le.Uint64(rest[0:]) != streamWords[0] || le.Uint64(rest[6:]) != streamWords[1] ||
		le.Uint64(rest[17:]) != streamWords[2] || le.Uint64(rest[19:]) != streamWords[3] {
		return scratch, false, false
	}
	switch binary.LittleEndian.Uint32(rest[13:]) {
	case streamOut:
		l.Stream = StreamStdout
	case streamErr:
		l.Stream = StreamStderr
	default:
		return scratch, false, false
	}
	// `"}` ends the line, and the time between has no '"' (the quote
	// would close it before a member of another layout) and no '\\' (an
	// escape: the general parser decides): timeBytes rules out both.
	rest = rest[len(stream):]
	q := len(rest) - 2
	if q < 0 || rest[q] != '"' || rest[q+1] != '}' || !timeBytes(rest[:q]) {
		return scratch, false, false
	}
	l.timeText = rest[:q:q]
	l.Partial = !nl
	return scratch, true, true
}

// timeBytes reports whether every byte of t is one of '+' to 'Z' (0x2B to
// 0x5A), which has the digits and the "-:.TZ+" of the times Docker writes
// and neither '"' (0x22) nor '\\' (0x5C): eight bytes at a time, the last
// eight overlapping those before (a time is 20 to 35 bytes: no call to
// IndexByte, which costs more for so few). A time with other bytes is left
// to the general parser.
func timeBytes(t []byte) bool {
	const (
		ones  = 0x0101010101010101
		highs = 0x80 * ones
		// A byte below 0x80 plus 0x80-c has its high bit set when it is
		// at least c, and carries into no other byte.
		ge = (0x80 - '+') * ones
		gt = (0x80 - 'Z' - 1) * ones
	)
	if len(t) < 8 {
		for _, c := range t {
			if c < '+' || c > 'Z' {
				return false
			}
		}
		return true
	}
	// A byte of 0x80 or more is flagged by itself; what its sums carry
	// into the byte above does not matter then.
	bad := func(x uint64) uint64 { return x | ^(x + ge) | (x + gt) }
	m := bad(binary.LittleEndian.Uint64(t[len(t)-8:]))
	for ; len(t) > 8; t = t[8:] {
		m |= bad(binary.LittleEndian.Uint64(t))
	}
	return m&highs == 0
}

// streamWords are the words of dockerStream parseDockerLayout compares:
// bytes 0, 6, 17 and 19; streamOut and streamErr are bytes 13 to 17 of it
// and of its stderr form.
var (
	streamWords = [4]uint64{
		binary.LittleEndian.Uint64([]byte(dockerStream[0:])), binary.LittleEndian.Uint64([]byte(dockerStream[6:])),
		binary.LittleEndian.Uint64([]byte(dockerStream[17:])), binary.LittleEndian.Uint64([]byte(dockerStream[19:])),
	}
	streamOut = binary.LittleEndian.Uint32([]byte(`dout`))
	streamErr = binary.LittleEndian.Uint32([]byte(`derr`))
)

// dockerStream is what follows the "log" value in Docker's layout, for stdout.
const dockerStream = `,"stream":"stdout","time":"`

// parseDockerJSON is the general json-file line parser (see ParseDockerJSON).
func parseDockerJSON(l *DockerLine, line, scratch []byte) (_ []byte, ok bool) {
	i := skipWS(line, 0)
	if i >= len(line) || line[i] != '{' {
		return scratch, false
	}
	i = skipWS(line, i+1)
	haveLog := false
	if i < len(line) && line[i] == '}' {
		return scratch, false
	}
	for {
		if i >= len(line) || line[i] != '"' {
			return scratch, false
		}
		kend, _, err := parse.SkipString(line, i, dockerJSON)
		if err != nil {
			return scratch, false
		}
		key := line[i+1 : kend-1]
		i = skipWS(line, kend)
		if i >= len(line) || line[i] != ':' {
			return scratch, false
		}
		i = skipWS(line, i+1)
		if i >= len(line) {
			return scratch, false
		}
		switch string(key) {
		case "log":
			if line[i] != '"' {
				return scratch, false
			}
			var next int
			var nl bool
			l.Log, nl, scratch, next, ok = decodeLog(line, i, scratch)
			if !ok {
				return scratch, false
			}
			l.Partial = !nl
			haveLog = true
			i = next
		case "stream", "time":
			if line[i] != '"' {
				return scratch, false
			}
			end, _, err := parse.SkipString(line, i, dockerJSON)
			if err != nil {
				return scratch, false
			}
			v := line[i+1 : end-1]
			if key[0] == 's' {
				switch string(v) {
				case "stdout":
					l.Stream = StreamStdout
				case "stderr":
					l.Stream = StreamStderr
				default:
					l.Stream = StreamNone
				}
			} else {
				l.Time, _ = parse.ParseTime(v)
			}
			i = end
		default:
			end, err := parse.SkipValue(line, i, dockerJSON)
			if err != nil {
				return scratch, false
			}
			if string(key) == "attrs" {
				l.Attrs = line[i:end]
			}
			i = end
		}
		i = skipWS(line, i)
		if i >= len(line) {
			return scratch, false
		}
		if line[i] == '}' {
			break
		}
		if line[i] != ',' {
			return scratch, false
		}
		i = skipWS(line, i+1)
	}
	if skipWS(line, i+1) != len(line) || !haveLog {
		return scratch, false
	}
	return scratch, true
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// dockerJSON are the scanner options for json-file lines: Docker's encoder
// never writes raw control characters, but a line written by something else
// may carry them, and they are kept for the parse layer to escape.
var dockerJSON = parse.Options{AllowControl: true}

// decodeLog decodes the JSON string at b[i] == '"' and removes one trailing
// '\n' from the value, reporting whether there was one. The value is a view
// into b when the string has no escape other than that final "\n" (the
// common json-file line of a text log), else it is unescaped into
// scratch[:0] while it is validated, in one pass. next is the index just
// past the closing quote.
func decodeLog(b []byte, i int, scratch []byte) (v []byte, nl bool, _ []byte, next int, ok bool) {
	// Fast path: no backslash before the first quote, or only the final
	// "\n": then that quote closes the string, and with raw control
	// characters and any other bytes allowed, nothing in it can be invalid.
	// A value that starts with '{' is nearly always escaped JSON, whose
	// first quote is escaped: not worth the two searches.
	if i+1 < len(b) && b[i+1] == '{' {
		// unescaped below
	} else if q := bytes.IndexByte(b[i+1:], '"'); q >= 0 {
		raw, end := b[i+1:i+1+q], i+2+q
		if bs := bytes.IndexByte(raw, '\\'); bs < 0 {
			if n := len(raw); n > 0 && raw[n-1] == '\n' { // a raw newline: not JSON, but keep it
				return raw[:n-1], true, scratch, end, true
			}
			return raw, false, scratch, end, true
		} else if bs == len(raw)-2 && raw[bs+1] == 'n' {
			return raw[:bs], true, scratch, end, true
		}
	}
	if haveAVX2 { // unescapeFast, one call less
		scratch, next, ok = unescapeAVX2(scratch[:0], b, i)
	} else {
		scratch, next, ok = unescapeSWAR(scratch[:0], b, i)
	}
	if ok {
		v = scratch
		if n := len(v); n > 0 && v[n-1] == '\n' {
			return v[:n-1], true, scratch, next, true
		}
		return v, false, scratch, next, true
	}
	scratch, next, err := parse.AppendUnescaped(scratch[:0], b, i, dockerJSON)
	if err != nil {
		return nil, false, scratch, 0, false
	}
	v = scratch
	if n := len(v); n > 0 && v[n-1] == '\n' {
		return v[:n-1], true, scratch, next, true
	}
	return v, false, scratch, next, true
}

// unescapeFast decodes the JSON string at b[i] == '"' into dst[:0] when it
// has only one-letter escapes (\" \\ \/ \n \t \r \b \f): the escaped JSON of
// a json-file line whose application logs JSON has one every few bytes. ok
// is false for a \u escape, an invalid escape or a string not closed before
// the end of b; the caller then decodes the string with the general
// unescaper, which handles or rejects it, so this one never has to. Like it,
// it passes raw control characters and any other bytes through. next is the
// index just past the closing quote.
//
// When cap(dst) < len(b)-i, it decodes into a new array; it stores only into
// the first len(b)-i bytes of the array it decodes into (unescaped is never
// longer than escaped), and returns it sliced to the value, or to 0 when ok
// is false.
func unescapeFast(dst, b []byte, i int) (_ []byte, next int, ok bool) {
	if haveAVX2 {
		return unescapeAVX2(dst, b, i)
	}
	return unescapeSWAR(dst, b, i)
}

// unescapeRoom returns dst, or a new array when dst has less than room bytes
// of capacity.
func unescapeRoom(dst []byte, room, n int) []byte {
	if cap(dst) < room {
		dst = make([]byte, 0, room+n/4)
	}
	return dst
}

// unescapeAVX2 is unescapeFast on machines with AVX2. Its loop
// (unescapeRunAVX2) finds the escapes of each 64-byte block; when they are
// all \" or \\ (and one \n before the closing quote), it packs the bytes
// of the block but their backslashes (one VPCOMPRESSB where the processor
// has AVX-512 VBMI2, else shuffles). Else it marks the '"' and '\\' of the
// block in a word, then goes from mark to mark: it copies
// the 64 bytes ahead, whatever they hold, moves on by the distance to the
// mark (a count of trailing zeros) and decodes the escape there. Unlike the eight-byte scan, whose end the
// processor mispredicts at nearly every escape, it has no branch on the data
// but at the end of each block and of the string. The last 31 bytes of b,
// where 32 no longer fit, and the escapes the loop does not decode go
// through unescapeSWARAt.
func unescapeAVX2(dst, b []byte, i int) (_ []byte, next int, ok bool) {
	n := len(b)
	dst = unescapeRoom(dst, n-i, n)
	w, j := 0, i+1
	if n-j >= 32 {
		// Stores: w <= j-i-1, and as many bytes are stored at out[w]
		// as are read at b[j], so they are inside the first n-i.
		out := dst[:n-i]
		w, j = unescapeRunAVX2(out, b, w, j)
		if j < n && b[j] == '"' {
			return out[:w], j + 1, true
		}
	}
	return unescapeSWARAt(dst, b, w, j)
}

// unescapeSWAR is unescapeFast on machines without AVX2: it copies eight
// bytes at a time between escapes.
func unescapeSWAR(dst, b []byte, i int) (_ []byte, next int, ok bool) {
	return unescapeSWARAt(unescapeRoom(dst, len(b)-i, len(b)), b, 0, i+1)
}

// unescapeSWARAt goes on with the decoding of unescapeFast at b[j], the
// first w bytes of the value decoded into dst[:w]. cap(dst) must be at
// least len(b)-i, where b[i] is the opening quote, and w at most j-i-1.
func unescapeSWARAt(dst, b []byte, w, j int) (_ []byte, next int, ok bool) {
	n := len(b)
	// With w <= j-i-1 and n-i bytes of room, the eight-byte stores below
	// (j+8 <= n) stay inside.
	out := dst[:cap(dst)]
	const (
		ones   = 0x0101010101010101
		highs  = 0x8080808080808080
		quotes = '"' * ones
		backsl = '\\' * ones
	)
	for {
		for j+8 <= n {
			x := binary.LittleEndian.Uint64(b[j:])
			binary.LittleEndian.PutUint64(out[w:], x)
			q, s := x^quotes, x^backsl
			m := ((q-ones)&^q | (s-ones)&^s) & highs
			if m == 0 {
				j += 8
				w += 8
				continue
			}
			// The lowest flagged byte is the first quote or backslash
			// (a borrow only flags bytes above a real match).
			k := bits.TrailingZeros64(m) >> 3
			j += k
			w += k
			break
		}
		for j < n && b[j] != '"' && b[j] != '\\' {
			out[w] = b[j]
			w++
			j++
		}
	escape:
		if j >= n || j+1 >= n && b[j] == '\\' {
			return dst[:0], 0, false
		}
		if b[j] == '"' {
			return out[:w], j + 1, true
		}
		c := unescapes[b[j+1]]
		if c == 0 {
			return dst[:0], 0, false
		}
		out[w] = c
		w++
		j += 2
		// Escaped JSON has `\":\"` and `\",\"` between every member's name
		// and value and between members: one byte, then the next escape.
		// Taken there and then, not through the scan, whose end the
		// processor mispredicts on nearly every escape; this branch,
		// taken every other escape, it foresees.
		if j+1 < n && b[j+1] == '\\' && b[j] != '\\' && b[j] != '"' {
			out[w] = b[j]
			w++
			j++
			goto escape
		}
	}
}

// unescapes maps the byte after a backslash to what the escape stands for,
// for the one-letter escapes; 0 for \u and invalid escapes.
var unescapes = [256]byte{'"': '"', '\\': '\\', '/': '/', 'n': '\n', 't': '\t', 'r': '\r', 'b': '\b', 'f': '\f'}
