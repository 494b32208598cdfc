package timefmt

import (
	"strings"
	"testing"
	"time"
)

func mustCompile(t testing.TB, formats []string, tz string) *Parser {
	t.Helper()
	p, err := Compile(formats, tz)
	if err != nil {
		t.Fatalf("Compile(%q, %q): %v", formats, tz, err)
	}
	return p
}

func TestParse(t *testing.T) {
	f := func(format, tz, in, want string) {
		t.Helper()
		p := mustCompile(t, []string{format}, tz)
		ns, ok := p.Parse([]byte(in))
		got := "NO MATCH"
		if ok {
			got = time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
		}
		if got != want {
			t.Errorf("Parse(%q) with %q in %q: got %s; want %s", in, format, tz, got, want)
		}
	}
	// Examples of the Logstash date filter documentation and common logs.
	f("dd/MMM/yyyy:HH:mm:ss Z", "", "10/Oct/2000:13:55:36 -0700", "2000-10-10T20:55:36Z")
	f("dd/MMM/yyyy:HH:mm:ss Z", "", "03/Dec/2026:12:36:28 +0000", "2026-12-03T12:36:28Z")
	f("ISO8601", "", "2011-04-19T03:44:01.103Z", "2011-04-19T03:44:01.103Z")
	f("ISO8601", "", "2011-04-19 03:44:01,103", "2011-04-19T03:44:01.103Z")
	f("ISO8601", "", "2011-04-19T03:44:01.123456789+02:00", "2011-04-19T01:44:01.123456789Z")
	f("ISO8601", "", "2011-04-19T03:44:01+0200", "2011-04-19T01:44:01Z")
	f("ISO8601", "", "2011-04-19T03:44Z", "2011-04-19T03:44:00Z")
	f("ISO8601", "", "2011-04-19", "2011-04-19T00:00:00Z")
	f("ISO8601", "Europe/Paris", "2011-04-19T03:44:01", "2011-04-19T01:44:01Z")
	f("ISO8601", "", "2011-04-19T03:44:01.", "NO MATCH")
	f("ISO8601", "", "2011-04-19T03:44:01Zjunk", "NO MATCH")
	f("ISO8601", "", "2011-02-29T03:44:01Z", "NO MATCH")
	f("UNIX", "", "1326149001.132", "2012-01-09T22:43:21.132Z")
	f("UNIX", "", "1326149001", "2012-01-09T22:43:21Z")
	f("UNIX", "", "-1.5", "1969-12-31T23:59:58.5Z")
	f("UNIX", "", "13261490x1", "NO MATCH")
	f("UNIX_MS", "", "1366125117000", "2013-04-16T15:11:57Z")
	f("UNIX_MS", "", "1366125117000.5", "NO MATCH")
	f("TAI64N", "", "@4000000052f88ea32489532c", "2014-02-10T08:32:25.6129795Z")
	f("TAI64N", "", "4000000052f88ea32489532c", "2014-02-10T08:32:25.6129795Z")
	f("TAI64N", "", "@4000000052f88ea3248953", "NO MATCH")
	f("yyyy-MM-dd HH:mm:ss,SSS", "", "2026-12-03 12:36:28,512", "2026-12-03T12:36:28.512Z")
	f("yyyy-MM-dd HH:mm:ss.SSS", "", "2026-12-03 12:36:28.5", "2026-12-03T12:36:28.5Z")
	f("yyyy-MM-dd HH:mm:ss.SSS", "", "2026-12-03 12:36:28.123456", "2026-12-03T12:36:28.123456Z")
	f("yyyy-MM-dd HH:mm:ss", "Europe/Berlin", "2026-12-03 12:36:28", "2026-12-03T11:36:28Z")
	f("yyyy-MM-dd HH:mm:ss", "America/New_York", "2026-07-03 12:36:28", "2026-07-03T16:36:28Z") // summer time
	f("yyyy-MM-dd HH:mm:ss ZZZ", "", "2026-12-03 12:36:28 America/New_York", "2026-12-03T17:36:28Z")
	f("yyyy-MM-dd HH:mm:ss ZZZ", "", "2026-12-03 12:36:28 UTC", "2026-12-03T12:36:28Z")
	f("yyyy-MM-dd HH:mm:ss ZZZ", "", "2026-12-03 12:36:28 Nowhere/Land", "NO MATCH")
	f("yyyy-MM-dd'T'HH:mm:ssZZ", "", "2026-12-03T12:36:28+05:30", "2026-12-03T07:06:28Z")
	f("EEE, dd MMM yyyy HH:mm:ss Z", "", "Thu, 03 Dec 2026 12:36:28 +0000", "2026-12-03T12:36:28Z")
	f("EEEE, MMMM d, yyyy h:mm a", "", "Thursday, December 3, 2026 1:36 PM", "2026-12-03T13:36:00Z")
	f("MM/dd/yyyy hh:mm:ss a", "", "12/03/2026 12:36:28 AM", "2026-12-03T00:36:28Z")
	f("MM/dd/yyyy hh:mm:ss a", "", "12/03/2026 13:36:28 PM", "NO MATCH")
	f("yyyyMMddHHmmss", "", "20261203123628", "2026-12-03T12:36:28Z")
	f("yyyyMMddHHmmss", "", "2026120312362", "NO MATCH")
	f("yyMMdd HH:mm:ss", "", "261203 12:36:28", "2026-12-03T12:36:28Z") // MySQL
	f("yy-MM-dd", "", "75-01-02", "1975-01-02T00:00:00Z")
	f("dd.MM.yyyy", "", "3.12.2026", "2026-12-03T00:00:00Z")
	f("'day' d 'of' MMM yyyy", "", "day 3 of dec 2026", "2026-12-03T00:00:00Z")
	f("yyyy-MM-dd'T'HH:mm:ss''", "", "2026-12-03T12:36:28'", "2026-12-03T12:36:28Z")
	// Strict: all of the input, valid ranges.
	f("yyyy-MM-dd HH:mm:ss", "", "2026-12-03 12:36:28 trailing", "NO MATCH")
	f("yyyy-MM-dd HH:mm:ss", "", "2026-12-03 24:00:00", "NO MATCH")
	f("yyyy-MM-dd HH:mm:ss", "", "2026-13-03 12:00:00", "NO MATCH")
	f("yyyy-MM-dd HH:mm:ss", "", "2026-02-29 12:00:00", "NO MATCH")
	f("yyyy-MM-dd HH:mm:ss", "", "2028-02-29 12:00:00", "2028-02-29T12:00:00Z")
	f("yyyy-MM-dd HH:mm:ss", "", "", "NO MATCH")
	f("dd/MMM/yyyy:HH:mm:ss Z", "", "10/Foo/2000:13:55:36 -0700", "NO MATCH")
}

