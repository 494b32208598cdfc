package file

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"

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
	i := skipWS(line, 0)
	if i >= len(line) || line[i] != '{' {
		return l, scratch, false
	}
	i = skipWS(line, i+1)
	haveLog := false
	if i < len(line) && line[i] == '}' {
		return l, scratch, false
	}
	for {
		if i >= len(line) || line[i] != '"' {
			return l, scratch, false
		}
		kend := skipString(line, i)
		if kend < 0 {
			return l, scratch, false
		}
		key := line[i+1 : kend-1]
		i = skipWS(line, kend)
		if i >= len(line) || line[i] != ':' {
			return l, scratch, false
		}
		i = skipWS(line, i+1)
		if i >= len(line) {
			return l, scratch, false
		}
		switch string(key) {
		case "log":
			if line[i] != '"' {
				return l, scratch, false
			}
			var next int
			var nl bool
			l.Log, nl, scratch, next, ok = decodeLog(line, i, scratch)
			if !ok {
				return l, scratch, false
			}
			l.Partial = !nl
			haveLog = true
			i = next
		case "stream", "time":
			if line[i] != '"' {
				return l, scratch, false
			}
			end := skipString(line, i)
			if end < 0 {
				return l, scratch, false
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
			end := skipValue(line, i)
			if end < 0 {
				return l, scratch, false
			}
			if string(key) == "attrs" {
				l.Attrs = line[i:end]
			}
			i = end
		}
		i = skipWS(line, i)
		if i >= len(line) {
			return l, scratch, false
		}
		if line[i] == '}' {
			break
		}
		if line[i] != ',' {
			return l, scratch, false
		}
		i = skipWS(line, i+1)
	}
	if skipWS(line, i+1) != len(line) || !haveLog {
		return l, scratch, false
	}
	return l, scratch, true
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at b[i] == '"',
// or -1 if it is not terminated.
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the index just past the JSON value starting at b[i], or -1.
// Objects and arrays are matched by bracket depth only, not validated.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e := skipString(b, j)
				if e < 0 {
					return -1
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
loop:
	for ; j < len(b); j++ {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			break loop
		}
	}
	if j == i {
		return -1
	}
	return j
}

// decodeLog decodes the JSON string at b[i] == '"' and removes one trailing
// '\n' from the value, reporting whether there was one. The value is a view
// into b when the string has no escape other than that final "\n" (the
// common json-file line), else it is appended to scratch[:0]. next is the
// index just past the closing quote.
func decodeLog(b []byte, i int, scratch []byte) (v []byte, nl bool, _ []byte, next int, ok bool) {
	s := b[i+1:]
	q := bytes.IndexByte(s, '"')
	if q < 0 {
		return nil, false, scratch, 0, false
	}
	bs := bytes.IndexByte(s[:q], '\\')
	switch {
	case bs < 0:
		v = s[:q]
		if n := len(v); n > 0 && v[n-1] == '\n' { // a raw newline: not JSON, but keep it
			return v[:n-1], true, scratch, i + 1 + q + 1, true
		}
		return v, false, scratch, i + 1 + q + 1, true
	case bs == q-2 && s[q-1] == 'n':
		return s[:bs], true, scratch, i + 1 + q + 1, true
	}
	scratch = scratch[:0]
	j := 0
	for {
		if q < j {
			if q = bytes.IndexByte(s[j:], '"'); q < 0 {
				return nil, false, scratch, 0, false
			}
			q += j
		}
		bs := bytes.IndexByte(s[j:q], '\\')
		if bs < 0 {
			scratch = append(scratch, s[j:q]...)
			v = scratch
			if n := len(v); n > 0 && v[n-1] == '\n' {
				return v[:n-1], true, scratch, i + 1 + q + 1, true
			}
			return v, false, scratch, i + 1 + q + 1, true
		}
		bs += j
		scratch = append(scratch, s[j:bs]...)
		if bs+1 >= len(s) {
			return nil, false, scratch, 0, false
		}
		j = bs + 2
		switch c := s[bs+1]; c {
		case '"', '\\', '/':
			scratch = append(scratch, c)
		case 'b':
			scratch = append(scratch, '\b')
		case 'f':
			scratch = append(scratch, '\f')
		case 'n':
			scratch = append(scratch, '\n')
		case 'r':
			scratch = append(scratch, '\r')
		case 't':
			scratch = append(scratch, '\t')
		case 'u':
			rr := getu4(s[bs:])
			if rr < 0 {
				return nil, false, scratch, 0, false
			}
			j = bs + 6
			if utf16.IsSurrogate(rr) {
				if dec := utf16.DecodeRune(rr, getu4(s[j:])); dec != utf8.RuneError {
					j += 6
					scratch = utf8.AppendRune(scratch, dec)
					break
				}
				rr = utf8.RuneError
			}
			scratch = utf8.AppendRune(scratch, rr)
		default:
			return nil, false, scratch, 0, false
		}
	}
}

// getu4 decodes \uXXXX from the beginning of s, returning the hex value, or
// -1 if s does not start with one.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c = c - '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}
