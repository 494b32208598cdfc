package parse

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		got, ok := ParseTime([]byte(in))
		if want == "" {
			if ok {
				t.Fatalf("ParseTime(%q) = %d, want failure", in, got)
			}
			return
		}
		w, err := time.Parse(time.RFC3339Nano, want)
		if err != nil {
			t.Fatal(err)
		}
		if !ok || got != w.UnixNano() {
			t.Fatalf("ParseTime(%q) = %d, %t; want %s (%d)", in, got, ok, want, w.UnixNano())
		}
	}
	f("2026-11-23T10:00:00Z", "2026-11-23T10:00:00Z")
	f("2026-11-23T10:00:00.123456789Z", "2026-11-23T10:00:00.123456789Z")
	f("2026-11-23T10:00:00.1Z", "2026-11-23T10:00:00.1Z")
	f("2026-11-23T10:00:00.1234567899999Z", "2026-11-23T10:00:00.123456789Z")
	f("2026-11-23T11:30:00+01:30", "2026-11-23T10:00:00Z")
	f("2026-11-23T03:00:00-0700", "2026-11-23T10:00:00Z")
	f("2026-11-23T12:00:00+02", "2026-11-23T10:00:00Z")
	f("2026-11-23 10:00:00", "2026-11-23T10:00:00Z")
	f("2026-11-23t10:00:00,5z", "2026-11-23T10:00:00.5Z")
	f("2024-02-29T00:00:00Z", "2024-02-29T00:00:00Z")
	f("2000-02-29T00:00:00Z", "2000-02-29T00:00:00Z")
	f("1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z")
	f("1969-12-31T23:59:59.999999999Z", "1969-12-31T23:59:59.999999999Z")
	f("1677-09-21T00:12:43.145224192Z", "1677-09-21T00:12:43.145224192Z")
	f("2262-04-11T23:47:16.854775807Z", "2262-04-11T23:47:16.854775807Z")
	f("2026-01-01T00:30:00+24:00", "2025-12-31T00:30:00Z") // as time.Parse does

	for _, bad := range []string{
		"", "2026-11-23", "2026-11-23T10:00", "2026-11-23T10:00:00.", "2026-11-23T10:00:00.Z",
		"2026-11-23T10:00:00ZZ", "2026-11-23T10:00:00+1", "2026-11-23T10:00:00+01:", "2026-11-23T10:00:00+01:0",
		"2026-11-23T10:00:00 +01:00", "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-02-29T00:00:00Z",
		"1900-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-11-23T24:00:00Z", "2026-11-23T10:60:00Z",
		"2026-11-23T10:00:60Z", "2026-11-23X10:00:00Z", "2026/11/23T10:00:00Z", "+026-11-23T10:00:00Z",
		"2026-11-23T10:00:00+25:00", "2026-11-23T10:00:00+01:61", "1677-09-21T00:12:43.145224191Z",
		"2262-04-11T23:47:16.854775808Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "２026-11-23T10:00:00Z",
	} {
		f(bad, "")
	}
}

func TestAppendTime(t *testing.T) {
	f := func(ns int64, want string) {
		t.Helper()
		if got := string(AppendTime([]byte("x"), ns)); got != "x"+want {
			t.Fatalf("AppendTime(%d) = %s, want %s", ns, got[1:], want)
		}
	}
	f(0, `"1970-01-01T00:00:00Z"`)
	f(1795428000123000000, `"2026-11-23T10:00:00.123Z"`)
	f(1795428000123456789, `"2026-11-23T10:00:00.123456789Z"`)
	f(1795428000000000001, `"2026-11-23T10:00:00.000000001Z"`)
	f(1795428000100000000, `"2026-11-23T10:00:00.1Z"`)
	f(-1, `"1969-12-31T23:59:59.999999999Z"`)
	f(951782400000000000, `"2000-02-29T00:00:00Z"`)
	f(-9223372036854775808, `"1677-09-21T00:12:43.145224192Z"`)
	f(9223372036854775807, `"2262-04-11T23:47:16.854775807Z"`)
}

