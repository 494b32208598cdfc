package parse

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"slices"
	"unicode/utf8"
)

// SWAR ("SIMD within a register") helpers: the string scanners look at eight
// bytes per step and only fall back to one byte at a time around the bytes
// that need attention.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// strSpecial returns a word with the high bit set in every byte of x that is
// '"', '\\', a control character (< 0x20) or not ASCII (>= 0x80). Bytes above
// the lowest flagged one may be false positives (borrows), the lowest flagged
// byte is always exact, which is all the callers use.
//
// The usual has-zero-byte test is (v-lsb)&^v&msb; the &^v only removes false
// positives for bytes >= 0x80, which are flagged anyway (the final |x), so it
// is left out: nine operations per eight bytes instead of twelve.
func strSpecial(x uint64) uint64 {
	q := x ^ (lsb * '"')
	b := x ^ (lsb * '\\')
	return ((x - lsb*0x20) | (q - lsb) | (b - lsb) | x) & msb
}

// stringEnd returns the offset of the first byte at or after s[j] that needs
// a closer look in a JSON string ('"', '\\', control, non-ASCII), checking
// eight bytes at a time, or a position j with j+8 > len(s) where the fast
// scan stopped.
func stringEnd(s []byte, j int) int {
	for j+8 <= len(s) {
		if m := strSpecial(binary.LittleEndian.Uint64(s[j:])); m != 0 {
			return j + bits.TrailingZeros64(m)>>3
		}
		j += 8
	}
	return j
}

// strSafe[c] is true for the bytes that are copied unchanged inside a JSON
// string: printable ASCII except '"' and '\\'.
var strSafe = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// replacement is U+FFFD encoded in UTF-8; every byte of an invalid UTF-8
// sequence becomes one of these, the same as encoding/json does.
const replacement = "\ufffd"

// AppendString appends s to dst as a JSON string, with the quotes, and returns
// the extended dst. '"', '\\' and control characters are escaped (\n, \r, \t,
// \b, \f, else \u00XX); everything else, including non-ASCII UTF-8, is copied
// as is. Each byte that is not part of a valid UTF-8 sequence is replaced with
// U+FFFD; replaced reports whether that happened. s is not retained.
func AppendString(dst, s []byte) (_ []byte, replaced bool) {
	dst = append(dst, '"')
	start, i, n := 0, 0, len(s)
	for {
		i = stringEnd(s, i)
		for i < n && strSafe[s[i]] {
			i++
		}
		if i >= n {
			break
		}
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, replacement...)
			replaced = true
		} else {
			dst = append(dst, s[start:i]...)
			dst = appendEscape(dst, c)
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"'), replaced
}

// appendEscape appends the JSON escape sequence for the ASCII byte c, which is
// '"', '\\' or a control character.
func appendEscape(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}

// appendValidUTF8 appends s to dst with every byte that is not part of a
// valid UTF-8 sequence replaced by U+FFFD (as AppendString does, without the
// JSON escaping).
func appendValidUTF8(dst, s []byte) []byte {
	start, i, n := 0, 0, len(s)
	for i < n {
		if i+8 <= n && binary.LittleEndian.Uint64(s[i:])&msb == 0 {
			i += 8
			continue
		}
		if s[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, replacement...)
			start = i + 1
		}
		i += size
	}
	return append(dst, s[start:]...)
}

// trimPartialRune drops an incomplete UTF-8 sequence at the end of b: a line
// cut at a byte limit often ends in the middle of a character, and that is
// not an encoding error of the source.
func trimPartialRune(b []byte) []byte {
	for k := 1; k <= utf8.UTFMax-1 && k <= len(b); k++ {
		c := b[len(b)-k]
		if c < utf8.RuneSelf {
			return b
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(b[len(b)-k:]) {
				return b[:len(b)-k]
			}
			return b
		}
	}
	return b
}

// Unescape appends the value of the raw JSON string contents s (without
// quotes, validated by the scanner: SkipString, SkipValue or the parser) to
// dst; a lone surrogate becomes U+FFFD, as encoding/json does. Bytes other
// than escapes are copied as they are, in runs. With AppendUnescaped it is the
// one unescaper of the project: member names, Forward tags, Docker's
// json-file "log" values.
func Unescape(dst, s []byte) []byte {
	for {
		k := bytes.IndexByte(s, '\\')
		if k < 0 {
			return append(dst, s...)
		}
		dst = append(dst, s[:k]...)
		var n int
		dst, n = unescapeOne(dst, s[k:])
		s = s[k+n:]
	}
}

