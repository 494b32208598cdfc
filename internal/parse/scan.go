package parse

import (
	"encoding/binary"
	"math/bits"
	"slices"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// maxDepth bounds the nesting of objects and arrays in a line, counting the
// line's own object as 1 (encoding/json allows 10000, Elasticsearch's default
// index.mapping.depth.limit is 20, so 1000 is more than any real log needs).
const maxDepth = 1000

// Value kinds of top-level members.
const (
	kindOther  = iota // object, array, true, false, null
	kindString        // value is a JSON string, quotes included
	kindNumber
)

// member is one top-level member of the line's object. Offsets index the
// scanned buffer: s[ks:ke] is the key with its quotes, s[vs:ve] the value.
type member struct {
	ks, ke, vs, ve int32
	kind           uint8
	escKey         bool   // the key has escapes: never used, only unescaped for clashes
	orig           bool   // the fast path writes it as "<name>_original" (markOriginals)
	act            uint8  // what appendObject does with it
	id             uint8  // builtin name id (idXxx), 0 if none
	ren            uint8  // ECS field id the fast path renames it to (markRenames), 0 if none
	dyn            uint16 // 1 + index of the equal name in Line.Fields or static, 0 if none
	gid            uint16 // group of members written as "<name>_original", 0 if none
}

// Why a line is not valid JSON.
const (
	errNone = iota
	errEOF
	errChar
	errDepth
)

// Where an invalid character was found, for the error message.
const (
	ctxValue = iota
	ctxKey
	ctxAfterKey
	ctxAfterObjectValue
	ctxAfterArrayValue
	ctxAfterTop
	ctxString
	ctxEscape
	ctxUnicode
	ctxNumber
	ctxLiteral
)

var ctxText = [...]string{
	ctxValue:            "looking for beginning of value",
	ctxKey:              "looking for beginning of object key string",
	ctxAfterKey:         "after object key",
	ctxAfterObjectValue: "after object key:value pair",
	ctxAfterArrayValue:  "after array element",
	ctxAfterTop:         "after top-level value",
	ctxString:           "in string literal",
	ctxEscape:           "in string escape code",
	ctxUnicode:          `in \u hexadecimal character escape`,
	ctxNumber:           "in numeric literal",
	ctxLiteral:          "in literal true, false or null",
}

var isWS = [256]bool{' ': true, '\t': true, '\r': true, '\n': true}

var isHex = func() (t [256]bool) {
	for _, c := range "0123456789abcdefABCDEF" {
		t[c] = true
	}
	return t
}()

func skipWS(s []byte, i int) int {
	for i < len(s) && s[i] <= ' ' && isWS[s[i]] {
		i++
	}
	return i
}

// scanner validates one line and records its top-level members. Its state
// lives in the Parser so that scanning allocates nothing in steady state.
type scanner struct {
	members []member
	badUTF8 bool // a string holds invalid UTF-8 (not a syntax error)
	lastEsc bool // the last string scanned had escapes

	err   uint8 // errXxx
	ctx   uint8 // ctxXxx when err == errChar
	errAt int   // offset of the problem

	// For SkipValue and SkipString (the other decoders of the project);
	// the zero values are the parser's rules.
	limit    int  // maximum nesting, 0 for maxDepth
	allowCtl bool // raw control characters are accepted inside strings

	// The structural index of the line scanObject scans (stops.go), when
	// indexed; scanObject sets and clears indexed.
	stop    []byte
	indexed bool
	noIndex bool // tests: scan as machines without AVX2 do

	// stack holds one bit per nesting level: 1 for an object, 0 for an array.
	// Iterating with an explicit bit stack keeps deep nesting cheap and
	// safe: no recursion, constant memory.
	stack [maxDepth/64 + 1]uint64
}

func (sc *scanner) fail(err, ctx uint8, at int) int {
	sc.err, sc.ctx, sc.errAt = err, ctx, at
	return -1
}

func (sc *scanner) isObject(depth int) bool {
	return sc.stack[depth>>6]>>(depth&63)&1 != 0
}

// scanObject checks that s[i:] is one JSON object (s[i] == '{') followed
// only by whitespace, with valid strings, numbers, literals and nesting up to
// maxDepth, and records its top-level members in sc.members. Invalid UTF-8
// inside strings is not an error: it sets sc.badUTF8. On failure it returns
// false with sc.err, sc.ctx and sc.errAt set.
//
// The top level has its own loop, with fast paths for compact JSON (no
// whitespace, plain ASCII strings): that is what loggers write. Nested
// values go to skipNested.
func (sc *scanner) scanObject(s []byte, i int) bool {
	var (
		n      = len(s)
		ks, ke int // the current key
		vs     int // the current value
		kind   uint8
		esc    bool
		m      *member
		j      int
	)
	// members is kept in a local while scanning, stored back on return.
	members := sc.members[:0]
	if cap(members) < maxFastMembers {
		// Room for the members of any line of a kept shape: appendOps
		// reads them as an array.
		members = make([]member, 0, maxFastMembers)
	}
	sc.badUTF8 = false
	sc.err = errNone
	if haveAVX2 && !sc.noIndex {
		sc.index(s)
	}

	i = skipWS(s, i+1)
	if i < n && s[i] == '}' {
		i++
		goto done
	}
	for {
		if sc.indexed {
			// The members compact JSON is made of, in a loop of their
			// own; it stops at anything else, for the code below.
			var st, k int
			members, i, k, st = sc.scanPlain(s, i, members)
			switch st {
			case plainClosed:
				goto done
			case plainAfterValue:
				goto afterValue
			case plainValue:
				ks, ke, esc = k, i-1, false
				goto value
			}
		}
		// The key. Most strings are plain ASCII: find the closing quote
		// inline, else scan again with all the checks.
		if i >= n {
			sc.failEOF(n)
			goto fail
		}
		if s[i] != '"' {
			sc.failChar(ctxKey, i)
			goto fail
		}
		ks = i
		if sc.indexed {
			j = sc.stopAt(i + 1)
		} else {
			j = stringEnd(s, i+1)
		}
		if j < n && s[j] == '"' {
			i, esc = j+1, false
		} else {
			if i = sc.scanString(s, i); i < 0 {
				goto fail
			}
			esc = sc.lastEsc
		}
		ke = i
		if i < n && s[i] == ':' {
			i++
		} else {
			if i = skipWS(s, i); i >= n {
				sc.failEOF(n)
				goto fail
			}
			if s[i] != ':' {
				sc.failChar(ctxAfterKey, i)
				goto fail
			}
			i++
		}

		// The value.
	value:
		if i = skipWS(s, i); i >= n {
			sc.failEOF(n)
			goto fail
		}
		vs = i
		switch c := s[i]; c {
		case '"':
			kind = kindString
			if sc.indexed {
				j = sc.stopAt(i + 1)
			} else {
				j = stringEnd(s, i+1)
			}
			if j < n && s[j] == '"' {
				i = j + 1
			} else if i = sc.scanString(s, i); i < 0 {
				goto fail
			}
		case '{', '[':
			kind = kindOther
			if i = sc.skipNested(s, i); i < 0 {
				goto fail
			}
		case 't', 'f', 'n':
			kind = kindOther
			if i = sc.scanLiteral(s, i); i < 0 {
				goto fail
			}
		default:
			if c != '-' && c-'0' > 9 {
				sc.failChar(ctxValue, i)
				goto fail
			}
			kind = kindNumber
			if i = sc.scanNumber(s, i); i < 0 {
				goto fail
			}
		}

		// Fill the new element in place: building a member on the stack
		// and copying it costs a store-forwarding stall per member.
		if len(members) == cap(members) {
			members = slices.Grow(members, 16)
		}
		members = members[:len(members)+1]
		m = &members[len(members)-1]
		*m = member{ks: int32(ks), ke: int32(ke), vs: int32(vs), ve: int32(i), kind: kind, escKey: esc}

		// ',' or '}'.
	afterValue:
		if i < n && s[i] == ',' {
			i++
		} else {
			if i = skipWS(s, i); i >= n {
				sc.failEOF(n)
				goto fail
			}
			if s[i] == '}' {
				i++
				goto done
			}
			if s[i] != ',' {
				sc.failChar(ctxAfterObjectValue, i)
				goto fail
			}
			i++
		}
		if i < n && s[i] == '"' {
			continue // compact JSON: the next key
		}
		i = skipWS(s, i)
	}

done:
	if i = skipWS(s, i); i < n {
		sc.failChar(ctxAfterTop, i)
		goto fail
	}
	sc.members = members
	sc.indexed = false
	return true

fail:
	sc.members = members
	sc.indexed = false
	return false
}

// What scanPlain stopped at.
const (
	plainKey        = iota // s[i] may be a key's opening quote: a member scanPlain left alone
	plainValue             // s[i] is the value of a member whose plain key is at s[ks]
	plainAfterValue        // s[i] follows a member's value: ',' or '}' with whitespace, or an error
	plainClosed            // s[i-1] is the object's closing brace
)

// scanPlain scans, from s[i], the members that compact JSON is mostly made
// of, with fewer checks than scanObject's general loop: a key with no
// marked byte (stops.go) followed by ':', then a string with no marked byte
// or a number not starting with '-' or '0', with or without a fraction but
// with no exponent, then ',' and the next key's opening quote. It needs the index
// (sc.indexed). It appends each member it scanned to members, exactly as the
// general loop does, and returns them with where and how it stopped
// (plainXxx; ks for plainValue). Everything else, valid or not, is left to
// the general loop, which reports errors: nested values, other numbers,
// literals and whitespace cost a return there, and the loop makes no call,
// so that the compiler keeps its state in registers.
func (sc *scanner) scanPlain(s []byte, i int, members []member) (_ []member, at, ks, st int) {
	// Capacities equal to lengths: the slice expressions of the loop
	// check against the capacity, and one register then holds both.
	n, stop := len(s), sc.stop[:len(sc.stop):len(sc.stop)]
	s = s[:n:n]
	if i >= n || s[i] != '"' {
		return members, i, 0, plainKey
	}
	for len(members) < cap(members) {
		// s[i] is a key's opening quote. Its closing quote is the first
		// of the 57 to 64 marks from i+1 (stopIn without its loop: a
		// longer key is left to the general loop).
		u := uint(i + 1)
		marks := binary.LittleEndian.Uint64(stop[u>>3:u>>3+8]) >> (u & 7)
		if marks == 0 {
			return members, i, 0, plainKey
		}
		// Lines are shorter than 2³¹ bytes. Through uint32, j is known
		// to be >= 0, and j+4 below is computed from j.
		j := int(uint32(u) + uint32(bits.TrailingZeros64(marks)))
		if j >= n-3 {
			return members, i, 0, plainKey
		}
		// The closing quote, ':' and the first byte of the value, as
		// one word.
		w := binary.LittleEndian.Uint32(s[j : j+4])
		if uint16(w) != '"'|':'<<8 {
			return members, i, 0, plainKey
		}
		vs, ve, kind := j+2, 0, uint8(kindString)
		if c := byte(w >> 16); c == '"' {
			// The value's closing quote is the third mark from j (the
			// second is its opening quote), in the same marks when the
			// member is short enough, else past them.
			var e int
			if marks &= marks - 1; marks&(marks-1) != 0 {
				e = int(uint32(u) + uint32(bits.TrailingZeros64(marks&(marks-1))))
			} else {
				// Through uint32 as well (e < 2³² here), so that e
				// is known to be >= 0 below.
				e = int(uint32(stopIn(stop, max(vs+1, int(u&^7+64)))))
			}
			if e >= n || s[e] != '"' {
				return members, vs, i, plainValue
			}
			ve = e + 1
		} else if c-'1' < 9 {
			ve, kind = digitsEnd(s, vs+1), kindNumber
			if ve < n-1 && s[ve] == '.' && s[ve+1]-'0' < 10 {
				// A fraction ("ts":1795428000.000567).
				ve = digitsEnd(s, ve+2)
			}
			if ve < n && (s[ve] == '.' || s[ve]|0x20 == 'e') {
				return members, vs, i, plainValue
			}
		} else {
			return members, vs, i, plainValue
		}
		// Fill the new element in place (see scanObject).
		members = members[:len(members)+1]
		m := &members[len(members)-1]
		*m = member{}
		m.ks, m.ke, m.vs, m.ve, m.kind = int32(i), int32(j+1), int32(vs), int32(ve), kind
		if ve < 0 || ve >= n-1 || binary.LittleEndian.Uint16(s[ve:ve+2]) != ','|'"'<<8 {
			if ve < n && s[ve] == '}' {
				return members, ve + 1, 0, plainClosed
			}
			return members, ve, 0, plainAfterValue
		}
		i = ve + 1
	}
	return members, i, 0, plainKey
}

// skipPlain is scanPlain for the members of a nested object, which are not
// recorded: from s[i], it skips the members made of a plain key, ':' and a
// plain string or number, and returns where it stopped: at a key it left
// alone (plainKey), at the value of a member (plainValue), or after a value
// not followed by ',' and a key (plainAfterValue).
func (sc *scanner) skipPlain(s []byte, i int) (at, st int) {
	n, stop := len(s), sc.stop[:len(sc.stop):len(sc.stop)] // as in scanPlain
	s = s[:n:n]
	for i < n && s[i] == '"' {
		// As in scanPlain.
		u := uint(i + 1)
		marks := binary.LittleEndian.Uint64(stop[u>>3:u>>3+8]) >> (u & 7)
		if marks == 0 {
			return i, plainKey
		}
		j := int(uint32(u) + uint32(bits.TrailingZeros64(marks)))
		if j >= n-3 {
			return i, plainKey
		}
		w := binary.LittleEndian.Uint32(s[j : j+4])
		if uint16(w) != '"'|':'<<8 {
			return i, plainKey
		}
		vs, ve := j+2, 0
		if c := byte(w >> 16); c == '"' {
			var e int
			if marks &= marks - 1; marks&(marks-1) != 0 {
				e = int(uint32(u) + uint32(bits.TrailingZeros64(marks&(marks-1))))
			} else {
				e = stopIn(stop, max(vs+1, int(u&^7+64)))
			}
			if e >= n || s[e] != '"' {
				return vs, plainValue
			}
			ve = e + 1
		} else if c-'1' < 9 {
			ve = digitsEnd(s, vs+1)
			if ve < n-1 && s[ve] == '.' && s[ve+1]-'0' < 10 {
				ve = digitsEnd(s, ve+2)
			}
			if ve < n && (s[ve] == '.' || s[ve]|0x20 == 'e') {
				return vs, plainValue
			}
		} else {
			return vs, plainValue
		}
		if ve < 0 || ve >= n-1 || binary.LittleEndian.Uint16(s[ve:ve+2]) != ','|'"'<<8 {
			return ve, plainAfterValue
		}
		i = ve + 1
	}
	return i, plainKey
}

// skipNested checks the object or array at s[i] (a member value of the
// top-level object, so at depth 2) and returns the offset after it, or -1.
// It iterates with the bit stack in sc: no recursion, constant memory.
func (sc *scanner) skipNested(s []byte, i int) int {
	var (
		n     = len(s)
		depth = 1 // the top-level object
		c     byte
		limit = maxDepth
	)
	if sc.limit > 0 {
		limit = sc.limit // at most maxDepth+1: the stack has room
	}

value:
	i = skipWS(s, i)
	if i >= n {
		return sc.fail(errEOF, 0, n)
	}
	switch c = s[i]; c {
	case '"':
		j := 0
		if sc.indexed {
			j = sc.stopAt(i + 1)
		} else {
			j = stringEnd(s, i+1)
		}
		if j < n && s[j] == '"' {
			i = j + 1
		} else if i = sc.scanString(s, i); i < 0 {
			return -1
		}
	case '{', '[':
		if depth >= limit {
			return sc.fail(errDepth, 0, i)
		}
		depth++
		if c == '{' {
			sc.stack[depth>>6] |= 1 << (depth & 63)
		} else {
			sc.stack[depth>>6] &^= 1 << (depth & 63)
		}
		i = skipWS(s, i+1)
		if i < n && s[i] == c+2 { // '}' or ']'
			i++
			depth--
			goto afterValue
		}
		if c == '{' {
			goto key
		}
		goto value
	case 't', 'f', 'n':
		if i = sc.scanLiteral(s, i); i < 0 {
			return -1
		}
	default:
		if c != '-' && c-'0' > 9 {
			return sc.fail(errChar, ctxValue, i)
		}
		if i = sc.scanNumber(s, i); i < 0 {
			return -1
		}
	}

afterValue:
	if depth == 1 {
		return i
	}
	if i = skipWS(s, i); i >= n {
		return sc.fail(errEOF, 0, n)
	}
	c = s[i]
	if c == ',' {
		i++
		if sc.isObject(depth) {
			goto key
		}
		goto value
	}
	if sc.isObject(depth) {
		if c != '}' {
			return sc.fail(errChar, ctxAfterObjectValue, i)
		}
	} else if c != ']' {
		return sc.fail(errChar, ctxAfterArrayValue, i)
	}
	i++
	depth--
	goto afterValue

key:
	if sc.indexed {
		var st int
		switch i, st = sc.skipPlain(s, i); st {
		case plainValue:
			goto value
		case plainAfterValue:
			goto afterValue
		}
	}
	if i = skipWS(s, i); i >= n {
		return sc.fail(errEOF, 0, n)
	}
	if s[i] != '"' {
		return sc.fail(errChar, ctxKey, i)
	}
	j := 0
	if sc.indexed {
		j = sc.stopAt(i + 1)
	} else {
		j = stringEnd(s, i+1)
	}
	if j < n && s[j] == '"' {
		i = j + 1
	} else if i = sc.scanString(s, i); i < 0 {
		return -1
	}
	if i = skipWS(s, i); i >= n {
		return sc.fail(errEOF, 0, n)
	}
	if s[i] != ':' {
		return sc.fail(errChar, ctxAfterKey, i)
	}
	i++
	goto value
}

func (sc *scanner) failEOF(at int) bool {
	sc.fail(errEOF, 0, at)
	return false
}

func (sc *scanner) failChar(ctx uint8, at int) bool {
	sc.fail(errChar, ctx, at)
	return false
}

func (sc *scanner) failDepth(at int) bool {
	sc.fail(errDepth, 0, at)
	return false
}

// scanString scans the JSON string starting at s[i] == '"' and returns the
// offset after its closing quote, or -1. It sets sc.lastEsc, and sc.badUTF8
// when the string holds invalid UTF-8.
func (sc *scanner) scanString(s []byte, i int) int {
	n := len(s)
	i++
	esc := false
	for {
		if sc.indexed {
			i = sc.stopAt(i)
		} else {
			i = stringEnd(s, i)
		}
		for i < n && strSafe[s[i]] {
			i++
		}
		if i >= n {
			return sc.fail(errEOF, 0, n)
		}
		switch c := s[i]; {
		case c == '"':
			sc.lastEsc = esc
			return i + 1
		case c == '\\':
			esc = true
			if i+1 >= n {
				return sc.fail(errEOF, 0, n)
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for k := i + 2; k < i+6; k++ {
					if k >= n {
						return sc.fail(errEOF, 0, n)
					}
					if !isHex[s[k]] {
						return sc.fail(errChar, ctxUnicode, k)
					}
				}
				i += 6
			default:
				return sc.fail(errChar, ctxEscape, i+1)
			}
		case c < 0x20:
			if !sc.allowCtl {
				return sc.fail(errChar, ctxString, i)
			}
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				sc.badUTF8 = true
			}
			i += size
		}
	}
}

