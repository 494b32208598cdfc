package forward

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestScanDocker(t *testing.T) {
	rec := mp().mapStr("container_id", "c1", "container_name", "/web-1", "source", "stderr", "log", "hello",
		"partial_message", "true", "partial_id", "p1", "partial_ordinal", "2", "partial_last", "false", "com.example.team", "pay")
	var f DockerFields
	if err := ScanDocker(rec, &f); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%s|%s|%s|%s|%s|%s|%s|%s|%v|%v|%v", f.Log, f.ContainerID, f.ContainerName, f.Source,
		f.PartialMessage, f.PartialID, f.PartialOrdinal, f.PartialLast, f.IsDocker, f.Partial(), f.Last())
	if want := "hello|c1|/web-1|stderr|true|p1|2|false|true|true|false"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}

	// Non-str values, other key types, nested values and wider encodings.
	rec = mp().map32(5).int(1).mapStr("log", "no").str8("log").str16("").str("source").int(1).
		str("container_id").bin([]byte("b")).str("x").arr(2).str("log").str("y")
	if err := ScanDocker(rec, &f); err != nil {
		t.Fatal(err)
	}
	if !f.IsDocker || f.Log == nil || len(f.Log) != 0 || f.Source != nil || f.ContainerID != nil {
		t.Errorf("got %+v", f)
	}
	if err := ScanDocker(mp().mapStr("message", "x"), &f); err != nil || f.IsDocker {
		t.Errorf("record without log: IsDocker=%v, %v", f.IsDocker, err)
	}
	if err := ScanDocker(mp().mapH(1).str("log").int(1), &f); err != nil || f.IsDocker {
		t.Errorf("log not a str: IsDocker=%v, %v", f.IsDocker, err)
	}
	for _, bad := range [][]byte{nil, mp().arr(0), rec[:len(rec)-1], append(mp().mapH(0), 1)} {
		if err := ScanDocker(bad, &f); err == nil {
			t.Errorf("%x: no error", bad)
		}
	}
}

// dockerRec builds a record the way moby's fluentd driver does.
func dockerRec(source, log string, partial ...string) []byte {
	kv := []string{"container_id", "cid", "container_name", "/web", "source", source, "log", log, "team", "pay"}
	if len(partial) == 3 {
		kv = append(kv, "partial_message", "true", "partial_id", partial[0], "partial_ordinal", partial[1], "partial_last", partial[2])
	}
	if len(partial) == 1 { // Docker before partial ids
		kv = append(kv, "partial_message", "true")
	}
	return mp().mapStr(kv...)
}

