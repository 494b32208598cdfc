// Package timefmt parses timestamps with the formats of the Logstash date
// filter: Joda-Time patterns ("dd/MMM/yyyy:HH:mm:ss Z",
// "yyyy-MM-dd HH:mm:ss,SSS", "MMM  d HH:mm:ss") and the named formats
// ISO8601, UNIX, UNIX_MS and TAI64N. A Parser tries its formats in order and
// the first that consumes the whole input wins.
//
// Pattern letters (Joda-Time, English names only):
//
//	yyyy y   year (yy: two digits, 1950-2049)   MM M  month     MMM MMMM month name
//	dd d     day of month                       HH H  hour 0-23  hh h hour 1-12, with a (AM/PM)
//	mm m     minute                             ss s  second     S... fraction of second (1-9 digits)
//	Z ZZ     offset: Z, +01, +0100, +01:00      ZZZ   zone ID (Europe/Paris, UTC)
//	EEE EEEE day name, checked and ignored      'x'   literal text, '' a quote
//
// Any other letter is an error; any other character must match itself.
// Numbers take as many digits as are there (up to the field's maximum),
// except when the next element of the pattern is a number too
// ("yyyyMMdd"): then each takes exactly as many digits as its letters.
//
// A time without an offset or zone is in the Parser's time zone (UTC by
// default). A pattern without a year (syslog's "MMM dd HH:mm:ss") takes the
// current year, except that a December stamp read in January is from last
// year and a January stamp read in December from next year, as Logstash does.
package timefmt

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

type opKind uint8

const (
	opLiteral opKind = iota
	opYear
	opYear2
	opMonth
	opMonthName
	opDay
	opHour
	opHour12
	opAMPM
	opMinute
	opSecond
	opFraction
	opOffset
	opZoneID
	opDayName
)

type op struct {
	kind     opKind
	lit      string
	min, max int // digits of a number; 0 for others
	count    int // pattern letters
}

type format struct {
	name    string
	special int // 0: pattern; else one of the named formats
	ops     []op
	hasYear bool
}

const (
	specialISO8601 = iota + 1
	specialUNIX
	specialUNIXMS
	specialTAI64N
)

// Parser parses timestamps. It is safe for concurrent use.
type Parser struct {
	formats []format
	loc     *time.Location
	now     func() time.Time

	mu    sync.RWMutex
	zones map[string]*time.Location // ZZZ zone IDs seen, bounded by maxZones
}

const maxZones = 64

// Compile returns a Parser that tries formats in order. tz is the IANA name
// of the time zone of times that carry no offset ("" is UTC). The error says
// which format is wrong and at which offset.
func Compile(formats []string, tz string) (*Parser, error) {
	if len(formats) == 0 {
		return nil, errors.New("date formats: none given")
	}
	p := &Parser{loc: time.UTC, now: time.Now, zones: map[string]*time.Location{}}
	if tz != "" {
		loc, err := time.LoadLocation(tz)
		if err != nil {
			return nil, fmt.Errorf("date time zone %q: %w", tz, err)
		}
		p.loc = loc
	}
	for _, s := range formats {
		f, err := compileFormat(s)
		if err != nil {
			return nil, err
		}
		p.formats = append(p.formats, f)
	}
	return p, nil
}

