package file

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
)

// rec is a Record with its views copied, for comparisons.
type rec struct {
	Content string
	Size    int
	Time    int64
	Stream  Stream
	Flags   Flags
	Attrs   string
	Start   int64
	End     int64
	Commit  int64
}

func (r rec) String() string {
	c := r.Content
	if len(c) > 60 {
		c = fmt.Sprintf("%s…(%d bytes)", c[:40], len(c))
	}
	return fmt.Sprintf("{%q size=%d t=%d %s flags=%b attrs=%s [%d,%d) commit=%d}",
		c, r.Size, r.Time, r.Stream, r.Flags, r.Attrs, r.Start, r.End, r.Commit)
}

func copyRec(r Record) rec {
	if r.TimeText != nil && r.Time != 0 {
		panic("a record with both Time and TimeText")
	}
	return rec{string(r.Content), r.Size, r.UnixNano(), r.Stream, r.Flags, string(r.Attrs), r.Start, r.End, r.Commit}
}

// decodeFile runs data through a LineReader and a Decoder like a follower
// that reaches the end and closes the file: the unterminated tail is added
// and everything flushed. It checks the invariants every record must hold.
// With cfg.Budget, the LineReader is charged to it too, and the decoder and
// the reader give their buffers back at the end.
func decodeFile(t testing.TB, cfg DecoderConfig, data []byte, bufSize, maxLine int) []rec {
	t.Helper()
	lr := NewLineReader(bytes.NewReader(data), bufSize, maxLine, 0)
	defer lr.Release()
	lr.SetBudget(cfg.Budget)
	d := NewDecoder(cfg)
	defer d.Release()
	// The same lines through the joining only: whole records written
	// straight (AddTo) must be the records the joining gives. Not with a
	// budget: the two decoders would share it, and cut differently.
	var ref *Decoder
	if cfg.Budget == nil {
		ref = NewDecoder(cfg)
		ref.joinAll = true
	}
	add := func(l Line) (Record, bool) {
		t.Helper()
		r, ok := d.Add(l, 0)
		if ref == nil {
			return r, ok
		}
		want, wok := ref.Add(l, 0)
		if ok != wok || ok && copyRec(r) != copyRec(want) {
			t.Fatalf("line %q: record %v, %v; through the joining %v, %v", l.Data, copyRec(r), ok, copyRec(want), wok)
		}
		return r, ok
	}
	var out []rec
	var commit int64
	check := func(r Record) {
		t.Helper()
		max := cfg.MaxRecordBytes
		if max <= 0 {
			max = DefaultMaxRecordBytes
		}
		switch {
		case len(r.Content) > max && (cfg.Multiline == nil || cfg.Multiline.MaxBytes == 0):
			t.Fatalf("record of %d bytes over the cap %d", len(r.Content), max)
		case r.Size < len(r.Content) || (r.Size > len(r.Content)) != (r.Flags&Truncated != 0):
			t.Fatalf("size %d, len %d, flags %b", r.Size, len(r.Content), r.Flags)
		case r.Start < 0 || r.End <= r.Start || r.End > int64(len(data)):
			t.Fatalf("record offsets [%d,%d) in a file of %d bytes", r.Start, r.End, len(data))
		case r.Commit < commit || r.Commit > int64(len(data)):
			t.Fatalf("commit went from %d to %d (file %d bytes)", commit, r.Commit, len(data))
		}
		commit = r.Commit
		out = append(out, copyRec(r))
	}
	for {
		line, size, end, err := lr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if r, ok := add(Line{Data: line, Size: size, Start: end - int64(size) - 1, End: end}); ok {
			check(r)
		}
	}
	if p, ok := lr.Pending(); ok {
		if r, ok := add(p); ok {
			check(r)
		}
	}
	for _, r := range d.Flush() {
		check(r)
	}
	if _, open := d.PendingStart(); open || d.Commit() != int64(len(data)) {
		t.Fatalf("after Flush: commit %d, file %d bytes, open %v", d.Commit(), len(data), open)
	}
	return out
}

