package file

import (
	"bytes"
	"testing"
	"time"

	"shipper/internal/parse"
)

// TestCRITimestamps checks the timestamps the container runtimes write, as
// ParseCRI reads them (the parsing itself is parse.ParseTime's).
func TestCRITimestamps(t *testing.T) {
	f := func(ts string, want string) {
		t.Helper()
		l, ok := ParseCRI([]byte(ts + " stdout F x"))
		if want == "" {
			if ok {
				t.Fatalf("ParseCRI accepted time %q", ts)
			}
			return
		}
		w, err := time.Parse(time.RFC3339Nano, want)
		if err != nil {
			t.Fatal(err)
		}
		if !ok || l.Time != w.UnixNano() {
			t.Fatalf("time %q: got %d, %v; want %d (%s)", ts, l.Time, ok, w.UnixNano(), want)
		}
	}
	// containerd: RFC3339Nano (trailing zeros dropped) in the node's zone.
	f("2024-05-01T10:00:00Z", "2024-05-01T10:00:00Z")
	f("2024-05-01T10:00:00.1Z", "2024-05-01T10:00:00.1Z")
	f("2024-05-01T10:00:00.123456Z", "2024-05-01T10:00:00.123456Z")
	f("2024-05-01T10:00:00.000000001Z", "2024-05-01T10:00:00.000000001Z")
	f("2024-05-01T12:00:00.5+02:00", "2024-05-01T10:00:00.5Z")
	f("2024-05-01T00:30:00-05:30", "2024-05-01T06:00:00Z")
	// CRI-O: always 9 digits and a numeric offset.
	f("2024-05-01T10:00:00.123456789+00:00", "2024-05-01T10:00:00.123456789Z")
	f("2024-02-29T23:59:59.999999999+00:00", "2024-02-29T23:59:59.999999999Z")

	f("2023-02-29T00:00:00Z", "")
	f("2024-05-01T24:00:00Z", "")
	f("yesterday", "")
}

// FuzzTimeCache: timestamps read through a timeCache, in any order, are what
// parse.ParseTime reads.
func FuzzTimeCache(f *testing.F) {
	for _, p := range [][2]string{
		{"2026-11-23T10:00:00.000427Z", "2026-11-23T10:00:00.5Z"},
		{"2026-11-23T10:00:00.123456789+01:00", "2026-11-23T10:00:00.1+01:00"},
		{"2026-11-23T10:00:00.1+01:00", "2026-11-23T10:00:00.1+02:00"},
		{"2026-11-23T10:00:00.1-0530", "2026-11-23T10:00:00.12-05"},
		{"2026-11-23T10:00:00.1", "2026-11-23T10:00:00.1234567891"},
		{"2026-11-23 10:00:00.1Z", "2026-11-23T10:00:00,1Z"},
		{"2262-04-11T23:47:16.854775807Z", "2262-04-11T23:47:16.854775808Z"},
		{"1677-09-21T00:12:43.145224192Z", "1677-09-21T00:12:43.1Z"},
		{"2026-11-23T10:00:00.1Z", "2026-11-23T10:00:00.1Zx"},
		{"2024-02-29T23:59:59.999999999z", "2024-02-29T23:59:59.0z"},
		{"2026-11-23T10:00:00.12345678Z", "2026-11-23T10:00:00.1234"},
		{"2026-11-23T10:00:00.12345678", "2026-11-23T10:00:00.1234567Z"},
	} {
		f.Add([]byte(p[0]), []byte(p[1]))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		var tc timeCache
		for k, x := range [][]byte{a, b, a, b, b, a, b} {
			if k >= 5 {
				// Followed by more bytes, digits even, as in a CRI
				// line (the cache may read past the end of x).
				x = append(append([]byte(nil), x...), "123456789 stdout"[k-5:]...)[:len(x)]
			}
			got, ok := tc.parse(x)
			want, wok := parse.ParseTime(x)
			if ok != wok || ok && got != want {
				t.Fatalf("timeCache.parse(%q) = %d, %v; parse.ParseTime: %d, %v", x, got, ok, want, wok)
			}
		}
	})
}

// FuzzParseCRICached: the lines of a file parsed through one timeCache, as
// the decoder reads them (the cached timestamp read before its space is
// looked for), are what ParseCRI reads.
func FuzzParseCRICached(f *testing.F) {
	for _, s := range []string{
		"2026-11-23T10:00:00.000427Z stdout F {\"a\":1}\n2026-11-23T10:00:00.000704Z stdout F x\n2026-11-23T10:00:00.1Z stderr P y\n2026-11-23T10:00:00.12Z stdout F\n",
		"2026-11-23T10:00:00.123456789+00:00 stdout F a\n2026-11-23T10:00:00.987654321+00:00 stdout F:x b\n2026-11-23T10:00:00.9876543210+00:00 stdout F c\n",
		"2026-11-23T10:00:00.5Z stdout F a\n2026-11-23T10:00:00.5Zstdout F b\n2026-11-23T10:00:00.5Z  stdout F c\n2026-11-23T10:00:00.5 stdout F d\n2026-11-23T10:00:00.5Z stdout Fe\n",
		"2026-11-23 10:00:00.5Z stdout F a\n2026-11-23 10:00:00.6Z stdout F b\n2026-11-23T10:00:00.5+01:00 stdout F\n2026-11-23T10:00:00.55+01:00 stdout F",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var tc timeCache
		for _, line := range bytes.Split(raw, []byte("\n")) {
			var got CRILine
			var gok bool
			var sp int
			sp, got.Stream, got.Partial, got.Content, gok = parseCRI(line, &tc)
			tt := line[:sp]
			want, wok := ParseCRI(line)
			if gok {
				// The time as written: the start of the line, up to the
				// space before the stream; it parses.
				var tok bool
				got.Time, tok = parse.ParseTime(tt)
				if !tok || sp >= len(line) || line[sp] != ' ' {
					t.Fatalf("line %q: time %q", line, tt)
				}
			}
			if gok != wok || gok && (got.Time != want.Time || got.Stream != want.Stream || got.Partial != want.Partial ||
				!bytes.Equal(got.Content, want.Content) || len(got.Content) > 0 && &got.Content[0] != &want.Content[0]) {
				t.Fatalf("line %q: cached %+v, %v; ParseCRI %+v, %v", line, got, gok, want, wok)
			}
		}
	})
}
