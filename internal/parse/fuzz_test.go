package parse

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

const (
	fuzzFields = `"log.file.path":"/var/log/app.log","stream":"stdout"`
	fuzzStatic = `"agent.type":"shipper","host.name":"h"`
)

// ourNames are the top-level names a document gets from Append, Fields and
// static in FuzzAppend: none may be repeated.
var ourNames = map[string]bool{
	"@timestamp": true, "log.level": true, "message": true, "event.ingested": true,
	"log.flags": true, "log.original_size": true, "error.message": true,
	"log.file.path": true, "stream": true, "agent.type": true, "host.name": true,
}

// candidateNames are the names Append may take a member from.
var candidateNames = map[string]bool{
	"@timestamp": true, "timestamp": true, "time": true, "ts": true,
	"@t": true, "asctime": true, "log.level": true, "level": true, "severity": true, "lvl": true, "levelname": true,
	"@l": true, "message": true, "msg": true, "@m": true, "@mt": true, "event": true, "short_message": true,
}

// renamed reports whether Append may write member m under another name: a
// scalar with a name of the ECS table, or a name Elasticsearch cannot take.
func renamed(m rawMember) bool {
	if ecsTarget[builtinID([]byte(m.name))] != idNone {
		return true
	}
	return badName([]byte(m.name))
}

type rawMember struct {
	name  string
	value json.RawMessage
}

// topMembers returns the members of the JSON object doc in order, or false
// if doc is not a JSON object.
func topMembers(doc []byte) ([]rawMember, bool) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var ms []rawMember
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		ms = append(ms, rawMember{tok.(string), v})
	}
	return ms, true
}

