package parse

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

func stopRef(c byte) bool { return c == '"' || c == '\\' || c < 0x20 || c >= 0x80 }

// TestStopsAVX2 compares the vector marks with a byte-at-a-time reference on
// every byte value at every position of a block, and on random lines of
// every length up to 300.
func TestStopsAVX2(t *testing.T) {
	if !haveAVX2 {
		t.Skip("no AVX2 here")
	}
	var blk [128]byte
	out := make([]byte, 16)
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 128; pos++ {
			for k := range blk {
				blk[k] = 'a'
			}
			blk[pos] = byte(c)
			stopsAVX2(blk[:], out)
			for k := range blk {
				got := out[k>>3]>>(k&7)&1 != 0
				if got != stopRef(blk[k]) {
					t.Fatalf("byte %#x at %d: mark at %d is %v", c, pos, k, got)
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ab\"\\\x00\x1f \x7f\x80\xff{}:,")
	var sc scanner
	for n := 0; n <= 300; n++ {
		for rep := 0; rep < 20; rep++ {
			s := make([]byte, n)
			for k := range s {
				s[k] = alphabet[r.IntN(len(alphabet))]
			}
			// Marks everywhere first: index must clear what it
			// does not set.
			sc.index(bytes.Repeat([]byte{'"'}, 400))
			sc.index(s)
			for j := 0; j <= n; j++ {
				want := j
				for want < n && !stopRef(s[want]) {
					want++
				}
				sc.indexed = true
				got := sc.stopAt(j)
				if want == n && got >= n {
					continue
				}
				if got != want {
					t.Fatalf("len %d, next(%d) = %d, want %d: %q", n, j, got, want, s)
				}
			}
		}
	}
}

// TestDigitsEnd compares digitsEnd with a byte loop on every byte value at
// every position, and at every start.
func TestDigitsEnd(t *testing.T) {
	s := make([]byte, 20)
	for c := 0; c < 256; c++ {
		for pos := range s {
			for k := range s {
				s[k] = '7'
			}
			s[pos] = byte(c)
			for i := 0; i <= len(s); i++ {
				want := i
				for want < len(s) && s[want] >= '0' && s[want] <= '9' {
					want++
				}
				if got := digitsEnd(s, i); got != want {
					t.Fatalf("byte %#x at %d: digitsEnd(%d) = %d, want %d", c, pos, i, got, want)
				}
			}
		}
	}
}

// TestIndexedScanMatchesPlain parses corpus lines, whole and cut at many
// points (most cuts make them malformed, with an error offset), with and
// without the structural index: the documents must be the same bytes.
func TestIndexedScanMatchesPlain(t *testing.T) {
	if !haveAVX2 {
		t.Skip("no AVX2 here: every scan is plain")
	}
	indexed, plain := newTestParser(benchStatic), newTestParser(benchStatic)
	plain.noIndex = true
	for k, line := range corpusLines(3000) {
		for _, cut := range []int{len(line), len(line) - 1, len(line) / 2, 63, 64, 65, 127, 128, k % len(line)} {
			if cut > len(line) || cut <= 0 {
				continue
			}
			l := &Line{Data: line[:cut], Time: lineTime}
			if cut < len(line) {
				l.Size = len(line)
			}
			got, gi := indexed.Append(nil, l)
			want, wi := plain.Append(nil, l)
			if !bytes.Equal(got, want) || gi.Flags != wi.Flags {
				t.Fatalf("in: %q\nindex:    %s\nno index: %s", l.Data, got, want)
			}
		}
	}
}

// TestIndexScratchTrimmed checks that the index of a huge line is not kept
// after it: a Parser holds at most keepScratch/8 bytes of index between
// lines (the index of a 1 MiB line), like its other scratch buffers.
func TestIndexScratchTrimmed(t *testing.T) {
	if !haveAVX2 {
		t.Skip("no AVX2 here: no index")
	}
	p := newTestParser("")
	huge := append([]byte(`{"message":"`), bytes.Repeat([]byte("x"), 4<<20)...)
	huge = append(huge, `"}`...)
	p.Append(nil, &Line{Data: huge, Time: lineTime})
	if c := cap(p.stop); c > keepScratch/8 {
		t.Fatalf("after a %d-byte line the parser keeps %d bytes of index", len(huge), c)
	}
	small := []byte(`{"message":"m"}`)
	out, _ := p.Append(nil, &Line{Data: small, Time: lineTime})
	if !bytes.Contains(out, []byte(`"message":"m"`)) {
		t.Fatalf("after the trim: %s", out)
	}
}

// TestScanPlainMatchesGeneral checks scanPlain and skipPlain, the loops of
// compact members, where they hand over to the general loops: after every kind of value, before
// whitespace, escapes, non-ASCII bytes and errors, and with each line cut at
// every length. The documents and errors must be those of the scan without
// the index, which never takes scanPlain.
func TestScanPlainMatchesGeneral(t *testing.T) {
	if !haveAVX2 {
		t.Skip("no AVX2 here: every scan is plain")
	}
	lines := []string{
		`{"a":"b","c":1,"d":12.5,"e":3e7,"f":-1,"g":0,"h":{"x":[1,2]},"i":[],"j":true,"k":null,"l":"m"}`,
		`{"":[], "a":"b"}`,
		`{"a":"b" ,"c":"d"}`,
		`{"a":"b",` + "\n" + `"c":"d"}`,
		`{"a":"b"}  `,
		`{"a":"b"}x`,
		`{"a" :"b","c":"d"}`,
		`{"a": "b","c":"d"}`,
		`{"a":"b\"c","d":"é","e\n":"f","g":"h"}`,
		`{"a":"b","c":1.,"d":"e"}`,
		`{"a":"b","c":1e,"d":"e"}`,
		`{"a":"b","c":12x,"d":"e"}`,
		`{"a":"b","c":{"d":},"e":"f"}`,
		`{"a":"b","c":"d",}`,
		`{"a":"b","c":"d"`,
		`{"a":"b","c":"d","a":"e"}`,
		`{"level":"info","time":"2026-11-23T10:00:00.000290Z","msg":"x","n":123456789012345678901234567890}`,
		`{"http":{"method":"GET","status":200,"url":"/a"},"b":[{"c":"d","e":1},{"f":{"g":"h"}}],"i":"j"}`,
		`{"h":{"a":"b", "c":"d"},"e":{"f" :1},"g":{"h": "i"},"j":{"k":"l" ,"m":2}}`,
		`{"h":{"a":"b\n","c":"é","d":1.5,"e":-2,"f":0,"g":true,"h":null,"i":[]},"z":1}`,
		`{"h":{"a":"b","c":},"z":1}`,
		`{"h":{"a":"b","c":"d",},"z":1}`,
		`{"h":{"a":"b","c":"d"]},"z":1}`,
		`{"h":{"a":"b" "c":"d"},"z":1}`,
		`{"a":"b","c":1.5e3,"d":1.25E-2,"e":7.,"f":"g"}`,
		`{"a":1.5.2,"b":"c"}`,
		`{"a":1.5,"b":2.50,"c":"d","e":1.0}`,
		`{"a":12.x,"b":"c"}`,
		`{"h":{"a":1.5,"b":2.5e1,"c":3.},"z":1.0}`,
	}
	// Keys and values of lengths around those of the marks read at once
	// (57 to 64 from the key), at each offset of a word.
	for _, pad := range []int{0, 3, 7} {
		for _, kl := range []int{1, 20, 50, 55, 56, 57, 58, 63, 64, 70} {
			for _, vl := range []int{0, 1, 30, 50, 55, 60, 64, 70, 130} {
				lines = append(lines, `{"p":"`+strings.Repeat("p", pad)+`","`+strings.Repeat("k", kl)+`":"`+strings.Repeat("v", vl)+`","z":1}`)
			}
		}
	}
	indexed, plain := newTestParser(benchStatic), newTestParser(benchStatic)
	plain.noIndex = true
	for _, line := range lines {
		for cut := 1; cut <= len(line); cut++ {
			l := &Line{Data: []byte(line[:cut]), Time: lineTime}
			got, gi := indexed.Append(nil, l)
			want, wi := plain.Append(nil, l)
			if !bytes.Equal(got, want) || gi.Flags != wi.Flags {
				t.Fatalf("in: %q\nindex:    %s\nno index: %s", l.Data, got, want)
			}
		}
	}
}
