package file

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// growReader is a file being appended to: Read returns io.EOF at the current
// end, and more data can be appended later.
type growReader struct {
	data []byte
	pos  int
	rng  *rand.Rand // nil: reads fill the buffer
}

func (g *growReader) Read(p []byte) (int, error) {
	if g.pos >= len(g.data) {
		return 0, io.EOF
	}
	n := len(g.data) - g.pos
	if n > len(p) {
		n = len(p)
	}
	if g.rng != nil {
		switch g.rng.IntN(8) {
		case 0:
			return 0, nil // a spurious empty read
		case 1, 2, 3:
			n = 1 + g.rng.IntN(n)
		}
	}
	copy(p, g.data[g.pos:g.pos+n])
	g.pos += n
	if g.rng != nil && g.pos == len(g.data) && g.rng.IntN(2) == 0 {
		return n, io.EOF // data and EOF together
	}
	return n, nil
}

type gotLine struct {
	line string
	size int
	end  int64
}

// readAll calls Next until it returns an error.
func readAll(t testing.TB, r *LineReader) ([]gotLine, error) {
	t.Helper()
	var got []gotLine
	for {
		line, size, end, err := r.Next()
		if err != nil {
			if line != nil || size != 0 {
				t.Fatalf("Next returned line %q size %d with error %v", line, size, err)
			}
			return got, err
		}
		got = append(got, gotLine{string(line), size, end})
	}
}

// splitLines is the reference framing: split the whole input at '\n'.
func splitLines(data []byte, maxLine int, start int64) (lines []gotLine, pending Line) {
	off := start
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		l := data[:i]
		if len(l) > maxLine {
			l = l[:maxLine]
		}
		off += int64(i) + 1
		lines = append(lines, gotLine{string(l), i, off})
		data = data[i+1:]
	}
	if len(data) > 0 {
		p := data
		if len(p) > maxLine {
			p = p[:maxLine]
		}
		pending = Line{Data: p, Size: len(data), Start: off, End: off + int64(len(data))}
	}
	return lines, pending
}