// addSeeds adds the lines of testdata/lines.txt, one line a seed.
func addSeeds(f *testing.F, add func(line []byte)) {
	fh, err := os.Open("testdata/lines.txt")
	if err != nil {
		f.Fatalf("cannot open seeds: %s", err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		add(bytes.Clone(sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		f.Fatalf("cannot read seeds: %s", err)
	}
}

func FuzzAppend(f *testing.F) {
	addSeeds(f, func(line []byte) {
		f.Add(line, uint16(0))
		f.Add(line, uint16(len(line)/2))
	})
	p := newTestParser(fuzzStatic)
	general := newTestParser(fuzzStatic)
	general.general = true
	// p keeps the shapes of the lines it parsed; classified classifies
	// the names of every line.
	classified := newTestParser(fuzzStatic)
	classified.noShapes = true
	// plain scans without the structural index.
	plain := newTestParser(fuzzStatic)
	plain.noIndex = true
	f.Fuzz(func(t *testing.T, line []byte, cut uint16) {
		l := &Line{Data: line, Time: lineTime, Fields: []byte(fuzzFields)}
		if int(cut) > 0 && int(cut) < len(line) {
			l.Data, l.Size = line[:cut], len(line)
		}
		orig := bytes.Clone(line)
		out, info := p.Append(nil, l)
		if !bytes.Equal(line, orig) {
			t.Fatalf("Append modified its input")
		}
		if want, wantInfo := plain.Append(nil, l); !bytes.Equal(out, want) || info.Flags != wantInfo.Flags {
			t.Fatalf("scans with and without the index differ\nin:      %q\nindex:   %s (%b)\nno index: %s (%b)", l.Data, out, info.Flags, want, wantInfo.Flags)
		}
		if want, wantInfo := classified.Append(nil, l); !bytes.Equal(out, want) || info.Flags != wantInfo.Flags {
			t.Fatalf("kept shape and classification differ\nin:    %q\nshape: %s (%b)\nclass: %s (%b)", l.Data, out, info.Flags, want, wantInfo.Flags)
		}
		if want, wantInfo := general.Append(nil, l); !sameJSON(out, want) || info.Flags != wantInfo.Flags {
			t.Fatalf("fast path and slow path differ\nin:   %q\nfast: %s (%b)\nslow: %s (%b)", l.Data, out, info.Flags, want, wantInfo.Flags)
		}
		if !utf8.Valid(out) {
			t.Fatalf("output is not valid UTF-8: %q", out)
		}
		dups, err := duplicateKeys(out, true)
		if err != nil {
			t.Fatalf("output is not valid JSON: %s\nin:  %q\nout: %s", err, l.Data, out)
		}
		// A character cut in half by truncation is dropped before parsing.
		data := l.Data
		if l.Size > len(l.Data) {
			data = trimPartialRune(data)
		}
		in, inIsObject := topMembers(data)
		count := map[string]int{}
		for _, m := range in {
			count[m.name]++
		}
		if len(dups) > 0 {
			t.Fatalf("output repeats %q\nin:  %q\nout: %s", dups, data, out)
		}
		outMembers, ok := topMembers(out)
		if !ok {
			t.Fatalf("output is not a JSON object: %s", out)
		}
		for _, m := range outMembers {
			if badName([]byte(m.name)) {
				t.Fatalf("output has member %q, which Elasticsearch cannot take\nin:  %q\nout: %s", m.name, data, out)
			}
		}
		if l.Size > len(l.Data) != (info.Flags&Truncated != 0) {
			t.Fatalf("flags %b for size %d of %d", info.Flags, len(l.Data), l.Size)
		}
		if tooDeep := bytes.Contains(out, []byte(`"error.message":"nesting deeper than`)); tooDeep {
			return
		}
		trimmed := bytes.TrimLeft(data, " \t\r\n")
		if len(trimmed) > 0 && trimmed[0] == '{' && json.Valid(data) != (info.Flags&JSON != 0) {
			t.Fatalf("json.Valid is %t but flags are %b\nin:  %q\nout: %s", json.Valid(data), info.Flags, data, out)
		}
		if (info.Flags&Malformed != 0) != (len(trimmed) > 0 && trimmed[0] == '{' && info.Flags&JSON == 0) {
			t.Fatalf("flags %b for %q", info.Flags, data)
		}
		if !inIsObject || !json.Valid(data) || !utf8.Valid(data) {
			return
		}
		// A valid object: every member we do not own comes through unchanged.
		got := map[string][]byte{}
		for _, m := range outMembers {
			got[m.name] = compact(t, m.value)
		}
		for _, m := range in {
			if candidateNames[m.name] || ourNames[m.name] || count[m.name] > 1 ||
				strings.HasSuffix(m.name, originalSuffix) || renamed(m) {
				continue
			}
			if v, ok := got[m.name]; !ok || !bytes.Equal(v, compact(t, m.value)) {
				t.Fatalf("member %q = %s is %s in the output\nin:  %q\nout: %s", m.name, m.value, v, data, out)
			}
		}
	})
}

// sameJSON reports whether a and b are equal but for whitespace outside
// strings (the fast path copies runs of members as they are written), or
// equal bytes when they are not JSON.
func sameJSON(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

func compact(t *testing.T, v []byte) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		t.Fatalf("cannot compact %q: %s", v, err)
	}
	return b.Bytes()
}

var rfc3339 = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$`)

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{
		"2026-11-23T10:00:00Z", "2026-11-23T10:00:00.123456789Z", "2026-11-23T11:00:00+01:00",
		"2026-11-23T03:00:00-0700", "2026-11-23 10:00:00,5", "1677-09-21T00:12:43.145224192Z",
		"2262-04-11T23:47:16.854775807Z", "2024-02-29T23:59:59.999999999-23:59", "0000-01-01T00:00:00Z",
		"2026-11-23T10:00:00.", "2026-13-01T00:00:00Z",
	} {
		f.Add(s, int64(0))
	}
	f.Add("", int64(-1))
	f.Add("", int64(-9223372036854775808))
	f.Add("", int64(9223372036854775807))
	f.Add("", int64(1795428000123456789))
	f.Fuzz(func(t *testing.T, s string, ns int64) {
		got, ok := ParseTime([]byte(s))
		if ok {
			q := AppendTime(nil, got)
			back, ok2 := ParseTime(q[1 : len(q)-1])
			if !ok2 || back != got {
				t.Fatalf("ParseTime(%q) = %d, formatted %s, parsed back %d, %t", s, got, q, back, ok2)
			}
		}
		// time.Parse is lenient beyond RFC 3339 (it takes "T0:00:00"):
		// compare on strict RFC 3339 only.
		if tm, err := time.Parse(time.RFC3339Nano, s); err == nil && rfc3339.MatchString(s) &&
			tm.Year() > 1677 && tm.Year() < 2262 {
			if !ok || got != tm.UnixNano() {
				t.Fatalf("ParseTime(%q) = %d, %t; time.Parse says %d", s, got, ok, tm.UnixNano())
			}
		}

		// Every int64 formats as time.Format does and parses back.
		q := AppendTime(nil, ns)
		want := `"` + time.Unix(0, ns).UTC().Format(time.RFC3339Nano) + `"`
		if string(q) != want {
			t.Fatalf("AppendTime(%d) = %s, want %s", ns, q, want)
		}
		back, ok := ParseTime(q[1 : len(q)-1])
		if !ok || back != ns {
			t.Fatalf("AppendTime(%d) = %s parses back as %d, %t", ns, q, back, ok)
		}
	})
}

func FuzzAppendString(f *testing.F) {
	addSeeds(f, func(line []byte) { f.Add(line) })
	f.Add([]byte("\x00\x1f\"\\\x7f\u2028\xff\xed\xa0\x80"))
	f.Fuzz(func(t *testing.T, s []byte) {
		out, replaced := AppendString([]byte("x"), s)
		out = out[1:]
		if !utf8.Valid(out) {
			t.Fatalf("AppendString(%q) = %q: not valid UTF-8", s, out)
		}
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("AppendString(%q) = %s: %s", s, out, err)
		}
		// encoding/json replaces each invalid byte with U+FFFD too.
		want := string(s)
		if !utf8.Valid(s) {
			m, _ := json.Marshal(string(s))
			if err := json.Unmarshal(m, &want); err != nil {
				t.Fatal(err)
			}
		}
		if got != want {
			t.Fatalf("AppendString(%q) = %s decodes to %q, want %q", s, out, got, want)
		}
		if replaced == utf8.Valid(s) {
			t.Fatalf("AppendString(%q) replaced = %t", s, replaced)
		}
	})
}

// FuzzLineTimeText: a Line with TimeText gives the document of the same Line
// with Time set to what ParseTime reads from the text (when it reads one
// other than 0), through a Parser that has seen other lines and times.
func FuzzLineTimeText(f *testing.F) {
	for _, s := range [][2]string{
		{"plain text", "2026-11-23T10:00:00.000427Z"},
		{`{"msg":"m"}`, "2026-11-23T11:00:00.5+01:00"},
		{`{"time":"2026-11-23T10:00:00.1Z","msg":"m"}`, "2026-11-23T10:00:00.2Z"},
		{`{"time":"yesterday"}`, "2026-11-23 10:00:00,123456789123"},
		{`{"ts":1795428000.5}`, "1970-01-01T00:00:00Z"},
		{`{"a":`, "1969-12-31T23:59:59.999999999Z"},
		{"x", "2026-11-23T10:00:00.1Zx"},
		{"x", "2026-13-23T10:00:00Z"},
		{"x", "1795428000"},
		{"x", ""},
	} {
		f.Add([]byte(s[0]), []byte(s[1]), int64(lineTime))
		f.Add([]byte(s[0]), []byte(s[1]), int64(0))
	}
	p := newTestParser(fuzzStatic)
	ref := newTestParser(fuzzStatic)
	f.Fuzz(func(t *testing.T, line, text []byte, tm int64) {
		want := &Line{Data: line, Time: tm}
		if v, ok := ParseTime(text); ok && v != 0 {
			want.Time = v
		}
		wantOut, wantInfo := ref.Append(nil, want)
		// The text alone, then followed by more bytes (digits even): the
		// parse must not read past its end.
		for _, more := range []string{"", "123456789 stdout F"} {
			b := append(append([]byte(nil), text...), more...)[:len(text)]
			got, info := p.Append(nil, &Line{Data: line, Time: tm, TimeText: b})
			if !bytes.Equal(got, wantOut) || info.Flags != wantInfo.Flags {
				t.Fatalf("line %q, TimeText %q, Time %d:\ngot  %s (%b)\nwant %s (%b)", line, text, tm, got, info.Flags, wantOut, wantInfo.Flags)
			}
		}
	})
}