func wantRecs(t *testing.T, got []rec, want ...rec) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("\ngot  %v\nwant %v", got, want)
	}
}

const (
	ts1 = "2024-05-01T10:00:00.1Z"
	t1  = 1714557600100000000
	ts2 = "2024-05-01T10:00:00.123456789+00:00"
	t2  = 1714557600123456789
)

func TestParseCRI(t *testing.T) {
	f := func(in string, want CRILine, wantOK bool) {
		t.Helper()
		got, ok := ParseCRI([]byte(in))
		if ok != wantOK || (ok && (got.Time != want.Time || got.Stream != want.Stream ||
			got.Partial != want.Partial || string(got.Content) != string(want.Content))) {
			t.Fatalf("ParseCRI(%q) = %+v %q, %v; want %+v %q, %v", in, got, got.Content, ok, want, want.Content, wantOK)
		}
	}
	f(ts1+" stdout F hello world", CRILine{t1, StreamStdout, false, []byte("hello world")}, true)
	f(ts2+" stderr P  leading space", CRILine{t2, StreamStderr, true, []byte(" leading space")}, true)
	f("2024-05-01T12:00:00.1+02:00 stdout F x", CRILine{t1, StreamStdout, false, []byte("x")}, true)
	f(ts1+" stdout F:x:y tagged", CRILine{t1, StreamStdout, false, []byte("tagged")}, true)
	f(ts1+" stdout F:x", CRILine{t1, StreamStdout, false, nil}, true)
	// Empty content, with and without the separating space.
	f(ts1+" stdout F ", CRILine{t1, StreamStdout, false, nil}, true)
	f(ts1+" stdout F", CRILine{t1, StreamStdout, false, nil}, true)
	f(ts1+" stdout P", CRILine{t1, StreamStdout, true, nil}, true)

	f("", CRILine{}, false)
	f("hello world", CRILine{}, false)
	f(ts1, CRILine{}, false)
	f(ts1+" stdout", CRILine{}, false)
	f(ts1+" stdout ", CRILine{}, false)
	f(ts1+" stdin F x", CRILine{}, false)
	f(ts1+" stdout X x", CRILine{}, false)
	f(ts1+" stdout Fx", CRILine{}, false)
	f(ts1+"  stdout F x", CRILine{}, false)
	f("2024-05-01 10:00:00Z stdout F x", CRILine{}, false)
	f("notatime stdout F x", CRILine{}, false)
}

