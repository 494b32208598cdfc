package parse

import (
	"bytes"
	"encoding/binary"
	"math/bits"
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
// than escapes are copied as they are, in runs. It is the one unescaper of the
// project: member names, Forward tags, Docker's json-file "log" values.
func Unescape(dst, s []byte) []byte {
	for {
		k := bytes.IndexByte(s, '\\')
		if k < 0 || k+1 >= len(s) {
			return append(dst, s...)
		}
		dst = append(dst, s[:k]...)
		s = s[k+1:]
		switch s[0] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			if len(s) < 5 {
				return append(dst, s...) // not validated: keep the rest
			}
			r := hex4(s[1:])
			s = s[4:]
			if utf16IsSurrogate(r) {
				r2 := rune(-1)
				if len(s) >= 7 && s[1] == '\\' && s[2] == 'u' {
					r2 = hex4(s[3:])
				}
				if r < 0xdc00 && r2 >= 0xdc00 && r2 < 0xe000 {
					r = (r-0xd800)<<10 | (r2 - 0xdc00) + 0x10000
					s = s[6:]
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, s[0])
		}
		s = s[1:]
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
