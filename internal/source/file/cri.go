package file

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/bits"
	"time"

	"shipper/internal/parse"
)

// CRILine is one parsed line of a CRI log file
// ("<RFC3339Nano time> <stdout|stderr> <P|F>[:tags] <content>").
type CRILine struct {
	Time   int64 // Unix nanoseconds
	Stream Stream
	// Partial is true for a "P" piece: the record continues on a later line
	// of the same stream.
	Partial bool
	// Content is a view into the line passed to ParseCRI.
	Content []byte
}

// ParseCRI parses one CRI log line (without its '\n'). It does not allocate.
//
// The time may have 0 to 9 fraction digits and a 'Z' or numeric offset
// (containerd writes RFC3339Nano in the node's zone, CRI-O 9 digits and
// "+00:00"); it is parsed by parse.ParseTime. The tag field is "P" or "F", optionally followed by ":" and more
// tags, which are ignored. A line that ends right after the tag field, with or
// without the separating space, has empty content. ok is false when the line
// does not have this shape.
func ParseCRI(line []byte) (l CRILine, ok bool) {
	var sp int
	sp, l.Stream, l.Partial, l.Content, ok = parseCRI(line, nil)
	if !ok {
		return CRILine{}, false
	}
	l.Time, _ = parse.ParseTime(line[:sp])
	return l, true
}

// parseCRI is ParseCRI with the time checked through tc (nil: none) but not
// read: it is line[:sp], which parse.ParseTime reads (the time of a line
// whose content has one of its own is not needed). It returns the members
// of a CRILine rather than one: the decoder's copy of a returned CRILine
// read it back wider than it was written, and waited for the stores.
func parseCRI(line []byte, tc *timeCache) (sp int, s Stream, partial bool, content []byte, ok bool) {
	sp, ok = tc.prefix(line)
	if !ok {
		if sp = bytes.IndexByte(line, ' '); sp < 0 {
			return 0, 0, false, nil, false
		}
		if _, ok = tc.parse(line[:sp]); !ok {
			return 0, 0, false, nil, false
		}
	}
	rest := line[sp+1:]
	if len(rest) >= 9 && binary.LittleEndian.Uint64(rest) == stdoutF && rest[8] == ' ' {
		// "stdout F <content>": nearly every line.
		return sp, StreamStdout, false, rest[9:], true
	}
	switch {
	case len(rest) >= 7 && string(rest[:7]) == "stdout ":
		s = StreamStdout
	case len(rest) >= 7 && string(rest[:7]) == "stderr ":
		s = StreamStderr
	default:
		return 0, 0, false, nil, false
	}
	rest = rest[7:]
	if len(rest) == 0 {
		return 0, 0, false, nil, false
	}
	switch rest[0] {
	case 'P':
		partial = true
	case 'F':
	default:
		return 0, 0, false, nil, false
	}
	rest = rest[1:]
	if len(rest) > 0 && rest[0] == ':' {
		// More tags: skip to the separator.
		i := bytes.IndexByte(rest, ' ')
		if i < 0 {
			i = len(rest)
		}
		rest = rest[i:]
	}
	switch {
	case len(rest) == 0:
	case rest[0] == ' ':
		content = rest[1:]
	default:
		return 0, 0, false, nil, false
	}
	return sp, s, partial, content, true
}

// timeCache remembers the date and time to the second, and the zone, of the
// last RFC 3339 timestamp it parsed: the lines of a log file share them for
// runs of many lines, and then only the fraction is left to read. Anything
// else is parsed by parse.ParseTime, whose result it always equals
// (FuzzTimeCache). The zero value is ready; a nil *timeCache parses every
// timestamp with parse.ParseTime.
type timeCache struct {
	key  [dateTimeLen]byte // "2006-01-02T15:04:05"
	zone [6]byte           // as written: "Z", "+00:00", ...
	nz   int
	base int64 // Unix ns of key in zone, fraction 0
	ok   bool
	// spaced: key or zone has a space (prefix cannot be used).
	spaced bool
	// zs is the zone followed by a space as a little-endian word, zsMask
	// its bytes.
	zs, zsMask uint64
}

// stdoutF is "stdout F" as a little-endian word.
var stdoutF = binary.LittleEndian.Uint64([]byte("stdout F"))

// dateTimeLen is the length of "2006-01-02T15:04:05".
const dateTimeLen = 19

var pow10 = [...]int64{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000}