func TestDecoderCRI(t *testing.T) {
	f := func(name string, in string, want ...rec) {
		t.Helper()
		for _, bs := range []int{7, 64 << 10} {
			got := decodeFile(t, DecoderConfig{Format: FormatCRI}, []byte(in), bs, 1<<10)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s (buffer %d):\ngot  %v\nwant %v", name, bs, got, want)
			}
		}
	}
	l1 := ts1 + " stdout F one\n" // 0..36
	l2 := ts2 + " stderr F two\n" // 36..85
	f("full lines", l1+l2,
		rec{"one", 3, t1, StreamStdout, 0, "", 0, 36, 36},
		rec{"two", 3, t2, StreamStderr, 0, "", 36, 85, 85})

	f("empty content is a record", ts1+" stdout F \n"+ts1+" stdout F\n",
		rec{"", 0, t1, StreamStdout, 0, "", 0, 33, 33},
		rec{"", 0, t1, StreamStdout, 0, "", 33, 65, 65})

	p := func(s, tag, c string) string { return ts1 + " " + s + " " + tag + " " + c + "\n" } // 33+len(c) bytes
	f("P pieces joined until F",
		p("stdout", "P", "ab")+p("stdout", "P", "cd")+p("stdout", "F", "e"),
		rec{"abcde", 5, t1, StreamStdout, 0, "", 0, 104, 104})

	// Interleaved: stderr completes while stdout is open, so the checkpoint
	// stays at the start of the open stdout record.
	f("interleaved stdout and stderr",
		p("stdout", "P", "o1")+ // 0..35
			p("stderr", "P", "e1")+ // 35..70
			p("stderr", "F", "e2")+ // 70..105
			p("stdout", "F", "o2")+ // 105..140
			p("stdout", "F", "o3"), // 140..175
		rec{"e1e2", 4, t1, StreamStderr, 0, "", 35, 105, 0},
		rec{"o1o2", 4, t1, StreamStdout, 0, "", 0, 140, 140},
		rec{"o3", 2, t1, StreamStdout, 0, "", 140, 175, 175})

	f("garbage line is kept, flagged, and does not break an open P",
		p("stdout", "P", "a")+"garbage here\n"+p("stdout", "F", "b"),
		rec{"garbage here", 12, 0, StreamNone, Malformed, "", 34, 47, 0},
		rec{"ab", 2, t1, StreamStdout, 0, "", 0, 81, 81})

	f("CRLF: containerd strips it, a leftover \\r is removed from the record",
		p("stdout", "P", "x\r")+p("stdout", "F", ""),
		rec{"x", 1, t1, StreamStdout, 0, "", 0, 68, 68})

	f("open P at close is flushed Incomplete",
		p("stdout", "F", "a")+p("stderr", "P", "b"),
		rec{"a", 1, t1, StreamStdout, 0, "", 0, 34, 34},
		rec{"b", 1, t1, StreamStderr, Incomplete, "", 34, 68, 68})

	f("unterminated last line",
		p("stdout", "F", "a")+strings.TrimSuffix(p("stdout", "F", "tail"), "\n"),
		rec{"a", 1, t1, StreamStdout, 0, "", 0, 34, 34},
		rec{"tail", 4, t1, StreamStdout, Incomplete, "", 34, 70, 70})

	long := strings.Repeat("x", 2000)
	f("a line over the line limit is cut, and its record flagged",
		p("stdout", "F", long)+p("stdout", "F", "next"),
		rec{long[:1024-32], 2000, t1, StreamStdout, Truncated, "", 0, 2033, 2033},
		rec{"next", 4, t1, StreamStdout, 0, "", 2033, 2070, 2070})
}

// criFile builds a CRI file in which a record of n bytes of stdout is split
// into P pieces of piece bytes, with stderr lines interleaved. It returns
// the file, the record's content, and the offsets of the record.
func criFile(n, piece int) (file []byte, content []byte, start, end int64) {
	content = make([]byte, n)
	for i := range content {
		content[i] = 'a' + byte(i%26)
	}
	var b bytes.Buffer
	b.WriteString(ts2 + " stderr F before\n")
	start = int64(b.Len())
	for i := 0; i < n || i == 0; i += piece {
		tag := "P"
		if i+piece >= n {
			tag = "F"
		}
		fmt.Fprintf(&b, "%s stdout %s %s\n", ts2, tag, content[i:min(i+piece, n)])
		if tag == "F" {
			end = int64(b.Len())
		}
		if i%(7*piece) == 0 {
			b.WriteString(ts2 + " stderr F between\n")
		}
	}
	b.WriteString(ts2 + " stdout F after\n")
	return b.Bytes(), content, start, end
}

func TestDecoderCRILongRecords(t *testing.T) {
	for _, tc := range []struct {
		n, piece int
	}{
		{100 << 10, 16 << 10},
		{1 << 20, 16 << 10},
		{1<<20 + 1, 16 << 10},
		{5 << 20, 16 << 10},
		{100<<10 + 7, 8 << 10}, // CRI-O: 8 KiB pieces
		{300_001, 4097},        // odd sizes
	} {
		t.Run(fmt.Sprintf("%d/%d", tc.n, tc.piece), func(t *testing.T) {
			file, content, start, end := criFile(tc.n, tc.piece)
			got := decodeFile(t, DecoderConfig{}, file, 0, 0)
			var big []rec
			for _, r := range got {
				if r.Stream == StreamStdout && r.Content != "after" {
					big = append(big, r)
				}
			}
			if len(big) != 1 {
				t.Fatalf("%d stdout records, want 1", len(big))
			}
			r := big[0]
			wantLen, flags := tc.n, Flags(0)
			if tc.n > DefaultMaxRecordBytes {
				wantLen, flags = DefaultMaxRecordBytes, Truncated
			}
			if r.Content != string(content[:wantLen]) || r.Size != tc.n || r.Flags != flags ||
				r.Start != start || r.End != end || r.Time != t2 {
				t.Fatalf("got %v, want %d bytes of %d, flags %b, [%d,%d)", r, wantLen, tc.n, flags, start, end)
			}
			if n := strings.Count(fmt.Sprint(got), "between"); n != (tc.n+7*tc.piece-1)/(7*tc.piece) {
				t.Fatalf("%d interleaved stderr records", n)
			}
			// The stderr records inside the P sequence are committed only
			// up to the start of the open stdout record.
			for _, s := range got {
				if s.Content == "between" && s.Start < end && s.Commit != start {
					t.Fatalf("stderr record inside the P sequence has commit %d, want %d", s.Commit, start)
				}
			}
		})
	}
}

