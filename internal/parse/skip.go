package parse

import "errors"

// The parser's scanner is also the JSON scanner of the project's other
// decoders (the Fluent Forward JSON mode, Docker's json-file lines): one
// validating scanner and one unescaper, tested and fuzzed here.

// ErrShort is returned by SkipValue and SkipString when the input ends inside
// the value: more bytes may complete it.
var ErrShort = errors.New("JSON value incomplete: the input ends inside it")

// SyntaxError is a JSON value SkipValue or SkipString rejects.
type SyntaxError struct {
	// Offset of the problem in the input.
	Offset int
	msg    string
}

func (e *SyntaxError) Error() string { return "invalid JSON: " + e.msg }

// Options of SkipValue and SkipString; the zero value is the parser's rules
// (nesting up to 1000 levels, no raw control characters in strings).
type Options struct {
	// MaxDepth bounds the nesting of objects and arrays (1 to 1000); 0
	// means 1000.
	MaxDepth int
	// AllowControl accepts raw control characters (< 0x20) inside
	// strings. Docker's json-file lines carry them through from a log.
	AllowControl bool
}

// SkipValue validates the JSON value that starts at b[i], after optional
// whitespace, and returns the offset just past it. A number that reaches the
// end of b is complete to SkipValue; a caller reading a stream must treat it
// as possibly short. Invalid UTF-8 inside strings is not an error. It does
// not allocate unless it fails.
func SkipValue(b []byte, i int, o Options) (int, error) {
	var sc scanner
	sc.limit, sc.allowCtl = o.limit(), o.AllowControl
	end := sc.skipValue(b, i)
	if end < 0 {
		return i, sc.error(b)
	}
	return end, nil
}

// SkipString validates the JSON string at b[i] == '"' and returns the offset
// just past its closing quote and whether it has escapes (then Unescape
// decodes its contents b[i+1:end-1]).
func SkipString(b []byte, i int, o Options) (end int, escaped bool, err error) {
	var sc scanner
	sc.allowCtl = o.AllowControl
	if j := stringEnd(b, i+1); j < len(b) && b[j] == '"' {
		return j + 1, false, nil
	}
	if end = sc.scanString(b, i); end < 0 {
		return i, false, sc.error(b)
	}
	return end, sc.lastEsc, nil
}

func (o Options) limit() int {
	// skipNested counts an enclosing object as one level.
	if o.MaxDepth <= 0 || o.MaxDepth >= maxDepth {
		return maxDepth + 1
	}
	return o.MaxDepth + 1
}

// skipValue scans the value at s[i] (after whitespace) and returns the
// offset after it, or -1.
func (sc *scanner) skipValue(s []byte, i int) int {
	sc.err = errNone
	if i = skipWS(s, i); i >= len(s) {
		return sc.fail(errEOF, 0, len(s))
	}
	switch c := s[i]; c {
	case '"':
		if j := stringEnd(s, i+1); j < len(s) && s[j] == '"' {
			return j + 1
		}
		return sc.scanString(s, i)
	case '{', '[':
		return sc.skipNested(s, i)
	case 't', 'f', 'n':
		return sc.scanLiteral(s, i)
	default:
		if c != '-' && c-'0' > 9 {
			return sc.fail(errChar, ctxValue, i)
		}
		return sc.scanNumber(s, i)
	}
}

// error returns the error for the failure recorded in sc.
func (sc *scanner) error(s []byte) error {
	if sc.err == errEOF {
		return ErrShort
	}
	return &SyntaxError{Offset: sc.errAt, msg: string(sc.appendReason(nil, s))}
}
