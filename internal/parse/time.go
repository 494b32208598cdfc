package parse

import (
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"
)

// Unix nanoseconds cover 1677-09-21T00:12:43.145224192Z to
// 2262-04-11T23:47:16.854775807Z; times outside do not parse.
const (
	maxSec     = math.MaxInt64 / 1_000_000_000 // 9223372036
	maxSecNano = math.MaxInt64 % 1_000_000_000 // 854775807
)

// ParseTime parses an RFC 3339 timestamp into Unix nanoseconds without
// allocating. It accepts what time.Parse(time.RFC3339Nano, ...) accepts and
// tolerates a little more, as written by common loggers:
//
//   - 'T', 't' or ' ' between date and time;
//   - a fraction of 1 to 9 digits after '.' or ','; further digits are
//     truncated;
//   - the zone as 'Z', 'z', ±hh:mm, ±hhmm or ±hh; without a zone the time is
//     taken as UTC (as Elasticsearch does).
//
// It reports false for anything else, for impossible dates and for times
// outside the range of int64 nanoseconds (years 1677 to 2262).
func ParseTime(b []byte) (int64, bool) {
	if len(b) < dateTimeLen {
		return 0, false
	}
	base, ok := parseDateTime(b[:dateTimeLen])
	if !ok {
		return 0, false
	}
	return parseTimeRest(base, b[dateTimeLen:], b[dateTimeLen:])
}

// dateTimeLen is the length of "2006-01-02T15:04:05".
const dateTimeLen = 19