func TestJoiner(t *testing.T) {
	type in struct {
		now int64
		rec []byte
	}
	f := func(name string, j *Joiner, ins []in, flush bool, want ...string) {
		t.Helper()
		var got []string
		emit := func(l *Line) error {
			other, err := AppendOtherMembers(nil, l.Record, DockerKey)
			if err != nil {
				t.Fatalf("%s: record of line: %v", name, err)
			}
			s := fmt.Sprintf("%s:%q size=%d pieces=%d", l.Fields.Source, l.Log, l.Size, l.Pieces)
			if l.Incomplete {
				s += " incomplete"
			}
			if l.Truncated() {
				s += " truncated"
			}
			if string(l.Fields.Log) != string(l.Log) || l.Time != 7 || string(other) != `"team":"pay"` {
				s += fmt.Sprintf(" BAD(fields.log=%q time=%d other=%s)", l.Fields.Log, l.Time, other)
			}
			got = append(got, s)
			return nil
		}
		for _, x := range ins {
			var fs DockerFields
			if err := ScanDocker(x.rec, &fs); err != nil {
				t.Fatal(err)
			}
			// passes (the server's shortcut) must agree with Add:
			// one Line, the record's whole.
			pass, n := j.passes(&fs), len(got)
			if err := j.Add(x.now, 7, x.rec, &fs, emit); err != nil {
				t.Fatal(err)
			}
			if pass {
				w := *j.whole(7, x.rec, &fs)
				if len(got) != n+1 || w.Pieces != 1 || w.Incomplete || string(w.Log) != string(fs.Log) ||
					!strings.HasPrefix(got[n], fmt.Sprintf("%s:%q size=%d pieces=1", fs.Source, fs.Log, len(fs.Log))) {
					t.Errorf("%s: passes, but Add emitted %q", name, got[n:])
				}
			}
		}
		if flush {
			j.Flush(emit)
		}
		if j.Pending() != 0 && flush {
			t.Errorf("%s: %d pending after Flush", name, j.Pending())
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s:\ngot\n  %s\nwant\n  %s", name, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
	f("whole lines pass through", &Joiner{}, []in{{1, dockerRec("stdout", "a")}, {1, dockerRec("stderr", "b")}}, false,
		`stdout:"a" size=1 pieces=1`, `stderr:"b" size=1 pieces=1`)
	f("split line joined", &Joiner{}, []in{
		{1, dockerRec("stdout", "aa", "p1", "1", "false")},
		{1, dockerRec("stdout", "bb", "p1", "2", "false")},
		{1, dockerRec("stdout", "c", "p1", "3", "true")},
		{1, dockerRec("stdout", "next")},
	}, false, `stdout:"aabbc" size=5 pieces=3`, `stdout:"next" size=4 pieces=1`)
	f("EOF mid-line: last=false, then Flush", &Joiner{}, []in{
		{1, dockerRec("stdout", "aa", "p1", "1", "false")},
		{1, dockerRec("stdout", "bb", "p1", "2", "false")},
	}, true, `stdout:"aabb" size=4 pieces=2 incomplete`)
	f("EOF mid-line: next line flushes it", &Joiner{}, []in{
		{1, dockerRec("stdout", "aa", "p1", "1", "false")},
		{1, dockerRec("stdout", "whole")},
	}, false, `stdout:"aa" size=2 pieces=1 incomplete`, `stdout:"whole" size=5 pieces=1`)
	f("EOF mid-line: next split line flushes it", &Joiner{}, []in{
		{1, dockerRec("stdout", "aa", "p1", "1", "false")},
		{1, dockerRec("stdout", "xx", "p2", "1", "false")},
		{1, dockerRec("stdout", "yy", "p2", "2", "true")},
	}, false, `stdout:"aa" size=2 pieces=1 incomplete`, `stdout:"xxyy" size=4 pieces=2`)
	f("stdout and stderr interleave", &Joiner{}, []in{
		{1, dockerRec("stdout", "o1", "p1", "1", "false")},
		{1, dockerRec("stderr", "e")},
		{1, dockerRec("stderr", "E1", "p2", "1", "false")},
		{1, dockerRec("stdout", "o2", "p1", "2", "true")},
		{1, dockerRec("stderr", "E2", "p2", "2", "true")},
	}, false, `stderr:"e" size=1 pieces=1`, `stdout:"o1o2" size=4 pieces=2`, `stderr:"E1E2" size=4 pieces=2`)
	f("truncated at MaxLineBytes, on a rune boundary", &Joiner{MaxLineBytes: 6}, []in{
		{1, dockerRec("stdout", "abcd", "p1", "1", "false")},
		{1, dockerRec("stdout", "éé", "p1", "2", "false")},
		{1, dockerRec("stdout", "xyz", "p1", "3", "true")},
	}, false, `stdout:"abcdé" size=11 pieces=3 truncated`)
	f("MaxPending evicts the least recently extended", &Joiner{MaxPending: 1}, []in{
		{1, dockerRec("stdout", "o1", "p1", "1", "false")},
		{2, dockerRec("stderr", "e1", "p2", "1", "false")},
		{3, dockerRec("stderr", "e2", "p2", "2", "true")},
	}, false, `stdout:"o1" size=2 pieces=1 incomplete`, `stderr:"e1e2" size=4 pieces=2`)
	f("Docker before partial ids: the non-partial record ends the line", &Joiner{}, []in{
		{1, dockerRec("stdout", "aa", "old")},
		{1, dockerRec("stdout", "bb", "old")},
		{1, dockerRec("stdout", "cc")},
	}, false, `stdout:"aabbcc" size=6 pieces=3`)

	j := &Joiner{}
	f("pending before FlushIdle", j, []in{
		{10, dockerRec("stdout", "o", "p1", "1", "false")},
		{20, dockerRec("stderr", "e", "p2", "1", "false")},
	}, false)
	if now, ok := j.OldestPiece(); !ok || now != 10 {
		t.Errorf("OldestPiece: got %d, %v, want 10, true", now, ok)
	}
	var got []string
	emit := func(l *Line) error { got = append(got, string(l.Log)); return nil }
	j.FlushIdle(15, emit)
	if fmt.Sprint(got) != "[o]" || j.Pending() != 1 {
		t.Errorf("FlushIdle(15): got %v, pending %d", got, j.Pending())
	}
	j.FlushIdle(20, emit)
	if fmt.Sprint(got) != "[o e]" || j.Pending() != 0 {
		t.Errorf("FlushIdle(20): got %v, pending %d", got, j.Pending())
	}
	if _, ok := j.OldestPiece(); ok {
		t.Errorf("OldestPiece with nothing pending: ok")
	}
}

func TestJoinerZeroAllocs(t *testing.T) {
	recs := [][]byte{
		dockerRec("stdout", strings.Repeat("a", 1000), "p1", "1", "false"),
		dockerRec("stdout", strings.Repeat("b", 1000), "p1", "2", "true"),
		dockerRec("stderr", "whole"),
	}
	var j Joiner
	var total int
	emit := func(l *Line) error { total += len(l.Log); return nil }
	var f DockerFields
	run := func() {
		for _, r := range recs {
			ScanDocker(r, &f)
			j.Add(0, 0, r, &f, emit)
		}
	}
	run()
	if allocs := testing.AllocsPerRun(100, run); allocs != 0 {
		t.Errorf("allocations: got %v, want 0", allocs)
	}
}

// TestJoinerBudget: with a buffer budget, a line longer than joinFreeBytes
// is joined while the budget has room and shipped in pieces, flagged
// Incomplete, when it has none; no text is lost and the budget is given back
// once nothing is pending.
func TestJoinerBudget(t *testing.T) {
	var line strings.Builder
	for i := 0; line.Len() < 300<<10; i++ {
		fmt.Fprintf(&line, "%08d ", i)
	}
	f := func(limit int64, wantLines int) {
		t.Helper()
		b := newBufferBudget(limit, 0)
		j := Joiner{MaxLineBytes: 1 << 20, mem: b}
		var got strings.Builder
		var lines, incomplete int
		emit := func(l *Line) error {
			got.Write(l.Log)
			lines++
			if l.Incomplete {
				incomplete++
			}
			return nil
		}
		var df DockerFields
		s := line.String()
		for i, n := 0, 0; n < len(s); i++ {
			piece := s[n:min(n+16384, len(s))]
			n += len(piece)
			rec := dockerRec("stdout", piece, "p1", fmt.Sprint(i+1), fmt.Sprint(n == len(s)))
			ScanDocker(rec, &df)
			if err := j.Add(0, 0, rec, &df, emit); err != nil {
				t.Fatal(err)
			}
			if st := b.stats(); st.used > limit {
				t.Fatalf("budget %d: %d bytes used", limit, st.used)
			}
		}
		// Every part of a line shipped in pieces is flagged.
		wantIncomplete := wantLines
		if wantLines == 1 {
			wantIncomplete = 0
		}
		if got.String() != s || lines != wantLines || incomplete != wantIncomplete {
			t.Errorf("budget %d: got %d bytes in %d lines (%d incomplete), want %d bytes in %d lines (%d incomplete)",
				limit, got.Len(), lines, incomplete, len(s), wantLines, wantIncomplete)
		}
		if st := b.stats(); st.used != 0 || j.held != 0 {
			t.Errorf("budget %d: %d bytes still used, Joiner holds %d", limit, st.used, j.held)
		}
	}
	f(1<<20, 1)
	// Room for a line of about 128 KiB beyond the Joiner's own 64 KiB.
	f(100<<10, 3)
	b := newBufferBudget(1<<20, 0)
	b.tryAcquire(1<<20, false) // no room at all: a line of 64 KiB at most
	j := Joiner{mem: b}
	var lines int
	var df DockerFields
	for i := range 10 {
		rec := dockerRec("stdout", strings.Repeat("x", 16384), "p1", fmt.Sprint(i+1), fmt.Sprint(i == 9))
		ScanDocker(rec, &df)
		_ = j.Add(0, 0, rec, &df, func(l *Line) error { lines++; return nil })
	}
	if lines < 3 || j.held != 0 {
		t.Errorf("no budget: %d lines, Joiner holds %d", lines, j.held)
	}
}

// scanDockerGeneral is ScanDocker without its fast path for str members:
// the reference FuzzScanDocker compares it with.
func scanDockerGeneral(record []byte, f *DockerFields) error {
	*f = DockerFields{}
	h, err := readHdr(record)
	if err != nil {
		return errRecordShort
	}
	if h.k != kMap {
		return errNotMap
	}
	off := h.size
	for i := 0; i < h.n; i++ {
		kh, err := readHdr(record[off:])
		if err != nil || kh.end() > len(record)-off {
			return errRecordShort
		}
		var key []byte
		if kh.k == kStr {
			key = record[off+kh.size : off+kh.end()]
		}
		if off, err = next(record, off, &kh); err != nil {
			return err
		}
		vh, err := readHdr(record[off:])
		if err != nil || vh.end() > len(record)-off {
			return errRecordShort
		}
		var val []byte
		if vh.k == kStr {
			val = record[off+vh.size : off+vh.end()]
		}
		if off, err = next(record, off, &vh); err != nil {
			return err
		}
		switch {
		case val != nil:
			f.set(key, val)
		case key == nil || !DockerKey(key):
			f.Others++
		}
	}
	if off != len(record) {
		return errTrailing
	}
	return nil
}

// FuzzScanDocker: ScanDocker finds what the general msgpack walk finds, the
// Decoder's scanDocker (the entries of batched requests) what ScanDocker
// finds, zero fields where it fails, and a record whose Others is 0 has no
// label for appendLabels to add.
func FuzzScanDocker(f *testing.F) {
	f.Add([]byte(dockerRec("stdout", "hello")))
	f.Add([]byte(dockerRec("stderr", "a", "p1", "1", "false")))
	f.Add([]byte(mp().mapStr("container_id", "c", "source", "stdout", "log", "x")))
	f.Add([]byte(mp().map32(5).int(1).mapStr("log", "no").str8("log").str16("").str("source").int(1).
		str("container_id").bin([]byte("b")).str("x").arr(2).str("log").str("y")))
	f.Add([]byte(mp().mapH(2).str("log").str("x").bin([]byte("team")).str("pay")))
	f.Fuzz(func(t *testing.T, rec []byte) {
		var got, want DockerFields
		err := ScanDocker(rec, &got)
		werr := scanDockerGeneral(rec, &want)
		if (err == nil) != (werr == nil) || err == nil && dockerFieldsString(&got) != dockerFieldsString(&want) {
			t.Fatalf("%x: ScanDocker %s, %v; general walk %s, %v", rec, dockerFieldsString(&got), err, dockerFieldsString(&want), werr)
		}
		if len(rec) > 0 {
			if err != nil {
				got = DockerFields{}
			}
			var d Decoder
			if fast := d.scanDocker(rec); dockerFieldsString(fast) != dockerFieldsString(&got) {
				t.Fatalf("%x: Decoder.scanDocker %s; ScanDocker %s, %v", rec, dockerFieldsString(fast), dockerFieldsString(&got), err)
			}
		}
		if err == nil && got.Others == 0 {
			if labels := appendLabels(nil, rec); len(labels) > 0 {
				t.Fatalf("%x: Others is 0 but appendLabels adds %s", rec, labels)
			}
		}
	})
}

func dockerFieldsString(f *DockerFields) string {
	// nil and empty differ: an absent key and an empty value.
	q := func(b []byte) string {
		if b == nil {
			return "nil"
		}
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("log=%s id=%s name=%s source=%s pm=%s pid=%s po=%s pl=%s docker=%v others=%d",
		q(f.Log), q(f.ContainerID), q(f.ContainerName), q(f.Source), q(f.PartialMessage), q(f.PartialID),
		q(f.PartialOrdinal), q(f.PartialLast), f.IsDocker, f.Others)
}

// The one-pass decoding of a Message request finds the Docker keys by hash
// and compare: keys that differ from them by a byte, a length or a NUL are
// other keys, in any order and with the record at any distance from the
// buffer's end.
func TestDecodeMessageDockerKeys(t *testing.T) {
	kv := []string{"log", "a line", "container_id", "7f3a9c2e", "container_name", "/web-1", "source", "stdout",
		"partial_message", "true", "partial_id", "p1", "partial_ordinal", "2", "partial_last", "false",
		"lo", "x", "logs", "x", "log\x00", "x", "Log", "x", "container_idx", "x", "container_i", "x", "partial_lasT", "x",
		"partial_ordinaL", "x", "partial_message\x00", "x", "source\x00\x00", "x", "", "x", "a-key-longer-than-fifteen", "x",
		"a*n4ainer_name", "x"} // hashes like container_name
	for shift := 0; shift < len(kv)/2; shift++ {
		rot := append(append([]string{}, kv[2*shift:]...), kv[:2*shift]...)
		req := mp().arr(3).str("docker.web").int(t0).mapStr(rot...)
		for pad := 0; pad < 30; pad++ {
			buf := append(append([]byte{}, req...), make([]byte, pad)...)
			got, n, err := NewDecoder(Limits{}).Decode(buf)
			if err != nil || n != len(req) || got.docker == nil {
				t.Fatalf("shift %d pad %d: n=%d err=%v docker=%v", shift, pad, n, err, got.docker)
			}
			var want DockerFields
			if err := ScanDocker(got.Entries[0].Record, &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got.docker, want) || want.Others != 13 || string(want.PartialOrdinal) != "2" {
				t.Fatalf("shift %d pad %d: got %+v, ScanDocker %+v", shift, pad, *got.docker, want)
			}
		}
	}
}