func compileFormat(s string) (format, error) {
	f := format{name: s}
	switch s {
	case "ISO8601":
		f.special = specialISO8601
		return f, nil
	case "UNIX":
		f.special = specialUNIX
		return f, nil
	case "UNIX_MS":
		f.special = specialUNIXMS
		return f, nil
	case "TAI64N":
		f.special = specialTAI64N
		return f, nil
	case "":
		return f, errors.New("date format: empty")
	}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			f.ops = append(f.ops, op{kind: opLiteral, lit: lit.String()})
			lit.Reset()
		}
	}
	seen := map[opKind]bool{}
	for i := 0; i < len(s); {
		c := s[i]
		if c == '\'' {
			if i+1 < len(s) && s[i+1] == '\'' {
				lit.WriteByte('\'')
				i += 2
				continue
			}
			j := i + 1
			for {
				k := strings.IndexByte(s[j:], '\'')
				if k < 0 {
					return f, fmt.Errorf("date format %q: quote at offset %d is not closed", s, i)
				}
				lit.WriteString(s[j : j+k])
				j += k + 1
				if j < len(s) && s[j] == '\'' { // '' inside quotes
					lit.WriteByte('\'')
					j++
					continue
				}
				break
			}
			i = j
			continue
		}
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			lit.WriteByte(c)
			i++
			continue
		}
		n := 1
		for i+n < len(s) && s[i+n] == c {
			n++
		}
		var o op
		switch c {
		case 'y', 'Y', 'u':
			if n == 2 {
				o = op{kind: opYear2, min: 2, max: 2}
			} else {
				o = op{kind: opYear, min: 1, max: 4}
			}
			f.hasYear = true
		case 'M':
			if n >= 3 {
				o = op{kind: opMonthName}
			} else {
				o = op{kind: opMonth, min: 1, max: 2}
			}
		case 'd':
			o = op{kind: opDay, min: 1, max: 2}
		case 'H':
			o = op{kind: opHour, min: 1, max: 2}
		case 'h':
			o = op{kind: opHour12, min: 1, max: 2}
		case 'a':
			o = op{kind: opAMPM}
		case 'm':
			o = op{kind: opMinute, min: 1, max: 2}
		case 's':
			o = op{kind: opSecond, min: 1, max: 2}
		case 'S':
			o = op{kind: opFraction, min: 1, max: 9}
		case 'Z':
			if n >= 3 {
				o = op{kind: opZoneID}
			} else {
				o = op{kind: opOffset}
			}
		case 'E':
			o = op{kind: opDayName}
		default:
			return f, fmt.Errorf("date format %q: pattern letter %q at offset %d is not supported (letters: y M d H h a m s S Z E; quote text with ')", s, c, i)
		}
		if seen[o.kind] && o.kind != opDayName {
			return f, fmt.Errorf("date format %q: field %q at offset %d appears twice", s, s[i:i+n], i)
		}
		seen[o.kind] = true
		flush()
		o.count = n
		f.ops = append(f.ops, o)
		i += n
	}
	flush()
	// Adjacent numbers take exactly as many digits as letters.
	for k := range f.ops {
		o := &f.ops[k]
		if o.max == 0 {
			continue
		}
		if (k > 0 && f.ops[k-1].max > 0) || (k+1 < len(f.ops) && f.ops[k+1].max > 0) {
			o.min, o.max = o.count, o.count
		}
	}
	if seen[opHour12] != seen[opAMPM] {
		return f, fmt.Errorf("date format %q: 12-hour 'h' and AM/PM 'a' go together", s)
	}
	if seen[opHour] && seen[opHour12] {
		return f, fmt.Errorf("date format %q: both 'H' and 'h'", s)
	}
	if len(f.ops) == 0 || (len(f.ops) == 1 && f.ops[0].kind == opLiteral) {
		return f, fmt.Errorf("date format %q: no date or time field", s)
	}
	return f, nil
}

// Parse returns the instant src denotes, in nanoseconds since the Unix
// epoch, and true; or false when no format matches all of src. It does not
// allocate (a ZZZ zone ID is loaded once and cached).
func (p *Parser) Parse(src []byte) (int64, bool) {
	for i := range p.formats {
		if ns, ok := p.parseOne(&p.formats[i], src); ok {
			return ns, true
		}
	}
	return 0, false
}

type fields struct {
	year, month, day, hour, min, sec, nsec int
	pm, ampm                               bool
	offset                                 int // seconds east of UTC
	hasOffset                              bool
	loc                                    *time.Location
}

