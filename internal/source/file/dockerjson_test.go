package file

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"shipper/internal/parse"
)

const dockerTime = "2024-05-01T10:00:00.1Z" // t1

func dockerLine(log, stream string) string {
	b, _ := json.Marshal(log)
	return `{"log":` + string(b) + `,"stream":"` + stream + `","time":"` + dockerTime + `"}`
}

func TestParseDockerJSON(t *testing.T) {
	f := func(in string, want DockerLine, wantOK bool) {
		t.Helper()
		got, _, ok := ParseDockerJSON([]byte(in), nil)
		if ok != wantOK || (ok && (string(got.Log) != string(want.Log) || got.Partial != want.Partial ||
			got.Stream != want.Stream || got.Time != want.Time || string(got.Attrs) != string(want.Attrs))) {
			t.Fatalf("ParseDockerJSON(%s) =\n%+v %q %s, %v; want\n%+v %q %s, %v",
				in, got, got.Log, got.Attrs, ok, want, want.Log, want.Attrs, wantOK)
		}
	}
	line := func(log string, partial bool, s Stream) DockerLine {
		return DockerLine{Log: []byte(log), Partial: partial, Stream: s, Time: t1}
	}
	f(`{"log":"hello\n","stream":"stdout","time":"`+dockerTime+`"}`, line("hello", false, StreamStdout), true)
	f(`{"log":"piece","stream":"stderr","time":"`+dockerTime+`"}`, line("piece", true, StreamStderr), true)
	f(`{"log":"\n","stream":"stdout","time":"`+dockerTime+`"}`, line("", false, StreamStdout), true)
	f(`{"log":"","stream":"stdout","time":"`+dockerTime+`"}`, line("", true, StreamStdout), true)
	// Attrs are kept raw.
	f(`{"log":"x\n","stream":"stdout","attrs":{"app":"web","k":"a\"}"},"time":"`+dockerTime+`"}`,
		DockerLine{Log: []byte("x"), Stream: StreamStdout, Time: t1, Attrs: []byte(`{"app":"web","k":"a\"}"}`)}, true)
	// Escapes: Docker's \u003c style, control characters, surrogate pairs.
	f(`{"log":"\u003cb\u003e \u0026 \"q\" \\ \/ \b\f\r\t\u00e9\u2028\ud83d\ude00\n","stream":"stdout","time":"`+dockerTime+`"}`,
		line("<b> & \"q\" \\ / \b\f\r\té\u2028😀", false, StreamStdout), true)
	// Lone surrogates become U+FFFD, as encoding/json does.
	f(`{"log":"a\ud800b\udc00c\ud83d\u0041\n"}`, DockerLine{Log: []byte("a\uFFFDb\uFFFDc\uFFFDA")}, true)
	// Invalid UTF-8: Docker writes \ufffd; raw invalid bytes pass through.
	f(`{"log":"bad \ufffd\n","stream":"stdout"}`, DockerLine{Log: []byte("bad \uFFFD"), Stream: StreamStdout}, true)
	f("{\"log\":\"raw \xff\xfe\\n\",\"stream\":\"stdout\"}", DockerLine{Log: []byte("raw \xff\xfe"), Stream: StreamStdout}, true)
	// Any key order, unknown keys, whitespace; time optional.
	f(` { "time" : "`+dockerTime+`" , "x":[1,{"a":"]"}], "n": -1.5e3, "b":true, "stream":"stdout", "log":"a\n" } `,
		line("a", false, StreamStdout), true)
	f(`{"log":"a\n","stream":"stdin","time":"yesterday"}`, DockerLine{Log: []byte("a")}, true)

	for _, bad := range []string{
		``, `{}`, `[]`, `{"stream":"stdout"}`, `{"log":1}`, `{"log":"a\n"`, `{"log":"a\n"}x`,
		`{"log":"a\q"}`, `{"log":"a\u12"}`, `{"log":"a\u12g4"}`, `{"log":"abc`, `{"log":"a\`, `{"log" "a"}`,
		`{"log":"a",}`, `{"log":"a","x":}`, `{"log":"a","attrs":{"a":"b"}`, `{"log":"a" "stream":"stdout"}`,
		`{"log":"a","stream":1}`, `{log:"a"}`,
	} {
		f(bad, DockerLine{}, false)
	}
}

func TestDecoderDocker(t *testing.T) {
	f := func(name, in string, want ...rec) {
		t.Helper()
		got := decodeFile(t, DecoderConfig{Format: FormatDocker, MaxRecordBytes: 10}, []byte(in), 5, 1<<10)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s:\ngot  %v\nwant %v", name, got, want)
		}
	}
	n := func(lines ...string) int64 { // bytes of lines, each with its '\n'
		var t int
		for _, l := range lines {
			t += len(l) + 1
		}
		return int64(t)
	}
	a, b := dockerLine("a\n", "stdout"), dockerLine("b\r\n", "stderr")
	f("whole lines", a+"\n"+b+"\n",
		rec{"a", 1, t1, StreamStdout, 0, "", 0, n(a), n(a)},
		rec{"b", 1, t1, StreamStderr, 0, "", n(a), n(a, b), n(a, b)})

	p1, e1, p2 := dockerLine("abc", "stdout"), dockerLine("err\n", "stderr"), dockerLine("def\n", "stdout")
	f("pieces joined per stream until a log ending in \\n",
		p1+"\n"+e1+"\n"+p2+"\n",
		rec{"err", 3, t1, StreamStderr, 0, "", n(p1), n(p1, e1), 0},
		rec{"abcdef", 6, t1, StreamStdout, 0, "", 0, n(p1, e1, p2), n(p1, e1, p2)})

	c1, c2 := dockerLine("0123456", "stdout"), dockerLine("789abc\n", "stdout")
	f("joined record over the cap is truncated and flagged", c1+"\n"+c2+"\n",
		rec{"0123456789", 13, t1, StreamStdout, Truncated, "", 0, n(c1, c2), n(c1, c2)})

	c3 := dockerLine("0123456789abc\n", "stdout")
	f("single line over the cap", c3+"\n",
		rec{"0123456789", 13, t1, StreamStdout, Truncated, "", 0, n(c3), n(c3)})

	f("malformed line kept", "not json\n"+a+"\n",
		rec{"not json", 8, 0, StreamNone, Malformed, "", 0, 9, 9},
		rec{"a", 1, t1, StreamStdout, 0, "", 9, 9 + n(a), 9 + n(a)})

	x := `{"log":"x","stream":"stdout","attrs":{"tag":"web"},"time":"` + dockerTime + `"}`
	y := `{"log":"y\n","stream":"stdout","attrs":{"tag":"web"},"time":"` + dockerTime + `"}`
	f("attrs survive joining", x+"\n"+y+"\n",
		rec{"xy", 2, t1, StreamStdout, 0, `{"tag":"web"}`, 0, n(x, y), n(x, y)})

	f("last piece without newline at close", p1+"\n",
		rec{"abc", 3, t1, StreamStdout, Incomplete, "", 0, n(p1), n(p1)})
}

func TestDecoderDockerLongRecords(t *testing.T) {
	for _, n := range []int{100 << 10, 1 << 20, 5 << 20} {
		content := make([]byte, n)
		for i := range content {
			content[i] = "ab<\"\t\u00e9"[i%6] // escapes of every kind, and UTF-8
		}
		for !utf8.Valid(content) { // do not split the é
			content = content[:len(content)-1]
		}
		var b bytes.Buffer
		// Docker splits at 16 KiB of bytes; keep the pieces valid UTF-8 so
		// encoding/json writes them unchanged.
		rest := content
		for len(rest) > 0 {
			k := min(16<<10, len(rest))
			for !utf8.Valid(rest[:k]) {
				k--
			}
			log := string(rest[:k])
			rest = rest[k:]
			if len(rest) == 0 {
				log += "\n"
			}
			b.WriteString(dockerLine(log, "stdout") + "\n")
			b.WriteString(dockerLine("interleaved\n", "stderr") + "\n")
		}
		got := decodeFile(t, DecoderConfig{}, b.Bytes(), 0, 0)
		var r rec
		for _, g := range got {
			if g.Stream == StreamStdout {
				r = g
			}
		}
		wantLen, flags := len(content), Flags(0)
		if wantLen > DefaultMaxRecordBytes {
			wantLen, flags = DefaultMaxRecordBytes, Truncated
		}
		if r.Content != string(content[:wantLen]) || r.Size != len(content) || r.Flags != flags || r.Start != 0 {
			t.Fatalf("%d bytes: got %v, want %d bytes, flags %b", n, r, wantLen, flags)
		}
		if last := got[len(got)-1]; last.Stream != StreamStderr || last.End != int64(b.Len()) || r.End != last.Start {
			t.Fatalf("%d bytes: record ends at %d, last line %v", n, r.End, last)
		}
	}
}

func FuzzJSONFile(f *testing.F) {
	f.Add("hello\n", []byte(dockerLine("x\n", "stdout")))
	f.Add("<&>\"\\\u2028\x00\x1f\xff\n", []byte(`{"log":"a\ud800\u0041"}`))
	f.Add("😀 piece", []byte(`{"log":"x","attrs":{"a":[1,"]"]},"stream":"stderr"}`))
	f.Add("", []byte(`{"log":"a","lo\u0067":"b"}`)) // an escaped key: not "log" to ParseDockerJSON
	for _, line := range seeds(f, "json-file.log") {
		f.Add(string(line), line)
	}
	f.Fuzz(func(t *testing.T, s string, raw []byte) {
		// A log value written by encoding/json decodes to what
		// encoding/json reads back: s itself when s is valid UTF-8.
		for _, html := range []bool{true, false} {
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(html)
			if err := enc.Encode(s); err != nil {
				t.Fatal(err)
			}
			line := `{"log":` + strings.TrimSuffix(b.String(), "\n") + `,"stream":"stderr","time":"` + dockerTime + `"}`
			got, _, ok := ParseDockerJSON([]byte(line), nil)
			if !ok {
				t.Fatalf("rejected %s", line)
			}
			var want string
			json.Unmarshal(b.Bytes(), &want)
			if utf8.ValidString(s) && want != s {
				t.Fatalf("encoding/json round trip changed %q to %q", s, want)
			}
			wantLog, nl := strings.CutSuffix(want, "\n")
			if string(got.Log) != wantLog || got.Partial == nl || got.Stream != StreamStderr || got.Time != t1 {
				t.Fatalf("%s: got %q partial %v, want %q", line, got.Log, got.Partial, want)
			}
		}

		// Arbitrary lines: no panic, and agreement with encoding/json on
		// valid JSON objects (raw invalid UTF-8 aside, which encoding/json
		// replaces and ParseDockerJSON passes through).
		got, _, ok := ParseDockerJSON(raw, nil)
		var m map[string]json.RawMessage
		if !ok || !utf8.Valid(raw) || json.Unmarshal(raw, &m) != nil || !literalKeys(raw) {
			return
		}
		var log string
		if err := json.Unmarshal(m["log"], &log); err != nil {
			t.Fatalf("accepted %s, whose log is not a string: %v", raw, err)
		}
		if wantLog, nl := strings.CutSuffix(log, "\n"); string(got.Log) != wantLog || got.Partial == nl {
			t.Fatalf("%s: got %q partial %v, encoding/json says %q", raw, got.Log, got.Partial, log)
		}
	})
}

// literalKeys reports whether every top-level key of the JSON object raw is
// written without escapes (ParseDockerJSON compares keys as written).
func literalKeys(raw []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		k := tok.(string)
		end := int(dec.InputOffset())
		if end < len(k)+2 || string(raw[end-len(k)-2:end]) != `"`+k+`"` {
			return false
		}
		var v json.RawMessage
		if dec.Decode(&v) != nil {
			return false
		}
	}
	return true
}

// FuzzJSONFileFast checks the fast paths of ParseDockerJSON against the
// general ones: unescapeFast against parse.AppendUnescaped on any string, and
// the Docker-layout parser against the general parser on any line.
func FuzzJSONFileFast(f *testing.F) {
	f.Add([]byte(dockerLine(`{"a":"b\\n","c":[1,"\u00e9"]}`+"\n", "stdout")))
	f.Add([]byte(dockerLine("x\t\"y\"\\/\b\f\r", "stderr")))
	f.Add([]byte(`{"log":"a\u0041\n","stream":"stdout","time":"` + dockerTime + `"}`))
	f.Add([]byte(`{"log":"a\q","stream":"stdout","time":"` + dockerTime + `"}`))
	f.Add([]byte(`{"log":"a\n","stream":"stdin","time":"` + dockerTime + `"}`))
	f.Add([]byte(`{"log":"a\n","stream":"stdout","time":"x\"y"}`))
	f.Add([]byte(`{"log":"a\n","stream":"stdout","time":"` + dockerTime + `"} `))
	f.Add([]byte(`{"log":"0123456789abcdef\\`))
	for _, line := range seeds(f, "json-file.log") {
		f.Add(line)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for i := 0; i < len(raw) && i < 16; i++ {
			if raw[i] != '"' {
				continue
			}
			got, gotNext, ok := unescapeFast(nil, raw, i)
			want, wantNext, err := parse.AppendUnescaped(nil, raw, i, dockerJSON)
			if ok && (err != nil || string(got) != string(want) || gotNext != wantNext) {
				t.Fatalf("unescapeFast(%q, %d) = %q, %d; AppendUnescaped: %q, %d, %v", raw, i, got, gotNext, want, wantNext, err)
			}
			// Into a dirty, short or roomy buffer: the same.
			for _, dst := range [][]byte{[]byte("dirty"), make([]byte, 3, len(raw)+8)} {
				if got2, next2, ok2 := unescapeFast(dst, raw, i); ok2 != ok || ok && (string(got2) != string(got) || next2 != gotNext) {
					t.Fatalf("unescapeFast(%q, %d) into %q = %q, %v; into nil %q, %v", raw, i, dst, got2, ok2, got, ok)
				}
			}
		}
		var l, wl DockerLine
		_, ok, done := parseDockerLayout(&l, raw, nil)
		if !done {
			return
		}
		_, wok := parseDockerJSON(&wl, raw, nil)
		lt, _ := parse.ParseTime(l.timeText)
		if ok != wok || ok && (string(l.Log) != string(wl.Log) || l.Partial != wl.Partial || l.Stream != wl.Stream ||
			l.Time != 0 || l.timeText == nil || lt != wl.Time || l.Attrs != nil) {
			t.Fatalf("%q: layout parser %+v %q, %v; general %+v %q, %v", raw, l, l.Log, ok, wl, wl.Log, wok)
		}
	})
}

// TestDockerLayout: the lines Docker writes take the layout parser, and
// lines that differ from the layout in any fixed byte are left to the
// general parser.
func TestDockerLayout(t *testing.T) {
	for _, stream := range []string{"stdout", "stderr"} {
		line := []byte(dockerLine(`{"msg":"a \"quoted\" word"}`+"\n", stream))
		var l DockerLine
		_, ok, done := parseDockerLayout(&l, line, nil)
		if !ok || !done || l.Stream.String() != stream || string(l.Log) != `{"msg":"a \"quoted\" word"}` || l.Partial {
			t.Fatalf("%s: parseDockerLayout(%q) = %+v %q, ok %v, done %v", stream, line, l, l.Log, ok, done)
		}
		// Every byte of the fixed parts after the "log" value.
		at := bytes.Index(line, []byte(`,"stream"`))
		for i := at; i < at+len(dockerStream); i++ {
			bad := append([]byte(nil), line...)
			bad[i] ^= 0x20
			if _, ok, done := parseDockerLayout(new(DockerLine), bad, nil); ok && done {
				t.Fatalf("%s: parseDockerLayout(%q) took a line changed at byte %d", stream, bad, i-at)
			}
		}
	}
}

// TestTimeBytes: every byte value at every offset of times of 0 to 40
// bytes, the others digits, against a byte loop.
func TestTimeBytes(t *testing.T) {
	for n := 0; n <= 40; n++ {
		b := bytes.Repeat([]byte("0"), n)
		if !timeBytes(b) {
			t.Fatalf("timeBytes(%q) = false", b)
		}
		for i := range n {
			for c := range 256 {
				b[i] = byte(c)
				if got, want := timeBytes(b), c >= '+' && c <= 'Z'; got != want {
					t.Fatalf("timeBytes(%q) = %v, want %v", b, got, want)
				}
			}
			b[i] = '0'
		}
	}
}