func TestLineReader(t *testing.T) {
	f := func(name, in string, bufSize, maxLine int, want []gotLine, wantPending string, wantPendingSize int) {
		t.Helper()
		for _, random := range []bool{false, true} {
			g := &growReader{data: []byte(in)}
			if random {
				g.rng = rand.New(rand.NewPCG(1, 2))
			}
			r := NewLineReader(g, bufSize, maxLine, 100)
			got, err := readAll(t, r)
			if err != io.EOF {
				t.Fatalf("%s: err = %v, want io.EOF", name, err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s (random reads %v):\ngot  %v\nwant %v", name, random, got, want)
			}
			p, ok := r.Pending()
			if ok != (wantPendingSize > 0) || string(p.Data) != wantPending || p.Size != wantPendingSize {
				t.Fatalf("%s: Pending() = %q size %d ok %v, want %q size %d", name, p.Data, p.Size, ok, wantPending, wantPendingSize)
			}
			if ok && (p.Start != r.Offset() || p.End != p.Start+int64(p.Size) || p.End != 100+int64(len(in))) {
				t.Fatalf("%s: pending offsets %d..%d, Offset %d, input end %d", name, p.Start, p.End, r.Offset(), 100+len(in))
			}
			r.Release()
		}
	}
	f("empty", "", 16, 8, nil, "", 0)
	f("lines", "a\nbb\n\nccc\n", 16, 8,
		[]gotLine{{"a", 1, 102}, {"bb", 2, 105}, {"", 0, 106}, {"ccc", 3, 110}}, "", 0)
	f("unterminated tail is pending, not a line", "a\nbcd", 16, 8,
		[]gotLine{{"a", 1, 102}}, "bcd", 3)
	f("CR is kept", "a\r\n\r\n", 16, 8, []gotLine{{"a\r", 2, 103}, {"\r", 1, 105}}, "", 0)
	f("line exactly maxLine", "12345678\nx\n", 16, 8, []gotLine{{"12345678", 8, 109}, {"x", 1, 111}}, "", 0)
	f("line of maxLine+1 is cut", "123456789\nx\n", 16, 8, []gotLine{{"12345678", 9, 110}, {"x", 1, 112}}, "", 0)
	f("over-long line larger than the buffer", strings.Repeat("x", 100)+"\nab\n", 16, 8,
		[]gotLine{{"xxxxxxxx", 100, 201}, {"ab", 2, 204}}, "", 0)
	f("line longer than buffer but within maxLine", strings.Repeat("y", 40)+"\nab\n", 16, 64,
		[]gotLine{{strings.Repeat("y", 40), 40, 141}, {"ab", 2, 144}}, "", 0)
	f("over-long pending tail", "a\n"+strings.Repeat("z", 50), 16, 8,
		[]gotLine{{"a", 1, 102}}, "zzzzzzzz", 50)
	f("tiny buffer", "ab\ncd\n", 1, 8, []gotLine{{"ab", 2, 103}, {"cd", 2, 106}}, "", 0)
	f("maxLine 1", "ab\n\nc\n", 4, 1, []gotLine{{"a", 2, 103}, {"", 0, 104}, {"c", 1, 106}}, "", 0)
}

func TestLineReaderFollow(t *testing.T) {
	// The file grows while it is read: a line split across writes is
	// returned once complete, with exact offsets.
	g := &growReader{}
	r := NewLineReader(g, 8, 20, 0)
	defer r.Release()
	step := func(add string, want []gotLine) {
		t.Helper()
		g.data = append(g.data, add...)
		got, err := readAll(t, r)
		if err != io.EOF {
			t.Fatalf("err = %v", err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("after appending %q: got %v, want %v", add, got, want)
		}
	}
	step("", nil)
	step("hel", nil)
	step("lo\nwor", []gotLine{{"hello", 5, 6}})
	step("ld", nil)
	step("\n", []gotLine{{"world", 5, 12}})
	step(strings.Repeat("L", 30), nil) // over-long, still open
	if p, ok := r.Pending(); !ok || p.Size != 30 || len(p.Data) != 20 || p.Start != 12 {
		t.Fatalf("Pending = %q size %d start %d ok %v", p.Data, p.Size, p.Start, ok)
	}
	step(strings.Repeat("L", 30)+"\nok\n", []gotLine{{strings.Repeat("L", 20), 60, 73}, {"ok", 2, 76}})
	if cut, skipped := r.Stats(); cut != 1 || skipped != 40 {
		t.Fatalf("Stats = %d cut lines, %d skipped bytes; want 1, 40", cut, skipped)
	}

	// Reset after a truncation: read the new content from offset 0.
	r.Reset(strings.NewReader("new\n"), 0)
	got, _ := readAll(t, r)
	if fmt.Sprint(got) != fmt.Sprint([]gotLine{{"new", 3, 4}}) {
		t.Fatalf("after Reset: %v", got)
	}
}

type errReader struct {
	data string
	err  error
	done bool
}

func (e *errReader) Read(p []byte) (int, error) {
	if e.done {
		return 0, e.err
	}
	e.done = true
	return copy(p, e.data), e.err
}

func TestLineReaderErrors(t *testing.T) {
	boom := errors.New("boom")
	r := NewLineReader(&errReader{data: "a\nb", err: boom}, 16, 16, 0)
	defer r.Release()
	got, err := readAll(t, r)
	if !errors.Is(err, boom) || fmt.Sprint(got) != fmt.Sprint([]gotLine{{"a", 1, 2}}) {
		t.Fatalf("got %v, %v; want the line before the error, then the error", got, err)
	}
	if p, ok := r.Pending(); !ok || string(p.Data) != "b" {
		t.Fatalf("Pending after error = %q, %v; want the buffered tail kept", p.Data, ok)
	}

	r2 := NewLineReader(zeroReader{}, 16, 16, 0)
	defer r2.Release()
	if _, _, _, err := r2.Next(); err != io.ErrNoProgress {
		t.Fatalf("endless empty reads: err = %v, want io.ErrNoProgress", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestLineReaderZeroAllocs(t *testing.T) {
	data := bytes.Repeat([]byte(strings.Repeat("x", 99)+"\n"), 1000)
	rd := bytes.NewReader(data)
	r := NewLineReader(rd, 4096, 1024, 0)
	defer r.Release()
	allocs := testing.AllocsPerRun(10, func() {
		rd.Reset(data)
		r.Reset(rd, 0)
		for {
			if _, _, _, err := r.Next(); err != nil {
				break
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per 1000 lines, want 0", allocs)
	}
}

func FuzzLineReader(f *testing.F) {
	f.Add([]byte("a\nbb\n\nccc"), uint64(1), uint8(4), uint8(2), uint16(3))
	f.Add([]byte(strings.Repeat("x", 300)+"\n\r\nabc\n"), uint64(7), uint8(16), uint8(10), uint16(150))
	f.Add([]byte("\n\n\n"), uint64(3), uint8(1), uint8(1), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64, bufSize, maxLine uint8, cut uint16) {
		bs, ml := 1+int(bufSize)%64, 1+int(maxLine)%80
		const start = 1000
		want, wantPending := splitLines(data, ml, start)

		// Random short reads, and the file growing in two steps.
		c := min(int(cut), len(data))
		g := &growReader{data: data[:c:c], rng: rand.New(rand.NewPCG(seed, seed>>7))}
		r := NewLineReader(g, bs, ml, start)
		defer r.Release()
		got1, err := readAll(t, r)
		if err != io.EOF {
			t.Fatalf("err = %v", err)
		}
		g.data = data
		got2, err := readAll(t, r)
		if err != io.EOF {
			t.Fatalf("err = %v", err)
		}
		got := append(got1, got2...)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("buf %d max %d cut %d:\ngot  %v\nwant %v", bs, ml, c, got, want)
		}
		p, ok := r.Pending()
		if ok != (wantPending.Size > 0) || !bytes.Equal(p.Data, wantPending.Data) || p.Size != wantPending.Size ||
			p.Start != wantPending.Start || p.End != wantPending.End {
			t.Fatalf("Pending = %+v %v, want %+v", p, ok, wantPending)
		}
		if wantOff := int64(start + len(data) - wantPending.Size); r.Offset() != wantOff {
			t.Fatalf("Offset = %d, want %d", r.Offset(), wantOff)
		}

		// With the budget spent by the read buffer: lines are cut where
		// the budget runs out, but never within their first lineHead
		// bytes, which here hold them up to maxLine: the same lines.
		mem := NewBudget(int64(bs))
		g = &growReader{data: data, rng: rand.New(rand.NewPCG(seed, seed>>7))}
		r2 := NewLineReader(g, bs, ml, start)
		r2.SetBudget(mem)
		got, err = readAll(t, r2)
		if err != io.EOF {
			t.Fatalf("with the budget spent: err = %v", err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("buf %d max %d, the budget spent:\ngot  %v\nwant %v", bs, ml, got, want)
		}
		if p, ok := r2.Pending(); ok != (wantPending.Size > 0) || !bytes.Equal(p.Data, wantPending.Data) || p.Size != wantPending.Size {
			t.Fatalf("with the budget spent: Pending = %+v %v, want %+v", p, ok, wantPending)
		}
		r2.Release()
		if now, _ := mem.Used(); now != 0 {
			t.Fatalf("%d bytes of the budget still taken after Release", now)
		}
	})
}

func TestLineReaderPark(t *testing.T) {
	g := &growReader{}
	r := NewLineReader(g, 16, 40, 0)
	defer r.Release()
	next := func(want ...string) {
		t.Helper()
		got, err := readAll(t, r)
		if err != io.EOF {
			t.Fatalf("err %v", err)
		}
		var s []string
		for _, l := range got {
			s = append(s, l.line)
		}
		if fmt.Sprint(s) != fmt.Sprint(want) {
			t.Fatalf("got %q, want %q", s, want)
		}
	}
	g.data = append(g.data, "one\ntw"...)
	next("one")
	if r.Park() {
		t.Fatal("parked with a partial line buffered")
	}
	g.data = append(g.data, "o\n"...)
	next("two")
	if !r.Park() || r.buf != nil {
		t.Fatal("not parked at a line boundary")
	}
	if r.Buffered() {
		t.Fatal("a parked reader has nothing buffered")
	}
	g.data = append(g.data, strings.Repeat("x", 50)+"\nthree\n"...) // an over-long line after parking
	next(strings.Repeat("x", 40), "three")
	if p, ok := r.Pending(); ok {
		t.Fatalf("pending %+v", p)
	}
	if off := r.Offset(); off != int64(len(g.data)) {
		t.Fatalf("offset %d, want %d", off, len(g.data))
	}
}