func (p *Parser) parseOne(f *format, src []byte) (int64, bool) {
	switch f.special {
	case specialISO8601:
		return p.iso8601(src)
	case specialUNIX:
		return unixSeconds(src)
	case specialUNIXMS:
		ms, ok := integer(src, 19)
		if !ok || ms > 9223372036854 || ms < -9223372036854 {
			return 0, false
		}
		return ms * 1e6, true
	case specialTAI64N:
		return tai64n(src)
	}
	v := fields{month: 1, day: 1}
	i := 0
	for k := range f.ops {
		o := &f.ops[k]
		switch o.kind {
		case opLiteral:
			if len(src)-i < len(o.lit) || string(src[i:i+len(o.lit)]) != o.lit {
				return 0, false
			}
			i += len(o.lit)
		case opMonthName:
			m, n := monthName(src[i:])
			if n == 0 {
				return 0, false
			}
			v.month = m
			i += n
		case opDayName:
			n := dayName(src[i:])
			if n == 0 {
				return 0, false
			}
			i += n
		case opAMPM:
			if len(src)-i < 2 || (src[i+1]|0x20) != 'm' {
				return 0, false
			}
			switch src[i] | 0x20 {
			case 'a':
			case 'p':
				v.pm = true
			default:
				return 0, false
			}
			v.ampm = true
			i += 2
		case opOffset:
			off, n, ok := offset(src[i:])
			if !ok {
				return 0, false
			}
			v.offset, v.hasOffset = off, true
			i += n
		case opZoneID:
			j := i
			for j < len(src) && (isAlnum(src[j]) || src[j] == '/' || src[j] == '_' || src[j] == '-' || src[j] == '+') {
				j++
			}
			loc := p.zone(src[i:j])
			if loc == nil {
				return 0, false
			}
			v.loc = loc
			i = j
		default:
			j := i
			for j < len(src) && j-i < o.max && src[j] >= '0' && src[j] <= '9' {
				j++
			}
			if j-i < o.min {
				return 0, false
			}
			n := 0
			for _, c := range src[i:j] {
				n = n*10 + int(c-'0')
			}
			switch o.kind {
			case opYear:
				v.year = n
			case opYear2:
				if n < 50 {
					v.year = 2000 + n
				} else {
					v.year = 1900 + n
				}
			case opMonth:
				v.month = n
			case opDay:
				v.day = n
			case opHour, opHour12:
				v.hour = n
			case opMinute:
				v.min = n
			case opSecond:
				v.sec = n
			case opFraction:
				for d := j - i; d < 9; d++ {
					n *= 10
				}
				v.nsec = n
			}
			i = j
		}
	}
	if i != len(src) {
		return 0, false
	}
	if v.ampm {
		if v.hour < 1 || v.hour > 12 {
			return 0, false
		}
		v.hour %= 12
		if v.pm {
			v.hour += 12
		}
	}
	if !f.hasYear {
		now := p.now().In(p.loc)
		v.year = now.Year()
		switch {
		case now.Month() == time.January && v.month == 12:
			v.year--
		case now.Month() == time.December && v.month == 1:
			v.year++
		}
	}
	return v.unixNano(p.loc)
}

func (v *fields) unixNano(def *time.Location) (int64, bool) {
	if v.month < 1 || v.month > 12 || v.day < 1 || v.day > daysIn(v.month, v.year) ||
		v.hour > 23 || v.min > 59 || v.sec > 59 {
		return 0, false
	}
	loc := def
	if v.hasOffset {
		loc = time.UTC
	} else if v.loc != nil {
		loc = v.loc
	}
	t := time.Date(v.year, time.Month(v.month), v.day, v.hour, v.min, v.sec, v.nsec, loc)
	ns := t.UnixNano()
	if v.hasOffset {
		ns -= int64(v.offset) * 1e9
	}
	return ns, true
}

func daysIn(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func (p *Parser) zone(name []byte) *time.Location {
	if len(name) == 0 {
		return nil
	}
	p.mu.RLock()
	loc, ok := p.zones[string(name)]
	p.mu.RUnlock()
	if ok {
		return loc
	}
	loc, err := time.LoadLocation(string(name))
	if err != nil {
		loc = nil
	}
	p.mu.Lock()
	if len(p.zones) < maxZones {
		p.zones[string(name)] = loc // unknown names too: junk input does not reload
	}
	p.mu.Unlock()
	return loc
}

var months = [12]string{"january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"}

// monthName reads an English month name, full or abbreviated to three
// letters, in any case; it returns the month and the bytes read.
func monthName(b []byte) (int, int) {
	if len(b) < 3 {
		return 0, 0
	}
	for m, name := range months {
		if lower(b[0]) != name[0] || lower(b[1]) != name[1] || lower(b[2]) != name[2] {
			continue
		}
		if len(b) >= len(name) && equalFold(b[:len(name)], name) {
			return m + 1, len(name)
		}
		return m + 1, 3
	}
	return 0, 0
}

var days = [7]string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}

func dayName(b []byte) int {
	if len(b) < 3 {
		return 0
	}
	for _, name := range days {
		if lower(b[0]) != name[0] || lower(b[1]) != name[1] || lower(b[2]) != name[2] {
			continue
		}
		if len(b) >= len(name) && equalFold(b[:len(name)], name) {
			return len(name)
		}
		return 3
	}
	return 0
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 32
	}
	return c
}

func equalFold(b []byte, s string) bool {
	for i := range b {
		if lower(b[i]) != s[i] {
			return false
		}
	}
	return true
}