// parseDateTime parses "2006-01-02T15:04:05" into Unix seconds.
func parseDateTime(b []byte) (int64, bool) {
	year, ok1 := digits4(b[0:4])
	month, ok2 := digits2(b[5:7])
	day, ok3 := digits2(b[8:10])
	hour, ok4 := digits2(b[11:13])
	minute, ok5 := digits2(b[14:16])
	sec, ok6 := digits2(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		b[4] != '-' || b[7] != '-' || b[13] != ':' || b[16] != ':' ||
		(b[10] != 'T' && b[10] != 't' && b[10] != ' ') {
		return 0, false
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	return daysFromCivil(year, month, day)*86400 + hour*3600 + minute*60 + sec, true
}

// parseTimeRest parses the fraction and zone that follow the date and time
// whose Unix seconds (as if UTC) are base.
// wide is b or b followed by more bytes, the first of them not a digit (the
// closing quote of the string b is in): digits are read from it eight at a
// time.
func parseTimeRest(base int64, b, wide []byte) (int64, bool) {
	i := 0
	var nsec int64
	if i < len(b) && (b[i] == '.' || b[i] == ',') {
		i++
		var v uint64
		var nd, end int
		if len(wide) >= 9 {
			// Up to seven digits (milli- and microseconds) and what
			// follows them in one word, else the general loop.
			v, nd = leadingDigits(binary.LittleEndian.Uint64(wide[1:]))
			end = 1 + nd
		}
		if nd == 0 || nd == 8 {
			v, nd, end = digitRun(wide, i, 9)
		}
		if nd == 0 {
			return 0, false
		}
		nsec, i = int64(v*pow10[9-nd]), end
	}
	var offset int64
	if i < len(b) {
		switch c := b[i]; c {
		case 'Z', 'z':
			i++
		case '+', '-':
			// Go's time.Parse takes offsets up to 24:60, so do we.
			oh, ok := digits2(b[i+1 : min(i+3, len(b))])
			if !ok || oh > 24 {
				return 0, false
			}
			i += 3
			var om int64
			if i < len(b) {
				if b[i] == ':' {
					i++
				}
				if om, ok = digits2(b[i:min(i+2, len(b))]); !ok || om > 60 {
					return 0, false
				}
				i += 2
			}
			offset = (oh*60 + om) * 60
			if c == '-' {
				offset = -offset
			}
		default:
			return 0, false
		}
	}
	if i != len(b) {
		return 0, false
	}
	return secToNano(base-offset, nsec)
}

// secToNano returns s seconds plus nsec (0 <= nsec < 1e9) nanoseconds as Unix
// nanoseconds, and false when that does not fit in an int64.
func secToNano(s, nsec int64) (int64, bool) {
	if s >= 0 {
		if s > maxSec || s == maxSec && nsec > maxSecNano {
			return 0, false
		}
		return s*1e9 + nsec, true
	}
	// (s+1)*1e9 cannot overflow where s*1e9 could.
	s1 := s + 1
	if s1 < -maxSec || s1 == -maxSec && nsec < 1e9-maxSecNano-1 {
		return 0, false
	}
	return s1*1e9 + (nsec - 1e9), true
}

func digits2(b []byte) (int64, bool) {
	if len(b) != 2 || b[0]-'0' > 9 || b[1]-'0' > 9 {
		return 0, false
	}
	return int64(b[0]-'0')*10 + int64(b[1]-'0'), true
}

func digits4(b []byte) (int64, bool) {
	hi, ok1 := digits2(b[0:2])
	lo, ok2 := digits2(b[2:4])
	return hi*100 + lo, ok1 && ok2
}

func isLeap(y int64) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(month, year int64) int64 {
	switch month {
	case 2:
		if isLeap(year) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the number of days from 1970-01-01 to the given
// proleptic Gregorian date (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := floorDiv(y, 400)
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// civilFromDays is the inverse of daysFromCivil.
func civilFromDays(z int64) (y, m, d int64) {
	z += 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	if mp < 10 {
		m = mp + 3
	} else {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// two holds "00" to "99" back to back.
const two = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"404142434445464748495051525354555657585960616263646566676869" +
	"7071727374757677787980818283848586878889909192939495969798" + "99"

// AppendTime appends the Unix nanosecond time t to dst as a quoted RFC 3339
// UTC timestamp with the fraction's trailing zeros trimmed, e.g.
// "2026-11-23T10:00:00.123Z" or "2026-11-23T10:00:00Z".
func AppendTime(dst []byte, t int64) []byte {
	sec := floorDiv(t, 1e9)
	var buf [dateTimeLen + 1]byte
	formatDateTime(&buf, sec)
	dst = append(dst, buf[:]...)
	return appendFracZ(dst, t-sec*1e9)
}

// formatDateTime writes `"2006-01-02T15:04:05` for the Unix seconds sec.
func formatDateTime(buf *[dateTimeLen + 1]byte, sec int64) {
	days := floorDiv(sec, 86400)
	sod := sec - days*86400
	y, m, d := civilFromDays(days)
	hh, mm, ss := sod/3600, sod/60%60, sod%60
	buf[0] = '"'
	buf[1], buf[2] = two[y/100*2], two[y/100*2+1]
	buf[3], buf[4] = two[y%100*2], two[y%100*2+1]
	buf[5] = '-'
	buf[6], buf[7] = two[m*2], two[m*2+1]
	buf[8] = '-'
	buf[9], buf[10] = two[d*2], two[d*2+1]
	buf[11] = 'T'
	buf[12], buf[13] = two[hh*2], two[hh*2+1]
	buf[14] = ':'
	buf[15], buf[16] = two[mm*2], two[mm*2+1]
	buf[17] = ':'
	buf[18], buf[19] = two[ss*2], two[ss*2+1]
}

// appendFracZ appends the fraction for nsec (0 <= nsec < 1e9) without
// trailing zeros, if any, and `Z"`.
func appendFracZ(dst []byte, nsec int64) []byte {
	var f [16]byte
	n := putFracZ(&f, nsec)
	return appendFixed16(dst, &f, n)
}

// putFracZ writes into f[:n] what appendFracZ appends for nsec, and returns
// n (2 to 12); it may write all of f. The nine digits are written whatever
// their value and the trailing zeros found with one count of leading zero
// bits, with no loop and no branch on the digits (a loop over them
// mispredicts on fractions of varying length).
func putFracZ(f *[16]byte, nsec int64) int {
	const zeros = 0x3030303030303030
	v := uint64(nsec)
	d1 := v / 1e8
	z := digits8(v - d1*1e8)
	// '.', digit 1, then digits 2 to 9.
	binary.LittleEndian.PutUint64(f[0:], '.'|('0'+d1)<<8|(z|zeros)<<16)
	binary.LittleEndian.PutUint64(f[8:], (z|zeros)>>48)
	// Digits 2 to 9 as a word, the last one in the top byte: each
	// trailing '0' is a zero byte. Digit 1 is not '0' when they all are,
	// unless nsec is 0.
	n := 10 - bits.LeadingZeros64(z)>>3
	if nsec == 0 {
		n = 0
	}
	binary.LittleEndian.PutUint16(f[n:], 'Z'|'"'<<8)
	return n + 2
}

// digits8 returns the eight decimal digits of v (v < 1e8) as a word of
// byte values 0 to 9, the first digit in the low byte: the number split in
// halves of four digits, each into two pairs, each pair into two digits,
// both halves (then all four pairs) at once in the lanes of one word.
func digits8(v uint64) uint64 {
	hi := v / 10000
	w := hi | (v-hi*10000)<<32 // two lanes of 32 bits, values < 10000
	// x/100 is x*10486>>20 for x < 10000 (x*10486 < 1<<27: the lanes do
	// not reach each other).
	q := w * 10486 >> 20 & 0x0000007f0000007f
	w = q | (w-q*100)<<16 // four lanes of 16 bits, values < 100
	// y/10 is y*103>>10 for y < 100.
	q = w * 103 >> 10 & 0x000f000f000f000f
	return q | (w-q*10)<<8
}

// appendFixed16 appends a[:n] (n <= 16) by storing all sixteen bytes past
// the end of dst and keeping n: a few moves instead of a call to memmove.
func appendFixed16(dst []byte, a *[16]byte, n int) []byte {
	l := len(dst)
	if cap(dst)-l < 16 {
		dst = append(dst, make([]byte, 16)...)
	}
	dst = dst[:l+16]
	*(*[16]byte)(dst[l : l+16]) = *a
	return dst[:l+n]
}

// appendFixed48 is appendFixed16 for up to 48 bytes.
func appendFixed48(dst []byte, a *[48]byte, n int) []byte {
	l := len(dst)
	if cap(dst)-l < 48 {
		dst = append(dst, make([]byte, 48)...)
	}
	dst = dst[:l+48]
	// In blocks of 16: the compiler moves a larger array from one
	// pointer to another (which may overlap) with a call to memmove.
	*(*[16]byte)(dst[l : l+16]) = *(*[16]byte)(a[:16])
	*(*[16]byte)(dst[l+16 : l+32]) = *(*[16]byte)(a[16:32])
	*(*[16]byte)(dst[l+32 : l+48]) = *(*[16]byte)(a[32:])
	return dst[:l+n]
}

// appendFixed32 is appendFixed16 for up to 32 bytes.
func appendFixed32(dst []byte, a *[32]byte, n int) []byte {
	l := len(dst)
	if cap(dst)-l < 32 {
		dst = append(dst, make([]byte, 32)...)
	}
	dst = dst[:l+32]
	// In blocks of 16, as in appendFixed48.
	*(*[16]byte)(dst[l : l+16]) = *(*[16]byte)(a[:16])
	*(*[16]byte)(dst[l+16 : l+32]) = *(*[16]byte)(a[16:])
	return dst[:l+n]
}

// parseEpoch parses b, a JSON number or a string of digits with an optional
// fraction, as a Unix time whose unit is chosen by magnitude: below 1e11
// seconds, below 1e14 milliseconds, below 1e17 microseconds, else
// nanoseconds. A fraction is kept down to the nanosecond.
func parseEpoch(b []byte) (int64, bool) { return parseEpochWide(b, b) }

// parseEpochWide is parseEpoch, with wide as for parseTimeRest.
func parseEpochWide(b, wide []byte) (int64, bool) {
	if len(wide) >= 24 {
		// The usual epochs, seconds with a fraction of up to seven
		// digits (zap) or whole milliseconds (pino), from three words:
		// 8 to 15 digits, then '.' and the fraction or the end of b.
		d0, n0 := leadingDigits(binary.LittleEndian.Uint64(wide))
		d1, n1 := leadingDigits(binary.LittleEndian.Uint64(wide[8:]))
		r := binary.LittleEndian.Uint64(wide[8+n1:])
		f, fd := leadingDigits(r >> 8)
		// Without a '.', no fraction: f and fl (its length with the
		// dot) 0, by a mask.
		dot := int64((r&0xff^'.')-1) >> 63
		f, fl := f&uint64(dot), (fd+1)&int(dot)
		ip := d0*pow10[n1] + d1
		if n0 == 8 && fl != 1 && len(b) == 8+n1+fl {
			if ip < maxSec {
				return int64(ip*1e9 + f*pow10[(10-fl)&15]), true
			}
			if fl == 0 && ip >= 1e11 && ip <= math.MaxInt64/1_000_000 {
				return int64(ip * 1e6), true
			}
		}
	}
	return parseEpochGeneral(b, wide)
}

// parseEpochGeneral is parseEpochWide for any number.
func parseEpochGeneral(b, wide []byte) (int64, bool) {
	i := 0
	neg := i < len(b) && b[i] == '-'
	if neg {
		i++
	}
	ip, n, end := digitRun(wide, i, 18)
	if n == 0 {
		return 0, false
	}
	if end-i > 18 {
		// Up to 18 digits cannot overflow; more are checked one by one.
		ip = 0
		for ; i < len(b) && b[i]-'0' < 10; i++ {
			d := uint64(b[i] - '0')
			if ip > (math.MaxInt64-d)/10 {
				return 0, false
			}
			ip = ip*10 + d
		}
	}
	i = end
	var frac uint64 // the first 18 fraction digits
	fd := 0
	if i < len(b) && b[i] == '.' {
		i++
		frac, fd, end = digitRun(wide, i, 18)
		if fd == 0 {
			return 0, false
		}
		i = end
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		return parseEpochFloat(b)
	}
	if i != len(b) {
		return 0, false
	}
	unit, ud := uint64(1e9), 9 // nanoseconds per unit, fraction digits that matter
	switch {
	case ip < 1e11:
	case ip < 1e14:
		unit, ud = 1e6, 6
	case ip < 1e17:
		unit, ud = 1e3, 3
	default:
		unit, ud = 1, 0
	}
	if ip > math.MaxInt64/unit {
		return 0, false
	}
	for ; fd > ud; fd-- {
		frac /= 10
	}
	for ; fd < ud; fd++ {
		frac *= 10
	}
	ns := ip*unit + frac
	if ns > math.MaxInt64 {
		return 0, false
	}
	if neg {
		return -int64(ns), true
	}
	return int64(ns), true
}

// pow10[k] is 10 to the k.
var pow10 = [...]uint64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}

// digitRun reads the digits at b[i:] and returns the value of the first
// limit (at most 18) of them, how many that is and the index after the
// last digit. Eight bytes are read at a time while b has them: the digits
// of a timestamp vary in number from line to line, and a loop over them
// mispredicts its end.
func digitRun(b []byte, i, limit int) (v uint64, kept, end int) {
	for i+8 <= len(b) {
		w, n := leadingDigits(binary.LittleEndian.Uint64(b[i : i+8]))
		if k := min(n, limit-kept); k < n {
			v = v*pow10[k] + w/pow10[n-k]
			kept = limit
		} else {
			v = v*pow10[n] + w
			kept += n
		}
		i += n
		if n < 8 {
			return v, kept, i
		}
	}
	for ; i < len(b) && b[i]-'0' < 10; i++ {
		if kept < limit {
			v = v*10 + uint64(b[i]-'0')
			kept++
		}
	}
	return v, kept, i
}

// leadingDigits returns the value of the ASCII digits that w starts with
// (w holds eight bytes, the first in its low byte) and their number, 0 to 8.
func leadingDigits(w uint64) (uint64, int) {
	const zeros, high = 0x3030303030303030, 0xf0f0f0f0f0f0f0f0
	// A byte c is a digit when c&0xf0 == 0x30 and (c+6)&0xf0 == 0x30.
	// The +6 carries into the next byte only from a byte above 0xf9,
	// which is not a digit: the first non-digit is found right.
	notDigit := (w&high ^ zeros) | ((w+0x0606060606060606)&high ^ zeros)
	n := bits.TrailingZeros64(notDigit) >> 3
	// The n digits in the top bytes, zeros below them: an eight-digit
	// number with leading zeros, combined in pairs, fours and eights.
	// (For n == 0 the shift is by 64, which leaves 0.)
	d := (w & 0x0f0f0f0f0f0f0f0f) << (64 - 8*n)
	d = (d*10 + d>>8) & 0x00ff00ff00ff00ff
	d = (d*100 + d>>16) & 0x0000ffff0000ffff
	d = (d*10000 + d>>32) & 0xffffffff
	return d, n
}

// parseEpochFloat handles the rare numbers with an exponent, like 1.7e9.
func parseEpochFloat(b []byte) (int64, bool) {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return 0, false
	}
	a := math.Abs(f)
	switch {
	case a < 1e11:
		f *= 1e9
	case a < 1e14:
		f *= 1e6
	case a < 1e17:
		f *= 1e3
	}
	if !(f > -9.2e18 && f < 9.2e18) {
		return 0, false
	}
	return int64(f), true
}

// isEpochString reports whether the JSON string contents s hold an epoch
// time: digits with at most one '.'.
func isEpochString(s []byte) bool {
	if len(s) == 0 {
		return false
	}
	dot := false
	for _, c := range s {
		if c == '.' && !dot {
			dot = true
			continue
		}
		if c-'0' > 9 {
			return false
		}
	}
	return true
}
