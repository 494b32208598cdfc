package kv

import (
	"bytes"
	"testing"
)

// FuzzParse: no panic for any options and input; without a prefix every key
// and value is a piece of the input, and keys are never empty.
func FuzzParse(f *testing.F) {
	f.Add(" ", "=", "", false, false, `a=1 b="two words" c=3`)
	f.Add("&?", "=:", "kv_", true, false, `x=(a b) y=[c] z=<d> w='e'`)
	f.Add(",", "=", "", false, true, `a="\"`)
	f.Add(" ", "=", "", true, true, "a = 1 b= c =\t3")
	f.Fuzz(func(t *testing.T, fs, vs, prefix string, brackets, lenient bool, in string) {
		p, err := New(Options{FieldSplit: fs, ValueSplit: vs, Prefix: prefix, StripBrackets: brackets, Lenient: lenient, DropEmptyValues: lenient, TrimValue: " "})
		if err != nil {
			return
		}
		src := []byte(in)
		out := p.Parse(src, nil)
		if len(out) > len(src) {
			t.Fatalf("%d fields from %d bytes", len(out), len(src))
		}
		for _, fl := range out {
			if len(fl.Key) <= len(prefix) {
				t.Fatalf("empty key in %q", in)
			}
			if !bytes.Contains(src, fl.Value) || (prefix == "" && !bytes.Contains(src, fl.Key)) {
				t.Fatalf("field %q=%q not from input %q", fl.Key, fl.Value, in)
			}
		}
	})
}
