package timefmt

import (
	"testing"
	"time"
)

// FuzzCompile: no panic compiling any format or parsing any input with it.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{"dd/MMM/yyyy:HH:mm:ss Z", "yyyyMMddHHmmssSSS", "'T'''", "EEE MMM d h:mm a ZZZ", "ISO8601", "TAI64N"} {
		f.Add(s, "03/Dec/2026:12:36:28 +0000")
	}
	f.Fuzz(func(t *testing.T, format, in string) {
		p, err := Compile([]string{format}, "")
		if err != nil {
			return
		}
		p.Parse([]byte(in))
		p.Parse([]byte(format))
	})
}

// FuzzParseAgainstTime: whatever Go's time package parses with an
// equivalent layout, ours parses to the same instant.
func FuzzParseAgainstTime(f *testing.F) {
	f.Add("2026-12-03 12:36:28")
	f.Add("2026-12-03T12:36:28.512+01:00")
	f.Add("03/Dec/2026:12:36:28 -0700")
	pairs := []struct{ joda, goLayout string }{
		{"yyyy-MM-dd HH:mm:ss", "2006-01-02 15:04:05"},
		{"ISO8601", time.RFC3339Nano},
		{"dd/MMM/yyyy:HH:mm:ss Z", "02/Jan/2006:15:04:05 -0700"},
	}
	var ps []*Parser
	for _, pr := range pairs {
		p, err := Compile([]string{pr.joda}, "")
		if err != nil {
			f.Fatal(err)
		}
		ps = append(ps, p)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for i, pr := range pairs {
			want, err := time.Parse(pr.goLayout, in)
			// Only canonical spellings (time.Parse is lenient about digits)
			// within the range of UnixNano.
			if err != nil || want.Format(pr.goLayout) != in || want.Year() < 1700 || want.Year() > 2200 {
				continue
			}
			if _, off := want.Zone(); off > 18*3600 || off < -18*3600 {
				continue // Joda's offsets stop at ±18:00, Go's do not
			}
			got, ok := ps[i].Parse([]byte(in))
			if !ok || got != want.UnixNano() {
				t.Fatalf("%q with %q: got %d, %v; time.Parse gives %d", in, pr.joda, got, ok, want.UnixNano())
			}
		}
	})
}