// parse returns the Unix nanoseconds of b, as parse.ParseTime.
func (c *timeCache) parse(b []byte) (int64, bool) {
	if c == nil {
		return parse.ParseTime(b)
	}
	const dt = dateTimeLen
	if c.ok && len(b) > dt+1 && b[dt] == '.' && c.sameSecond(b) {
		var frac int64 // nanoseconds
		var n int
		if cap(b) >= dt+10 {
			frac, n = fraction(b[dt+1 : dt+10 : dt+10])
			if m := len(b) - dt - 1; n > m {
				// Digits past the end of b: not the timestamp's.
				n = m
				frac = frac / pow10[9-n] * pow10[9-n]
			}
		} else {
			for i := dt + 1; i < len(b) && i <= dt+9 && isDigit(b[i]); i++ {
				frac = frac*10 + int64(b[i]-'0')
				n++
			}
			frac *= pow10[9-n]
		}
		if i := dt + 1 + n; n > 0 && (i == len(b) || !isDigit(b[i])) && string(b[i:]) == string(c.zone[:c.nz]) {
			return c.base + frac, true
		}
	}
	t, ok := parse.ParseTime(b)
	if !ok || len(b) <= dt+1 || b[dt] != '.' {
		return t, ok
	}
	// Learn the second and zone of b: its zone is what follows the
	// fraction's digits.
	i := dt + 1
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	zone := b[i:]
	if len(zone) > len(c.zone) {
		return t, ok
	}
	var whole [dt + len(c.zone)]byte
	copy(whole[:], b[:dt])
	nw := dt + copy(whole[dt:], zone)
	if base, bok := parse.ParseTime(whole[:nw]); bok && base <= math.MaxInt64-int64(time.Second) {
		copy(c.key[:], b[:dt])
		c.nz = copy(c.zone[:], zone)
		c.base, c.ok = base, true
		c.spaced = bytes.IndexByte(c.key[:], ' ') >= 0 || bytes.IndexByte(c.zone[:c.nz], ' ') >= 0
		var zs [8]byte
		copy(zs[:], c.zone[:c.nz])
		zs[c.nz] = ' '
		c.zs = binary.LittleEndian.Uint64(zs[:])
		c.zsMask = 1<<(8*(c.nz+1)) - 1
	}
	return t, ok
}

// prefix finds the timestamp that starts line and ends at its first space,
// and checks it as parse on line[:sp] (sp the index of that space) would,
// when it is in the second and zone the cache remembers, without looking
// for the space first and without reading its value (parse gives it). ok is
// false when it is not (then the caller looks for the space and calls
// parse); the cache is not changed.
func (c *timeCache) prefix(line []byte) (sp int, ok bool) {
	const dt = dateTimeLen
	// The fraction's nine bytes and the zone's are read before the space is
	// known to be past them: the line must hold them all.
	if c == nil || !c.ok || len(line) < dt+18 || line[dt] != '.' || !c.sameSecond(line) {
		return 0, false
	}
	n := fractionDigits(line[dt+1 : dt+10])
	i := dt + 1 + n
	// The zone and the space, compared as one word (line[i:] holds eight
	// bytes: i <= dt+10). The zone does not start with a digit, so the
	// digits end at i. No space before i+c.nz: the second and the zone
	// the cache learnt come from a timestamp without one (spaced says).
	if n == 0 || binary.LittleEndian.Uint64(line[i:])&c.zsMask != c.zs || c.spaced {
		return 0, false
	}
	return i + c.nz, true
}

// sameSecond reports whether b starts with the date and time to the second
// that c remembers (len(b) >= dateTimeLen): three eight-byte comparisons.
func (c *timeCache) sameSecond(b []byte) bool {
	_ = b[dateTimeLen-1]
	return binary.LittleEndian.Uint64(b[0:]) == binary.LittleEndian.Uint64(c.key[0:]) &&
		binary.LittleEndian.Uint64(b[8:]) == binary.LittleEndian.Uint64(c.key[8:]) &&
		binary.LittleEndian.Uint64(b[dateTimeLen-8:]) == binary.LittleEndian.Uint64(c.key[dateTimeLen-8:])
}

// fraction reads the leading digits of b (9 bytes, which may run past the
// timestamp: the caller cuts n to it): n of them, at most 9, and their value
// scaled to nine digits (the value of b[:n] times 10^(9-n)), eight bytes at
// once instead of a loop whose end (the number of digits, which varies from
// line to line) the processor cannot foresee.
func fraction(b []byte) (scaled int64, n int) {
	_ = b[8]
	n = fractionDigits8(b)
	if n == 0 {
		return 0, 0
	}
	t := binary.LittleEndian.Uint64(b) ^ '0'*0x0101010101010101 // digits now 0..9
	// The n digits, first one lowest, moved to the top with zeros below
	// them, then summed pairwise: value of the n digits.
	v := t << (64 - 8*n)
	v = (v*10 + v>>8) & 0x00ff00ff00ff00ff
	v = (v*100 + v>>16) & 0x0000ffff0000ffff
	v = (v*10000 + v>>32) & 0xffffffff
	scaled = int64(v) * pow10[8-n] * 10
	if n == 8 && isDigit(b[8]) {
		return scaled + int64(b[8]-'0'), 9
	}
	return scaled, n
}

// fractionDigits returns the n of fraction(b): the number of leading digits
// of b (9 bytes), at most 9.
func fractionDigits(b []byte) int {
	_ = b[8]
	n := fractionDigits8(b)
	if n == 8 && isDigit(b[8]) {
		return 9
	}
	return n
}

// fractionDigits8 returns the number of leading digits of b's first eight
// bytes.
func fractionDigits8(b []byte) int {
	const (
		ones = 0x0101010101010101
		low7 = 0x7f7f7f7f7f7f7f7f
		high = 0x8080808080808080
	)
	t := binary.LittleEndian.Uint64(b) ^ '0'*ones // digits now 0..9
	// The high bit of every byte that is not a digit (no carry between
	// bytes: (t&low7) + (0x80-10) <= 0xf5).
	bad := (t&low7 + (0x80-10)*ones | t) & high
	if bad == 0 {
		return 8
	}
	return bits.TrailingZeros64(bad) >> 3
}