// TestAppendFracZ compares the fractions of appendFracZ and of the
// Parser's timestamps with time.Time's formatting, for every count of
// trailing zeros and digits of every value.
func TestAppendFracZ(t *testing.T) {
	p := newTestParser("")
	check := func(nsec int64) {
		t.Helper()
		want := time.Unix(0, nsec).UTC().Format(".999999999Z") + `"`
		if got := string(appendFracZ([]byte("x"), nsec)); got != "x"+want {
			t.Fatalf("appendFracZ(%d) = %s, want %s", nsec, got[1:], want)
		}
		head := `{"@timestamp":"2026-11-23T10:00:00`
		if got := string(p.appendTimestamp([]byte("x"), lineTime+nsec)); got != "x"+head+want {
			t.Fatalf("appendTimestamp(%d) = %s, want %s", lineTime+nsec, got[1:], head+want)
		}
	}
	for digit := int64(0); digit < 10; digit++ {
		for pow := int64(1); pow < 1e9; pow *= 10 {
			check(digit * pow)
			check(123456789 / pow * pow)
			check(999999999 / pow * pow)
			if digit*pow+pow/10 < 1e9 {
				check(digit*pow + pow/10)
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		check(r.Int64N(1e9))
	}
}

func TestParseEpoch(t *testing.T) {
	f := func(in string, want int64, wantOK bool) {
		t.Helper()
		got, ok := parseEpoch([]byte(in))
		if ok != wantOK || ok && got != want {
			t.Fatalf("parseEpoch(%q) = %d, %t; want %d, %t", in, got, ok, want, wantOK)
		}
	}
	f("0", 0, true)
	f("1700000000", 1700000000e9, true)
	f("99999999999", 0, false)              // < 1e11: seconds, beyond 2262
	f("100000000000", 100000000000e6, true) // >= 1e11: milliseconds
	f("1700000000.5", 1700000000500000000, true)
	f("1700000000123", 1700000000123e6, true)
	f("1700000000123.456789", 1700000000123456789, true)
	f("1700000000123456", 1700000000123456e3, true)
	f("1700000000123456.7", 1700000000123456700, true)
	f("1700000000123456789", 1700000000123456789, true)
	f("9223372036854775807", 9223372036854775807, true)
	f("9223372036854775808", 0, false)
	f("99999999999999999999", 0, false)
	f("9300000000", 0, false) // seconds beyond 2262
	f("-1700000000", -1700000000e9, true)
	f("1.7e9", 1700000000e9, true)
	f("1.7E12", 1700000000e9, true)
	f("1e30", 0, false)
	f("", 0, false)
	f("-", 0, false)
	f(".5", 0, false)
	f("1.", 0, false)
	f("1x", 0, false)
}

// TestLeadingDigits compares leadingDigits and digitRun with a loop over
// the bytes, on words of digits and the bytes next to them ('/', ':') or
// that carry when 6 is added (0xfa to 0xff).
func TestLeadingDigits(t *testing.T) {
	chars := []byte("0123456789/:.Z\"\x00\xfa\xff")
	r := rand.New(rand.NewPCG(5, 6))
	var b [24]byte
	for range 200000 {
		for k := range b {
			if r.IntN(4) == 0 {
				b[k] = chars[r.IntN(len(chars))]
			} else {
				b[k] = '0' + byte(r.IntN(10))
			}
		}
		var want uint64
		n := 0
		for n < 8 && b[n]-'0' < 10 {
			want = want*10 + uint64(b[n]-'0')
			n++
		}
		if got, gn := leadingDigits(binary.LittleEndian.Uint64(b[:])); got != want || gn != n {
			t.Fatalf("leadingDigits(%q) = %d, %d, want %d, %d", b[:8], got, gn, want, n)
		}
		limit := r.IntN(19)
		from := r.IntN(4)
		var wv uint64
		wk, end := 0, from
		for ; end < len(b) && b[end]-'0' < 10; end++ {
			if wk < limit {
				wv = wv*10 + uint64(b[end]-'0')
				wk++
			}
		}
		if v, kept, e := digitRun(b[:], from, limit); v != wv || kept != wk || e != end {
			t.Fatalf("digitRun(%q, %d, %d) = %d, %d, %d, want %d, %d, %d", b[:], from, limit, v, kept, e, wv, wk, end)
		}
	}
}

// TestDigits8 checks digits8 against the digits formatted one by one, for
// every value with each count of trailing zeros and around the carries.
func TestDigits8(t *testing.T) {
	f := func(v uint64) {
		t.Helper()
		var want uint64
		for i, x := 0, v; i < 8; i++ {
			want |= (x % 10) << (8 * (7 - i))
			x /= 10
		}
		if got := digits8(v); got != want {
			t.Fatalf("digits8(%d) = %#x, want %#x", v, got, want)
		}
	}
	for v := uint64(0); v < 1e8; v += 1 + v%997 {
		f(v)
	}
	for k, p := 0, uint64(1); k < 8; k, p = k+1, p*10 {
		for d := uint64(0); d < 1000; d++ {
			f(d * p % 1e8)
			f((1e8 - 1 - d) / p * p)
		}
	}
	f(99999999)
	f(10000000)
	f(9999)
	f(10000)
}

// TestTimestampDateCache: lines whose timestamps share seconds in different
// zones, in any order, through one Parser, get the @timestamp a new Parser
// gives each alone.
func TestTimestampDateCache(t *testing.T) {
	stamps := []string{
		"2026-11-23T10:00:00.5Z", "2026-11-23T11:00:00.25+01:00", "2026-11-23T10:00:00.125Z",
		"2026-11-23T12:00:00+02:00", "2026-11-23T11:00:01+01:00", "2026-11-23T10:00:01.1Z",
		"2026-11-23T11:00:00,5+0100", "2026-11-23 10:00:00.75", "2026-11-23T10:00:00.1z",
		"2026-11-23T13:00:00.9+03:00", "2026-11-23T12:00:00.9+02:00", "2026-11-24T10:00:00Z",
		"2026-11-23T10:00:00.x", "2026-11-23T10:00:00.123456789123Z", "20261123100000123456",
		"2026-11-23T10:00:00.5Q", "2026-11-23T10:00:00.5+01:00", "2026-11-23T10:00:00.5-01:00",
	}
	p := newTestParser("")
	r := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		line := []byte(`{"time":"` + stamps[r.IntN(len(stamps))] + `","msg":"m"}`)
		got, _ := p.Append(nil, &Line{Data: line, Time: lineTime})
		want, _ := newTestParser("").Append(nil, &Line{Data: line, Time: lineTime})
		if !bytes.Equal(got, want) {
			t.Fatalf("%s:\ngot  %s\nwant %s", line, got, want)
		}
	}
}

// TestTimestampRest: the parts after the date and time (fractions of 0 to
// 10 digits, zones, garbage), after dates at the ends of the range and
// around leap days, at the end of a line and before more members, in random
// order through one Parser (the cached date and time hit or miss), give the
// @timestamp of ParseTime, or the line's time when that fails or is
// negative.
func TestTimestampRest(t *testing.T) {
	dates := []string{
		"2026-11-23T10:00:00", "2026-11-23T11:00:00", "2024-02-29T23:59:59", "2023-02-29T00:00:00",
		"2000-02-29T12:00:00", "1900-02-29T12:00:00", "1970-01-01T00:00:00", "1969-12-31T23:59:59",
		"2262-04-11T23:47:16", "2262-04-11T23:47:15", "2262-04-11T23:47:17", "1677-09-21T00:12:43",
		"2026-12-31T23:59:59", "2027-01-01T00:00:00",
	}
	rests := []string{
		"Z", "z", "", ".Z", ".000000Z", ".0000000Z", ",5Z", ".5", ".12+01:00", "+01:00", "-01:00",
		"+0100", "+01", "+24:60", "+25:00", "Zx", ".12Z0", ".1a2Z", ". Z", ".12 ", "ZZ", ".854775807Z",
		".854775808Z", "+00:01", "-00:01", "+01:61", "+0a:00", "-24:00", "-24:60", "+01:0x", "+01-00", "+01:00x",
		"-23:59",
	}
	for n := 1; n <= 10; n++ {
		rests = append(rests, "."+"1234567890"[:n]+"Z", "."+"9999999999"[:n]+"Z", "."+"0000000001"[10-n:]+"Z")
	}
	p := newTestParser("")
	r := rand.New(rand.NewPCG(5, 6))
	for range 20000 {
		stamp := dates[r.IntN(len(dates))] + rests[r.IntN(len(rests))]
		line := `{"time":"` + stamp + `"}`
		if r.IntN(2) == 0 {
			line = `{"time":"` + stamp + `","msg":"m","pad":"0123456789abcdef"}`
		}
		want, ok := ParseTime([]byte(stamp))
		if !ok || want < 0 {
			want = lineTime
		}
		got, _ := p.Append(nil, &Line{Data: []byte(line), Time: lineTime})
		head := string(AppendTime([]byte(`{"@timestamp":`), want))
		if !bytes.HasPrefix(got, []byte(head)) {
			t.Fatalf("%s:\ngot  %s\nwant %s...", line, got, head)
		}
	}
}

// TestAppendLevel: string levels of 0 to 18 bytes in any case, with bytes
// from 0x80 and escapes, at the end of the line and before more bytes,
// appended to slices with and without room, come out lower-cased
// (ASCII letters only), quotes and all.
func TestAppendLevel(t *testing.T) {
	vals := []string{"", "i", "INFO", "Info", "debug", "WARNING", "Error", "fatal", "TRACE", "notice",
		"emerg", "Émergence", `W\u00C9ARN`, "ABCDEFGHIJKLMN", "ABCDEFGHIJKLMNO", "ABCDEFGHIJKLMNOP",
		"@[`{AZaz", "\x80A\xffZ", "AbCdEfGhIjKlMnOpQ"}
	for _, val := range vals {
		low := []byte(val)
		for i, c := range low {
			if c >= 'A' && c <= 'Z' {
				low[i] = c + 'a' - 'A'
			}
		}
		want := `"` + string(low) + `"`
		for _, tail := range []string{"}", `,"msg":"a long enough message"}`} {
			s := []byte(`{"level":"` + val + `"` + tail)
			m := &member{ks: 1, ke: 8, vs: 9, ve: int32(11 + len(val)), kind: kindString}
			for _, dst := range [][]byte{nil, []byte("x"), make([]byte, 3, 8), make([]byte, 5, 100)} {
				pre := string(dst)
				got := appendLevel(dst, s, m, false)
				if string(got) != pre+want {
					t.Fatalf("appendLevel(%q, %s) = %q, want %q", pre, s, got, pre+want)
				}
			}
		}
	}
}

// TestAppendTimestampSign: appendTimestamp formats times before 1970 (the
// seconds rounded down) and around the ends of int64 as AppendTime does,
// through one Parser whose cached second changes each time.
func TestAppendTimestampSign(t *testing.T) {
	p := newTestParser("")
	for _, ns := range []int64{0, 1, -1, 999999999, 1e9, -1e9, -1e9 + 1, -1e9 - 1, -86400e9, -86400e9 - 1,
		lineTime, -lineTime, math.MaxInt64, math.MinInt64, math.MinInt64 + 1e9, 1, -1} {
		want := `{"@timestamp":` + string(AppendTime(nil, ns))
		if got := string(p.appendTimestamp(nil, ns)); got != want {
			t.Fatalf("appendTimestamp(%d) = %s, want %s", ns, got, want)
		}
	}
}

// TestParseEpochWide: epochs of 1 to 20 digits with fractions of 0 to 10
// digits, signs, exponents and garbage, followed by bytes of several
// lengths, parse as the general loop parses them alone.
func TestParseEpochWide(t *testing.T) {
	ints := []string{"", "0", "1", "-1", "12345678", "99999999", "179542800", "1795428000", "9223372035",
		"9223372036", "9223372037", "99999999999", "100000000000", "1795428000002", "9223372036854",
		"9223372036855", "99999999999999", "179542800000056", "1795428000000567", "1795428000000567891",
		"9223372036854775807", "9223372036854775808", "17954280000005678912", "-1795428000", "+1795428000"}
	fracs := []string{"", ".", ".0", ".5", ".05", ".000567", ".0005678", ".00056789", ".123456789",
		".1234567891", ".9", ".8547758", ".8547757", "e3", ".5e3", "x", ".5x", "..5", ".-5", ".12345678"}
	tails := []string{"", "}", `,"a":1}`, `,"logger":"payments","caller":"x"}`, `","msg":"a message of some length"}`,
		`.5,"a":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}`, `x`, `e5,"a":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}`}
	for _, ip := range ints {
		for _, fr := range fracs {
			b := ip + fr
			want, wantOK := parseEpochGeneral([]byte(b), []byte(b))
			for _, tail := range tails {
				got, ok := parseEpochWide([]byte(b), []byte(b+tail))
				if ok != wantOK || got != want {
					t.Fatalf("parseEpochWide(%q, +%q) = %d, %t; want %d, %t", b, tail, got, ok, want, wantOK)
				}
			}
		}
	}
}

func FuzzParseEpochWide(f *testing.F) {
	f.Add("1795428000.000567", `,"logger":"payments","caller":"x"}`)
	f.Add("1795428000002", `,"pid":29,"hostname":"shipping"}`)
	f.Add("9223372036854", `}                                   `)
	f.Fuzz(func(t *testing.T, b, tail string) {
		if tail != "" && tail[0]-'0' < 10 {
			tail = "}" + tail // wide's first byte after b is not a digit
		}
		want, wantOK := parseEpochGeneral([]byte(b), []byte(b))
		got, ok := parseEpochWide([]byte(b), []byte(b+tail))
		if ok != wantOK || got != want {
			t.Fatalf("parseEpochWide(%q, +%q) = %d, %t; want %d, %t", b, tail, got, ok, want, wantOK)
		}
	})
}