func TestDetectFormat(t *testing.T) {
	f := func(line string, want Format) {
		t.Helper()
		if got := DetectFormat([]byte(line)); got != want {
			t.Fatalf("DetectFormat(%q) = %v, want %v", line, got, want)
		}
	}
	f(ts1+" stdout F hi", FormatCRI)
	f(ts2+" stderr P", FormatCRI)
	f(`{"log":"hi\n","stream":"stdout","time":"`+ts1+`"}`, FormatDocker)
	f(`{"level":"info","msg":"hi"}`, FormatPlain)
	f("2024-05-01 10:00:00 INFO hi", FormatPlain)
	f("", FormatPlain)

	// Auto-detection happens once, on the first line; an override wins.
	data := []byte(ts1 + " stdout F cri\n" + `{"log":"x\n"}` + "\n")
	got := decodeFile(t, DecoderConfig{}, data, 0, 0)
	wantRecs(t, got,
		rec{"cri", 3, t1, StreamStdout, 0, "", 0, 36, 36},
		rec{`{"log":"x\n"}`, 13, 0, StreamNone, Malformed, "", 36, 50, 50})
	got = decodeFile(t, DecoderConfig{Format: FormatPlain}, data, 0, 0)
	wantRecs(t, got,
		rec{ts1 + " stdout F cri", 35, 0, StreamNone, 0, "", 0, 36, 36},
		rec{`{"log":"x\n"}`, 13, 0, StreamNone, 0, "", 36, 50, 50})

	for _, s := range []string{"auto", "cri", "docker", "json-file", "plain"} {
		if _, err := ParseFormat(s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ParseFormat("syslog"); err == nil {
		t.Fatal("ParseFormat(syslog) succeeded")
	}
}

func TestDecoderPlain(t *testing.T) {
	got := decodeFile(t, DecoderConfig{Format: FormatPlain, MaxRecordBytes: 8}, []byte("a\r\nb\n\n0123456789\nlast"), 4, 100)
	wantRecs(t, got,
		rec{"a", 1, 0, StreamNone, 0, "", 0, 3, 3},
		rec{"b", 1, 0, StreamNone, 0, "", 3, 5, 5},
		rec{"", 0, 0, StreamNone, 0, "", 5, 6, 6},
		rec{"01234567", 10, 0, StreamNone, Truncated, "", 6, 17, 17},
		rec{"last", 4, 0, StreamNone, Incomplete, "", 17, 21, 21})
}

func TestDecoderZeroAllocs(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  DecoderConfig
		line string
	}{
		{"cri", DecoderConfig{Format: FormatCRI}, ts2 + " stdout F " + strings.Repeat("x", 200)},
		{"docker", DecoderConfig{Format: FormatDocker}, `{"log":"` + strings.Repeat("x", 200) + `\n","stream":"stdout","time":"` + ts1 + `"}`},
		{"docker-escapes", DecoderConfig{Format: FormatDocker}, `{"log":"\u003chtml\u003e \"q\"\n","stream":"stdout","time":"` + ts1 + `"}`},
		{"plain", DecoderConfig{Format: FormatPlain}, strings.Repeat("x", 200)},
	} {
		d := NewDecoder(tc.cfg)
		line := []byte(tc.line)
		var off int64
		add := func() {
			l := Line{Data: line, Size: len(line), Start: off, End: off + int64(len(line)) + 1}
			off = l.End
			if _, ok := d.Add(l, 0); !ok {
				t.Fatalf("%s: no record", tc.name)
			}
		}
		add() // grow the scratch buffer
		if a := testing.AllocsPerRun(1000, add); a != 0 {
			t.Fatalf("%s: %v allocations per line, want 0", tc.name, a)
		}
	}
}

func FuzzCRI(f *testing.F) {
	f.Add([]byte(ts1+" stdout P ab\n"+ts1+" stderr F x\n"+ts1+" stdout F cd\n"), []byte("hello world"), uint64(3), uint16(5))
	f.Add([]byte("garbage\n"+ts2+" stdout F\n"+ts2+" stdout P"), []byte(""), uint64(0), uint16(0))
	f.Add([]byte(ts1+" stdout F:x a\r\n"), []byte(strings.Repeat("0123456789", 30)), uint64(99), uint16(64))
	for _, name := range []string{"cri-containerd.log", "cri-crio.log"} {
		data := bytes.Join(seeds(f, name), []byte("\n"))
		f.Add(data, data, uint64(len(data)), uint16(40))
	}
	f.Fuzz(func(t *testing.T, raw, content []byte, seed uint64, maxRec uint16) {
		cfg := DecoderConfig{Format: FormatCRI, MaxRecordBytes: 1 + int(maxRec)%200}
		// Arbitrary input: no panic, and the invariants decodeFile checks.
		decodeFile(t, cfg, raw, 1+int(seed%50), 1+int(seed>>8)%300)

		// Generated input: content (without newlines) split into pieces
		// over both streams; each record is the concatenation of its
		// pieces, cut at the cap.
		content = bytes.ReplaceAll(content, []byte("\n"), []byte("_"))
		var file bytes.Buffer
		var want [3][]string  // by stream
		var whole [3][]string // the same before the cap and the '\r' trim
		var cur [3][]byte
		var open [3]bool
		rnd := seed
		next := func(n uint64) uint64 { rnd = rnd*6364136223846793005 + 1442695040888963407; return (rnd >> 33) % n }
		for len(content) > 0 || next(3) == 0 {
			s := StreamStdout + Stream(next(2))
			n := min(int(next(20)), len(content))
			piece := content[:n]
			content = content[n:]
			tag := "P"
			if next(3) == 0 || len(content) == 0 {
				tag = "F"
			}
			fmt.Fprintf(&file, "%s %s %s %s\n", ts1, s, tag, piece)
			cur[s] = append(cur[s], piece...)
			open[s] = tag == "P"
			if tag == "F" {
				w := cur[s]
				if len(w) > 0 && w[len(w)-1] == '\r' {
					w = w[:len(w)-1]
				}
				if len(w) > cfg.MaxRecordBytes {
					w = cur[s][:cfg.MaxRecordBytes]
				}
				want[s] = append(want[s], string(w))
				whole[s] = append(whole[s], string(cur[s]))
				cur[s] = cur[s][:0]
			}
		}
		for s := range cur {
			if open[s] {
				want[s] = append(want[s], string(cur[s][:min(len(cur[s]), cfg.MaxRecordBytes)]))
				whole[s] = append(whole[s], string(cur[s]))
			}
		}
		bufSize := 1 + int(seed%50)
		var got [3][]string
		for _, r := range decodeFile(t, cfg, file.Bytes(), bufSize, 1<<10) {
			if r.Flags&Malformed != 0 {
				t.Fatalf("generated line flagged malformed: %v", r)
			}
			got[r.Stream] = append(got[r.Stream], r.Content)
		}
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
			t.Fatalf("\ngot  %q\nwant %q\nfile %q", got, want, file.Bytes())
		}

		// With the budget spent by the read buffer: lines longer than the
		// buffer and records being joined are cut, never framed otherwise.
		// The same records, each its content or the start of it, flagged
		// truncated with its whole size.
		mem := NewBudget(int64(bufSize))
		var cut [3][]rec
		for _, r := range decodeFile(t, DecoderConfig{Format: FormatCRI, MaxRecordBytes: cfg.MaxRecordBytes, Budget: mem}, file.Bytes(), bufSize, 1<<10) {
			if r.Flags&Malformed != 0 {
				t.Fatalf("generated line flagged malformed with the budget spent: %v", r)
			}
			cut[r.Stream] = append(cut[r.Stream], r)
		}
		for s := range want {
			if len(cut[s]) != len(want[s]) {
				t.Fatalf("stream %d with the budget spent: %d records, want %d:\n%v\nwant %q", s, len(cut[s]), len(want[s]), cut[s], want[s])
			}
			for i, r := range cut[s] {
				if r.Flags&Truncated == 0 && r.Content != want[s][i] ||
					r.Flags&Truncated != 0 && (r.Size != len(whole[s][i]) || !strings.HasPrefix(whole[s][i], r.Content)) {
					t.Fatalf("stream %d, record %d with the budget spent: %v, want %q", s, i, r, whole[s][i])
				}
			}
		}
		if now, _ := mem.Used(); now != 0 {
			t.Fatalf("%d bytes of the budget still taken after every buffer was given back", now)
		}
	})
}