// AppendUnescaped validates the JSON string at b[i] == '"' and appends its
// value to dst in the same pass (Unescape's rules), returning dst and the
// offset just past the closing quote. Errors are SkipString's; on error dst
// holds part of the value.
func AppendUnescaped(dst, b []byte, i int, o Options) (_ []byte, end int, err error) {
	n := len(b)
	// A value is never longer unescaped than escaped: grow dst once and
	// write into it by index, no append per run or escape.
	w := len(dst)
	if cap(dst)-w < n-i {
		dst = slices.Grow(dst, n-i)
	}
	out := dst[:cap(dst)]
	j := i + 1
	start := j
	for {
		j = stringEnd(b, j)
		for j < n && strSafe[b[j]] {
			j++
		}
		if j >= n {
			return out[:w], i, ErrShort
		}
		switch c := b[j]; {
		case c == '"':
			w += copy(out[w:], b[start:j])
			return out[:w], j + 1, nil
		case c == '\\':
			if j+1 >= n {
				return out[:w], i, ErrShort
			}
			w += copy(out[w:], b[start:j])
			switch e := b[j+1]; e {
			case '"', '\\', '/':
				out[w] = e
				w++
				j += 2
			case 'n':
				out[w] = '\n'
				w++
				j += 2
			case 'b', 'f', 'r', 't':
				out[w] = escByte[e]
				w++
				j += 2
			case 'u':
				for k := j + 2; k < j+6; k++ {
					if k >= n {
						return out[:w], i, ErrShort
					}
					if !isHex[b[k]] {
						return out[:w], i, &SyntaxError{Offset: k, msg: "invalid character in \\u hexadecimal character escape"}
					}
				}
				d, k := unescapeOne(out[:w], b[j:]) // within capacity: no copy
				w, out = len(d), d[:cap(d)]
				j += k
			default:
				return out[:w], i, &SyntaxError{Offset: j + 1, msg: "invalid character in string escape code"}
			}
			start = j
		case c < 0x20:
			if !o.AllowControl {
				return out[:w], i, &SyntaxError{Offset: j, msg: "invalid character in string literal"}
			}
			j++
		default: // not ASCII: copied as it is
			j++
		}
	}
}

// escByte maps the letter of a one-letter escape to its byte.
var escByte = [256]byte{'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// unescapeOne appends the value of the escape at s[0] == '\\' and returns
// how many bytes of s it took. \u escapes whose hex digits are cut or not
// validated decode to what they hold; a surrogate pair is one character.
func unescapeOne(dst, s []byte) ([]byte, int) {
	if len(s) < 2 {
		return append(dst, s...), len(s)
	}
	switch s[1] {
	case 'b':
		return append(dst, '\b'), 2
	case 'f':
		return append(dst, '\f'), 2
	case 'n':
		return append(dst, '\n'), 2
	case 'r':
		return append(dst, '\r'), 2
	case 't':
		return append(dst, '\t'), 2
	case 'u':
		if len(s) < 6 {
			return append(dst, s...), len(s) // not validated: keep the rest
		}
		r := hex4(s[2:])
		if !utf16IsSurrogate(r) {
			return utf8.AppendRune(dst, r), 6
		}
		if len(s) >= 12 && s[6] == '\\' && s[7] == 'u' && r < 0xdc00 {
			if r2 := hex4(s[8:]); r2 >= 0xdc00 && r2 < 0xe000 {
				return utf8.AppendRune(dst, (r-0xd800)<<10|(r2-0xdc00)+0x10000), 12
			}
		}
		return utf8.AppendRune(dst, utf8.RuneError), 6
	default: // '"', '\\', '/'
		return append(dst, s[1]), 2
	}
}

func utf16IsSurrogate(r rune) bool { return r >= 0xd800 && r < 0xe000 }

// hex4 decodes four hex digits (validated by the scanner).
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		r <<= 4
		switch {
		case c <= '9':
			r |= rune(c - '0')
		case c >= 'a':
			r |= rune(c - 'a' + 10)
		default:
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}