// scanNumber scans the JSON number at s[i] and returns the offset after it,
// or -1.
func (sc *scanner) scanNumber(s []byte, i int) int {
	n := len(s)
	if s[i] == '-' {
		i++
	}
	switch {
	case i >= n:
		return sc.fail(errEOF, 0, n)
	case s[i] == '0':
		i++
	case s[i]-'1' < 9:
		i = digitsEnd(s, i+1)
	default:
		return sc.fail(errChar, ctxNumber, i)
	}
	if i < n && s[i] == '.' {
		i++
		if i >= n {
			return sc.fail(errEOF, 0, n)
		}
		if s[i]-'0' > 9 {
			return sc.fail(errChar, ctxNumber, i)
		}
		i = digitsEnd(s, i+1)
	}
	if i < n && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < n && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= n {
			return sc.fail(errEOF, 0, n)
		}
		if s[i]-'0' > 9 {
			return sc.fail(errChar, ctxNumber, i)
		}
		i = digitsEnd(s, i+1)
	}
	return i
}

// digitsEnd returns the offset of the first byte at or after s[i] that is
// not an ASCII digit, or len(s), checking eight bytes per step.
func digitsEnd(s []byte, i int) int {
	for i+8 <= len(s) {
		// t's bytes are below 10 for digits; adding 0x76 to the low
		// seven bits sets the top bit of the others (t itself for
		// bytes >= 0x80), without carries between bytes.
		t := binary.LittleEndian.Uint64(s[i:i+8]) ^ lsb*'0'
		if m := ((t &^ msb) + lsb*0x76 | t) & msb; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	for i < len(s) && s[i]-'0' < 10 {
		i++
	}
	return i
}

// scanLiteral checks that true, false or null (by s[i]) is at s[i] and
// returns the offset after it, or -1.
func (sc *scanner) scanLiteral(s []byte, i int) int {
	lit := "null"
	switch s[i] {
	case 't':
		lit = "true"
	case 'f':
		lit = "false"
	}
	for k := 1; k < len(lit); k++ {
		if i+k >= len(s) {
			return sc.fail(errEOF, 0, len(s))
		}
		if s[i+k] != lit[k] {
			return sc.fail(errChar, ctxLiteral, i+k)
		}
	}
	return i + len(lit)
}

// appendReason appends a description of the scan error to dst, e.g.
// "invalid character 'x' looking for beginning of value at offset 17".
func (sc *scanner) appendReason(dst, s []byte) []byte {
	switch sc.err {
	case errEOF:
		dst = append(dst, "unexpected end of input at offset "...)
	case errDepth:
		if sc.limit > 0 && sc.limit <= maxDepth {
			dst = append(dst, "nested too deeply at offset "...)
		} else {
			dst = append(dst, "nesting deeper than 1000 levels at offset "...)
		}
	default:
		dst = append(dst, "invalid character "...)
		dst = appendQuotedChar(dst, s[sc.errAt:])
		dst = append(dst, ' ')
		dst = append(dst, ctxText[sc.ctx]...)
		dst = append(dst, " at offset "...)
	}
	return appendInt(dst, int64(sc.errAt))
}

// appendQuotedChar appends the character at the start of s in single quotes:
// printable characters as they are, other characters as '\u00a0', bytes
// that are not UTF-8 as '\xNN'.
func appendQuotedChar(dst, s []byte) []byte {
	c := s[0]
	switch {
	case c == '\'' || c == '\\':
		return append(dst, '\'', '\\', c, '\'')
	case c >= 0x20 && c < 0x7f:
		return append(dst, '\'', c, '\'')
	case c >= utf8.RuneSelf:
		if r, size := utf8.DecodeRune(s); size > 1 {
			if !unicode.IsPrint(r) {
				return strconv.AppendQuoteRuneToASCII(dst, r) // '\u00a0'
			}
			dst = append(dst, '\'')
			dst = append(dst, s[:size]...)
			return append(dst, '\'')
		}
	}
	return append(dst, '\'', '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf], '\'')
}

func appendInt(dst []byte, v int64) []byte {
	var buf [20]byte
	i := len(buf)
	u := uint64(v)
	if v < 0 {
		u = uint64(-v)
	}
	// Two digits per division: half the steps, and half the loop exits
	// to mispredict, of one digit per division.
	for u >= 100 {
		q := u / 100
		d := (u - q*100) * 2
		i -= 2
		buf[i], buf[i+1] = two[d], two[d+1]
		u = q
	}
	if u >= 10 {
		i -= 2
		buf[i], buf[i+1] = two[u*2], two[u*2+1]
	} else {
		i--
		buf[i] = byte('0' + u)
	}
	if v < 0 {
		dst = append(dst, '-')
	}
	return append(dst, buf[i:]...)
}
