package parse

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// appendBoth parses l with p (kept shapes) and with ref (every line
// classified) and fails when the documents or the Info differ.
func appendBoth(t testing.TB, p, ref *Parser, l *Line) {
	t.Helper()
	got, gi := p.Append(nil, l)
	want, wi := ref.Append(nil, l)
	if !bytes.Equal(got, want) || gi.Flags != wi.Flags || !bytes.Equal(gi.Dataset, wi.Dataset) {
		t.Fatalf("kept shape and classification differ\nin:     %q\nshape:  %s (%b, %q)\nclassy: %s (%b, %q)",
			l.Data, got, gi.Flags, gi.Dataset, want, wi.Flags, wi.Dataset)
	}
}

// TestShapesMatchClassification parses corpus lines, and the same lines
// with one member name changed in one byte, with one Parser, so that most
// lines meet a kept shape of their own names or of nearly the same names,
// and compares every document with a Parser that classifies each line.
func TestShapesMatchClassification(t *testing.T) {
	lines := corpusLines(3000)
	r := rand.New(rand.NewPCG(3, 4))
	edits := []byte("\"\\_.-aZ0 \x00\xe9")
	for _, fields := range []string{"", fuzzFields, `"service.name":"s","trace.id":"t"`} {
		p, ref := newTestParser(fuzzStatic), newTestParser(fuzzStatic)
		ref.noShapes = true
		for _, line := range lines {
			l := &Line{Data: line, Time: lineTime, Fields: []byte(fields)}
			appendBoth(t, p, ref, l)
			// The same line with a byte of a name changed, or a
			// name's length changed.
			if !p.scanObject(line, 0) || len(p.members) == 0 {
				t.Fatalf("corpus line not an object: %s", line)
			}
			m := p.members[r.IntN(len(p.members))]
			edited := bytes.Clone(line)
			switch at := int(m.ks) + r.IntN(int(m.ke-m.ks)); r.IntN(3) {
			case 0:
				edited[at] = edits[r.IntN(len(edits))]
			case 1:
				edited = append(edited[:at:at], append([]byte{'x'}, line[at:]...)...)
			case 2:
				edited = append(edited[:at:at], line[at+1:]...)
			}
			appendBoth(t, p, ref, &Line{Data: edited, Time: lineTime, Fields: []byte(fields)})
		}
	}
}

// TestShapeNameBoundaries parses lines whose member names differ in one
// byte, at every position of names of 0 to 40 bytes, one after the other
// with one Parser: such lines share a slot of the kept shapes (same member
// count, same first eight bytes of the first and last names), so a byte the
// word comparisons missed would reuse the classification of the other line
// (a repeated name taken for distinct names, "message" for "messagX").
func TestShapeNameBoundaries(t *testing.T) {
	p, ref := newTestParser(""), newTestParser("")
	ref.noShapes = true
	var bases [][]byte
	for n := 0; n <= 40; n++ {
		bases = append(bases, bytes.Repeat([]byte{'k'}, n))
	}
	for _, name := range idName {
		bases = append(bases, []byte(name))
	}
	for _, a := range bases {
		for at := range a {
			v := bytes.Clone(a)
			v[at] ^= 0x01
			for _, tmpl := range []string{`{"A":1,"B":2}`, `{"x":0,"A":"a","B":"b"}`, `{"A":"a","y":"0123456789abcdef","B":"b"}`} {
				for _, pair := range [][2][]byte{{a, v}, {a, a}, {v, v}, {v, a}, {a, v}} {
					line := bytes.Replace([]byte(tmpl), []byte("A"), pair[0], 1)
					line = bytes.Replace(line, []byte("B"), pair[1], 1)
					appendBoth(t, p, ref, &Line{Data: line, Time: lineTime})
				}
			}
		}
	}
}