// FuzzWholeCRI feeds the same lines to two CRI decoders, one through
// wholeCRI (the harvester's path for whole records) and AddTo for the lines
// it declines, the other through AddTo alone, and compares the records as the
// harvester makes documents of them.
func FuzzWholeCRI(f *testing.F) {
	f.Add([]byte(ts1+" stdout F ab\n"+ts1+" stderr P x\n"+ts1+" stdout F cd\r\n"+ts1+" stderr F y\n"), uint16(5), uint16(300))
	f.Add([]byte(ts2+" stdout F\n"+ts2+" stdout F \n2024-05-01T10:00:01.5Z stdout F:x a\ngarbage\n"), uint16(0), uint16(8))
	f.Add([]byte("2024-05-01T10:00:00.123+01:00 stdout F {}\n2024-05-01T10:00:00.1234567891Z stdout F z\n"), uint16(2), uint16(40))
	for _, name := range []string{"cri-containerd.log", "cri-crio.log"} {
		f.Add(bytes.Join(seeds(f, name), []byte("\n")), uint16(40), uint16(100))
	}
	f.Fuzz(func(t *testing.T, raw []byte, maxRec, maxLine uint16) {
		cfg := DecoderConfig{Format: FormatCRI, MaxRecordBytes: 1 + int(maxRec)%200}
		fast, slow := NewDecoder(cfg), NewDecoder(cfg)
		lim := 1 + int(maxLine)
		var start int64
		for _, line := range bytes.Split(raw, []byte("\n")) {
			size := len(line)
			if len(line) > lim {
				line = line[:lim] // cut by the line limit: Size says how long it was
			}
			l := Line{Data: line, Size: size, Start: start, End: start + int64(size) + 1}
			start = l.End
			var want Record
			wok := slow.AddTo(&want, &l, 0)
			sp, s, content, csize, fl, ok := fast.wholeCRI(line, size, l.End)
			var got Record
			gok := true
			if ok {
				got = Record{Content: content, Size: csize, Stream: s, Flags: fl, TimeText: line[:sp], Start: l.Start, End: l.End, Commit: l.End}
			} else {
				gok = fast.AddTo(&got, &l, 0)
			}
			if gok != wok {
				t.Fatalf("line %q: record %v, want %v", line, gok, wok)
			}
			if !gok {
				continue
			}
			if string(got.Content) != string(want.Content) || got.Size != want.Size || got.Flags != want.Flags || got.Stream != want.Stream ||
				got.Time != want.Time || string(got.TimeText) != string(want.TimeText) || got.Start != want.Start ||
				got.End != want.End || got.Commit != want.Commit || string(got.Attrs) != string(want.Attrs) {
				t.Fatalf("line %q:\ngot  %+v\nwant %+v", line, got, want)
			}
		}
	})
}
