package scrub

import (
	"bytes"
	"testing"
)

// FuzzAppend: no panic; with no replacement dst is untouched; with some,
// the output without the replacement texts is a subsequence of the input
// (nothing is added but replacement text, nothing is reordered), and a second
// pass over the output finds at most the replacement texts themselves.
func FuzzAppend(f *testing.F) {
	for _, l := range secretLines {
		in, _, _ := unmark(l)
		f.Add([]byte(in))
	}
	for _, l := range nearMisses {
		f.Add([]byte(l))
	}
	s, err := Compile(Names(), []string{`password=(?P<secret>\S+)`}, Options{Replacement: "\x00"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if bytes.IndexByte(in, 0) >= 0 {
			return
		}
		out, n := s.Append([]byte("p"), in)
		if n == 0 {
			if string(out) != "p" {
				t.Fatalf("no replacement but output %q", out)
			}
			return
		}
		kept := bytes.ReplaceAll(out[1:], []byte{0}, nil)
		if len(kept) >= len(in) || !isSubsequence(kept, in) {
			t.Fatalf("output %q is not the input %q with pieces replaced", out, in)
		}
		if got := bytes.Count(out, []byte{0}); got != n {
			t.Fatalf("%d replacement texts, count %d", got, n)
		}
	})
}

func isSubsequence(a, b []byte) bool {
	i := 0
	for _, c := range b {
		if i < len(a) && a[i] == c {
			i++
		}
	}
	return i == len(a)
}

// FuzzCompileCustom: any custom expression either fails to compile or
// scrubs without panic.
func FuzzCompileCustom(f *testing.F) {
	f.Add(`password=(?P<secret>\S+)`, "password=x y")
	f.Add(`(?P<secret>)a`, "aaa")
	f.Fuzz(func(t *testing.T, expr, in string) {
		s, err := Compile(nil, []string{expr}, Options{})
		if err != nil {
			return
		}
		s.Append(nil, []byte(in))
	})
}