// offset reads Z, ±hh, ±hhmm or ±hh:mm.
func offset(b []byte) (int, int, bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	if b[0] == 'Z' {
		return 0, 1, true
	}
	if b[0] != '+' && b[0] != '-' {
		return 0, 0, false
	}
	d := func(i int) int {
		if i < len(b) && b[i] >= '0' && b[i] <= '9' {
			return int(b[i] - '0')
		}
		return -1
	}
	h1, h2 := d(1), d(2)
	if h1 < 0 || h2 < 0 {
		return 0, 0, false
	}
	h, m, n := h1*10+h2, 0, 3
	i := 3
	if i < len(b) && b[i] == ':' {
		i++
	}
	if m1, m2 := d(i), d(i+1); m1 >= 0 && m2 >= 0 {
		m, n = m1*10+m2, i+2
	}
	if h > 18 || m > 59 {
		return 0, 0, false
	}
	s := (h*60 + m) * 60
	if b[0] == '-' {
		s = -s
	}
	return s, n, true
}

// iso8601 reads yyyy-MM-dd, optionally followed by T or a space and
// HH:mm[:ss[.fraction]] and an offset, as Logstash's ISO8601 does.
func (p *Parser) iso8601(b []byte) (int64, bool) {
	v := fields{}
	num := func(i, n int) (int, bool) {
		if len(b) < i+n {
			return 0, false
		}
		x := 0
		for _, c := range b[i : i+n] {
			if c < '0' || c > '9' {
				return 0, false
			}
			x = x*10 + int(c-'0')
		}
		return x, true
	}
	var ok bool
	if v.year, ok = num(0, 4); !ok || len(b) < 10 || b[4] != '-' || b[7] != '-' {
		return 0, false
	}
	if v.month, ok = num(5, 2); !ok {
		return 0, false
	}
	if v.day, ok = num(8, 2); !ok {
		return 0, false
	}
	i := 10
	if i < len(b) {
		if b[i] != 'T' && b[i] != ' ' {
			return 0, false
		}
		if v.hour, ok = num(i+1, 2); !ok || len(b) < i+6 || b[i+3] != ':' {
			return 0, false
		}
		if v.min, ok = num(i+4, 2); !ok {
			return 0, false
		}
		i += 6
		if i < len(b) && b[i] == ':' {
			if v.sec, ok = num(i+1, 2); !ok {
				return 0, false
			}
			i += 3
			if i < len(b) && (b[i] == '.' || b[i] == ',') {
				j := i + 1
				n, d := 0, 0
				for j < len(b) && b[j] >= '0' && b[j] <= '9' {
					if d < 9 {
						n = n*10 + int(b[j]-'0')
						d++
					}
					j++
				}
				if d == 0 {
					return 0, false
				}
				for ; d < 9; d++ {
					n *= 10
				}
				v.nsec = n
				i = j
			}
		}
		if i < len(b) {
			off, n, ok := offset(b[i:])
			if !ok || i+n != len(b) {
				return 0, false
			}
			v.offset, v.hasOffset = off, true
		}
	}
	return v.unixNano(p.loc)
}

// integer reads an optionally signed decimal integer of at most maxDigits.
func integer(b []byte, maxDigits int) (int64, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	if len(b) == 0 || len(b) > maxDigits {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// unixSeconds reads seconds since the epoch with an optional fraction
// ("1326149001.132").
func unixSeconds(b []byte) (int64, bool) {
	dot := len(b)
	for i, c := range b {
		if c == '.' {
			dot = i
			break
		}
	}
	s, ok := integer(b[:dot], 12)
	if !ok {
		return 0, false
	}
	var ns int64
	if dot < len(b) {
		frac := b[dot+1:]
		if len(frac) == 0 {
			return 0, false
		}
		d := 0
		for _, c := range frac {
			if c < '0' || c > '9' {
				return 0, false
			}
			if d < 9 {
				ns = ns*10 + int64(c-'0')
				d++
			}
		}
		for ; d < 9; d++ {
			ns *= 10
		}
	}
	if len(b) > 0 && b[0] == '-' {
		return s*1e9 - ns, true
	}
	return s*1e9 + ns, true
}

// tai64n reads a TAI64N label ("@4000000052f88ea32489532c"): 16 hex digits
// of 2^62 + TAI seconds, 8 of nanoseconds. Like Logstash, it takes TAI as
// UTC + 10 s.
func tai64n(b []byte) (int64, bool) {
	if len(b) > 0 && b[0] == '@' {
		b = b[1:]
	}
	if len(b) != 24 {
		return 0, false
	}
	var secs, nanos uint64
	for i, c := range b {
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		case c >= 'A' && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			return 0, false
		}
		if i < 16 {
			secs = secs<<4 | d
		} else {
			nanos = nanos<<4 | d
		}
	}
	const base = 1 << 62
	if secs < base || nanos >= 1e9 {
		return 0, false
	}
	s := int64(secs-base) - 10
	if s > 9e9 {
		return 0, false
	}
	return s*1e9 + int64(nanos), true
}