// FuzzShapes parses two lines with one Parser, so that the second may meet
// the kept shape of the first, and compares the second document with a
// Parser that classifies every line.
func FuzzShapes(f *testing.F) {
	lines := corpusLines(20)
	for k := 0; k+1 < len(lines); k++ {
		f.Add(lines[k], lines[k+1])
		f.Add(lines[k], bytes.Replace(lines[k], []byte(`"level"`), []byte(`"levex"`), 1))
		f.Add(lines[k], bytes.Replace(lines[k], []byte(`":"`), []byte(`":1,"x":"`), 1))
	}
	f.Add([]byte(`{"a":1,"b":2}`), []byte(`{"a":1,"c":2}`))
	f.Add([]byte(`{"a\"b":1}`), []byte(`{"a\"c":1}`))
	f.Fuzz(func(t *testing.T, first, second []byte) {
		p, ref := newTestParser(fuzzStatic), newTestParser(fuzzStatic)
		ref.noShapes = true
		p.Append(nil, &Line{Data: first, Time: lineTime})
		appendBoth(t, p, ref, &Line{Data: second, Time: lineTime})
		appendBoth(t, p, ref, &Line{Data: first, Time: lineTime, Fields: []byte(fuzzFields)})
		appendBoth(t, p, ref, &Line{Data: second, Time: lineTime, Fields: []byte(fuzzFields)})
	})
}

// sameNames reports whether the members of a and b have the same raw
// names, in order: what shape.matches decides a word at a time.
func sameNames(a []byte, am []member, b []byte, bm []member) bool {
	if len(am) != len(bm) {
		return false
	}
	for k := range am {
		if string(a[am[k].ks:am[k].ke]) != string(b[bm[k].ks:bm[k].ke]) {
			return false
		}
	}
	return true
}

// checkMatches builds the shape of line a and checks shape.matches on the
// members of line b against sameNames.
func checkMatches(t testing.TB, a, b []byte) {
	t.Helper()
	p := newTestParser("")
	if !p.scanObject(a, 0) || len(p.members) == 0 || len(p.members) > maxFastMembers {
		return
	}
	am := append([]member(nil), p.members...)
	sh := p.shapeOf(a, &Line{Data: a})
	if sh == &p.tmp {
		return // not kept
	}
	var sc scanner
	if !sc.scanObject(b, 0) || len(sc.members) != len(am) {
		return
	}
	want := sameNames(a, am, b, sc.members)
	if got := sh.matches(b, sc.members); got != want {
		t.Fatalf("matches is %t, the names are equal: %t\na: %q\nb: %q", got, want, a, b)
	}
}

// TestShapeMatches compares shape.matches with a byte comparison of the
// names, for names of 0 to 40 bytes differing in one byte at each position,
// at the start, middle and very end of the line.
func TestShapeMatches(t *testing.T) {
	for n := 0; n <= 40; n++ {
		a := bytes.Repeat([]byte{'k'}, n)
		for at := -1; at < n; at++ {
			v := bytes.Clone(a)
			if at >= 0 {
				v[at] ^= 0x01
			}
			for _, tmpl := range []string{`{"A":1}`, `{"A":1,"z":2}`, `{"z":"0123456789abcdefghij","A":"B"}`} {
				la := bytes.Replace([]byte(tmpl), []byte("A"), a, 1)
				lb := bytes.Replace([]byte(tmpl), []byte("A"), v, 1)
				checkMatches(t, la, lb)
				checkMatches(t, lb, la)
			}
		}
	}
}

// FuzzShapeMatches compares shape.matches with a byte comparison of the
// names of two lines.
func FuzzShapeMatches(f *testing.F) {
	lines := corpusLines(10)
	for k := 0; k+1 < len(lines); k++ {
		f.Add(lines[k], lines[k+1])
		f.Add(lines[k], bytes.Replace(lines[k], []byte(`":"`), []byte(`x":"`), 1))
	}
	f.Add([]byte(`{"abcdefghijklmnop":1}`), []byte(`{"abcdefghijklmnoq":1}`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		checkMatches(t, a, b)
	})
}