// TestYearInference: patterns without a year take the year of now, with the
// Logstash rule for stamps around new year.
func TestYearInference(t *testing.T) {
	f := func(now, in, want string) {
		t.Helper()
		p := mustCompile(t, []string{"MMM dd HH:mm:ss", "MMM  d HH:mm:ss"}, "UTC")
		n, err := time.Parse(time.RFC3339, now)
		if err != nil {
			t.Fatal(err)
		}
		p.now = func() time.Time { return n }
		ns, ok := p.Parse([]byte(in))
		got := "NO MATCH"
		if ok {
			got = time.Unix(0, ns).UTC().Format(time.RFC3339)
		}
		if got != want {
			t.Errorf("now %s, Parse(%q): got %s; want %s", now, in, got, want)
		}
	}
	f("2026-12-03T13:00:00Z", "Dec  3 12:36:28", "2026-12-03T12:36:28Z")
	f("2026-12-03T13:00:00Z", "Dec 03 12:36:28", "2026-12-03T12:36:28Z")
	f("2027-01-01T00:00:05Z", "Dec 31 23:59:59", "2026-12-31T23:59:59Z")
	f("2026-12-31T23:59:59Z", "Jan  1 00:00:01", "2027-01-01T00:00:01Z")
	f("2026-06-15T00:00:00Z", "Dec  1 00:00:00", "2026-12-01T00:00:00Z")
	f("2026-06-15T00:00:00Z", "Feb 29 00:00:00", "NO MATCH")
	f("2028-06-15T00:00:00Z", "Feb 29 00:00:00", "2028-02-29T00:00:00Z")
	f("2026-06-15T00:00:00Z", "Dec 3 12:36:28", "2026-12-03T12:36:28Z") // "dd" takes one digit too, as Joda does

	// klog: the level letter is text, the header has no year.
	p := mustCompile(t, []string{"'I'MMdd HH:mm:ss.SSSSSS"}, "")
	p.now = func() time.Time { return time.Date(2026, 12, 3, 13, 0, 0, 0, time.UTC) }
	ns, ok := p.Parse([]byte("I1203 12:36:28.512345"))
	if want := time.Date(2026, 12, 3, 12, 36, 28, 512345000, time.UTC).UnixNano(); !ok || ns != want {
		t.Errorf("klog: got %d, %v; want %d", ns, ok, want)
	}
}

func TestFirstFormatWins(t *testing.T) {
	p := mustCompile(t, []string{"UNIX_MS", "UNIX", "ISO8601"}, "")
	for in, want := range map[string]int64{
		"1366125117000":        1366125117000 * 1e6,
		"1366125117.5":         1366125117500 * 1e6,
		"2013-04-16T15:11:57Z": 1366125117 * 1e9,
	} {
		if ns, ok := p.Parse([]byte(in)); !ok || ns != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", in, ns, ok, want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	f := func(formats []string, tz, wantSub string) {
		t.Helper()
		_, err := Compile(formats, tz)
		if err == nil || !strings.Contains(err.Error(), wantSub) {
			t.Errorf("Compile(%q, %q): %v; want an error containing %q", formats, tz, err, wantSub)
		}
	}
	f(nil, "", "none given")
	f([]string{""}, "", "empty")
	f([]string{"yyyy-MM-dd Q"}, "", "letter 'Q' at offset 11")
	f([]string{"yyyy-MM-dd z"}, "", "letter 'z' at offset 11")
	f([]string{"yyyy-MM-dd 'T"}, "", "quote at offset 11 is not closed")
	f([]string{"yyyy-MM-dd hh:mm"}, "", "'h' and AM/PM 'a' go together")
	f([]string{"yyyy yyyy"}, "", "appears twice")
	f([]string{"'just text'"}, "", "no date or time field")
	f([]string{"ISO8601"}, "Mars/Olympus", `time zone "Mars/Olympus"`)
}

func TestParseAllocs(t *testing.T) {
	p := mustCompile(t, []string{"dd/MMM/yyyy:HH:mm:ss Z", "MMM dd HH:mm:ss", "yyyy-MM-dd HH:mm:ss ZZZ", "ISO8601"}, "Europe/Berlin")
	for _, in := range []string{"03/Dec/2026:12:36:28 +0000", "Dec 03 12:36:28", "2026-12-03 12:36:28 America/New_York", "2026-12-03T12:36:28.512Z", "garbage"} {
		b := []byte(in)
		p.Parse(b)
		if n := testing.AllocsPerRun(100, func() { p.Parse(b) }); n != 0 {
			t.Errorf("Parse(%q): %v allocations; want 0", in, n)
		}
	}
}
