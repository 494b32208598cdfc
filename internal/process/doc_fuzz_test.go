package process

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"shipper/internal/parse"
)

// FuzzDoc: on any JSON object, the view's edits give valid JSON in which
// each edit is seen, and an unedited document is returned byte for byte.
func FuzzDoc(f *testing.F) {
	f.Add(`{"a":1,"b":{"c":"x\"y","d":[1,{"e":2}]},"a.b":true}`, "b.c", "z", uint8(0))
	f.Add(`{"m":"{\"k\":1}","n":null}`, "m", "k", uint8(3))
	f.Add(`{ "s" : "\u00e9" , "t":{} }`, "t", "s", uint8(1))
	f.Fuzz(func(t *testing.T, doc, name, other string, op uint8) {
		if !json.Valid([]byte(doc)) || len(doc) == 0 || doc[0] != '{' || checkField(name) != nil || checkField(other) != nil || !utf8.ValidString(name) || !utf8.ValidString(other) {
			return
		}
		var in map[string]json.RawMessage
		if json.Unmarshal([]byte(doc), &in) != nil || topKeys(t, []byte(doc)) != len(in) {
			return // the parser never repeats a top-level name
		}
		var d Doc
		d.reset([]byte(doc))
		if got := string(d.appendTo(nil)); got != doc {
			t.Fatalf("unchanged document rewritten: %s", got)
		}
		switch op % 5 {
		case 0:
			d.SetString(name, []byte(other))
		case 1:
			d.Remove(name)
		case 2:
			d.Rename(name, other)
		case 3:
			d.Copy(name, other)
		case 4:
			d.KeepOnly([]string{name})
		}
		d.changed = true
		out := d.appendTo(nil)
		if !json.Valid(out) {
			t.Fatalf("invalid JSON after op %d on %s: %s", op%5, doc, out)
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(out, &top); err != nil {
			t.Fatal(err)
		}
		if n := topKeys(t, out); n != len(top) {
			t.Fatalf("repeated top-level names after op %d on %s: %s", op%5, doc, out)
		}
		var e Doc
		e.reset(out)
		switch op % 5 {
		case 0:
			if tx, isStr, ok := e.Text(name); !ok || !isStr || string(tx) != other && utf8.ValidString(other) {
				t.Fatalf("set %s=%q: got %q in %s", name, other, tx, out)
			}
		case 1:
			if e.Exists(name) {
				t.Fatalf("%s still there after remove: %s", name, out)
			}
		}
	})
}

// topKeys counts the top-level members of a JSON object.
func topKeys(t *testing.T, b []byte) int {
	dec := json.NewDecoder(bytes.NewReader(b))
	n, depth := 0, 0
	expectKey := false
	for {
		tok, err := dec.Token()
		if err != nil {
			return n
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				depth++
				expectKey = v == '{' && depth == 1
				continue
			case '}', ']':
				depth--
			}
		case string:
			if depth == 1 && expectKey {
				n++
				expectKey = false
				continue
			}
		}
		if depth == 1 {
			expectKey = true
		}
	}
}

// FuzzSkipString: the word-at-a-time scan finds the end the scanner of the
// parser finds, on every valid string.
func FuzzSkipString(f *testing.F) {
	for _, s := range []string{`"a"`, `"abcdefgh\"ijklmnop"`, `"0123456789abcdef\\"`, `"\u00e9\n"x`, `"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := []byte(s)
		want, wantEsc, err := parse.SkipString(b, 0, parse.Options{AllowControl: true})
		if len(b) == 0 || b[0] != '"' {
			return
		}
		got, esc := skipString(b, 0)
		if err != nil {
			return // invalid: skipString only has to stay in bounds
		}
		if got != want || esc != wantEsc {
			t.Fatalf("%q: end %d escaped %v, want %d %v", s, got, esc, want, wantEsc)
		}
	})
}
