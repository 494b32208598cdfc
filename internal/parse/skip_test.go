package parse

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSkipValue(t *testing.T) {
	f := func(in string, o Options, wantEnd int, wantErr string) {
		t.Helper()
		end, err := SkipValue([]byte(in), 0, o)
		switch {
		case wantErr == "" && err != nil:
			t.Fatalf("SkipValue(%q): error %v, want end %d", in, err, wantEnd)
		case wantErr == "short" && !errors.Is(err, ErrShort):
			t.Fatalf("SkipValue(%q): %d, %v; want ErrShort", in, end, err)
		case wantErr != "" && wantErr != "short" && (err == nil || !strings.Contains(err.Error(), wantErr)):
			t.Fatalf("SkipValue(%q): %d, %v; want an error containing %q", in, end, err, wantErr)
		case wantErr == "" && end != wantEnd:
			t.Fatalf("SkipValue(%q) = %d, want %d", in, end, wantEnd)
		}
	}
	f(`{"a":1} x`, Options{}, 7, "")
	f(`  [1, "x", {"k": [true, false, null]}, -2.5e3]`, Options{}, 46, "")
	f(`"a\"b\u00e9"rest`, Options{}, 12, "")
	f(`123`, Options{}, 3, "")
	f(`null,`, Options{}, 4, "")
	f(`{"a":`, Options{}, 0, "short")
	f(`"abc`, Options{}, 0, "short")
	f(`tr`, Options{}, 0, "short")
	f(`[1,`, Options{}, 0, "short")
	f(``, Options{}, 0, "short")
	f(`{"a" 1}`, Options{}, 0, "invalid JSON: invalid character '1' after object key at offset 5")
	f(`[01]`, Options{}, 0, "invalid JSON")
	f(`"a\q"`, Options{}, 0, "in string escape code")
	f(`"a\u12g4"`, Options{}, 0, "hexadecimal")
	f("\"a\x01\"", Options{}, 0, "in string literal")
	f("\"a\x01\"", Options{AllowControl: true}, 4, "")
	f(`tru`+"e", Options{}, 4, "")
	f(`trUe`, Options{}, 0, "in literal")
	f(strings.Repeat("[", 256)+strings.Repeat("]", 256), Options{MaxDepth: 256}, 512, "")
	f(strings.Repeat("[", 257)+strings.Repeat("]", 257), Options{MaxDepth: 256}, 0, "nested too deeply")
	f(strings.Repeat("[", 1000)+strings.Repeat("]", 1000), Options{}, 2000, "")
	f(strings.Repeat("[", 1001)+strings.Repeat("]", 1001), Options{}, 0, "nesting deeper than 1000")
}

func TestSkipString(t *testing.T) {
	f := func(in string, o Options, wantEnd int, wantEsc bool, wantErr error) {
		t.Helper()
		end, esc, err := SkipString([]byte(in), 0, o)
		if (err == nil) != (wantErr == nil) || wantErr == ErrShort && err != ErrShort {
			t.Fatalf("SkipString(%q): error %v, want %v", in, err, wantErr)
		}
		if err == nil && (end != wantEnd || esc != wantEsc) {
			t.Fatalf("SkipString(%q) = %d, %v; want %d, %v", in, end, esc, wantEnd, wantEsc)
		}
	}
	var syntax = &SyntaxError{}
	f(`"plain"x`, Options{}, 7, false, nil)
	f(`"long enough to take the eight-byte path"`, Options{}, 41, false, nil)
	f(`"esc\n"`, Options{}, 7, true, nil)
	f(`"caf`+"\xc3\xa9"+`"`, Options{}, 7, false, nil)
	f("\"bad \xff\"", Options{}, 7, false, nil)
	f(`"open`, Options{}, 0, false, ErrShort)
	f(`"a\`, Options{}, 0, false, ErrShort)
	f("\"raw\nnewline\"", Options{}, 0, false, syntax)
	f("\"raw\nnewline\"", Options{AllowControl: true}, 13, false, nil)
}

func TestAppendUnescaped(t *testing.T) {
	f := func(in string, o Options, want string, wantEnd int, wantErr string) {
		t.Helper()
		got, end, err := AppendUnescaped([]byte("pre:"), []byte(in), 0, o)
		if wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Fatalf("AppendUnescaped(%q): %v, want an error containing %q", in, err, wantErr)
			}
			return
		}
		if err != nil || string(got) != "pre:"+want || end != wantEnd {
			t.Fatalf("AppendUnescaped(%q) = %q, %d, %v; want %q, %d", in, got, end, err, "pre:"+want, wantEnd)
		}
	}
	f(`"plain"x`, Options{}, "plain", 7, "")
	f(`"{\"level\":\"info\",\"msg\":\"a\\tb\"}\n"`, Options{}, `{"level":"info","msg":"a\tb"}`+"\n", 42, "")
	f(`"\u00e9\ud83d\ude00\ud800x"`, Options{}, "é😀\uFFFDx", 27, "")
	f("\"caf\xc3\xa9 \xff\"", Options{}, "caf\xc3\xa9 \xff", 9, "")
	f("\"raw\ttab\"", Options{AllowControl: true}, "raw\ttab", 9, "")
	f("\"raw\ttab\"", Options{}, "", 0, "string literal")
	f(`"a\q"`, Options{}, "", 0, "escape code")
	f(`"a\u12g4"`, Options{}, "", 0, "hexadecimal")
	f(`"open`, Options{}, "", 0, "incomplete")
	f(`"a\u12`, Options{}, "", 0, "incomplete")
}

func TestUnescape(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := Unescape([]byte("pre:"), []byte(in)); string(got) != "pre:"+want {
			t.Fatalf("Unescape(%q) = %q, want %q", in, got[4:], want)
		}
	}
	f(``, ``)
	f(`plain`, `plain`)
	f(`\u003cb\u003e \u0026 \"q\" \\ \/ \b\f\r\t\u00e9\u2028\ud83d\ude00\n`, "<b> & \"q\" \\ / \b\f\r\té\u2028😀\n")
	f(`a\ud800b\udc00c\ud83d\u0041`, "a\uFFFDb\uFFFDc\uFFFDA")
	f(`end\ud83d`, "end\uFFFD")
	f("raw \xff and \x01", "raw \xff and \x01")
}

// FuzzSkipValue: SkipValue agrees with encoding/json on what is one valid
// JSON value, and Unescape with encoding/json on the value of a string.
func FuzzSkipValue(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e-3,true,null,"x\u00e9\ud83d\ude00"]}`, `"a\"b"`, `-0.5`, `[{}]`, `{"a" 1}`, `"\ud800"`, "\"\xff\"", `[1,`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		end, err := SkipValue(data, 0, Options{})
		start := skipWS(data, 0)
		if start < len(data) && data[start] == '"' {
			// AppendUnescaped is SkipString and Unescape in one pass.
			for _, o := range []Options{{}, {AllowControl: true}} {
				got, e1, err1 := AppendUnescaped([]byte("x"), data, start, o)
				e2, _, err2 := SkipString(data, start, o)
				if (err1 == nil) != (err2 == nil) || (err1 == ErrShort) != (err2 == ErrShort) {
					t.Fatalf("%q %+v: AppendUnescaped error %v, SkipString error %v", data[start:], o, err1, err2)
				}
				if err1 == nil {
					if want := Unescape([]byte("x"), data[start+1:e2-1]); e1 != e2 || !bytes.Equal(got, want) {
						t.Fatalf("%q %+v: AppendUnescaped = %q, %d; SkipString and Unescape: %q, %d", data[start:], o, got, e1, want, e2)
					}
				}
			}
		}
		if err == nil {
			if end <= start || end > len(data) {
				t.Fatalf("SkipValue(%q) = %d", data, end)
			}
			if !json.Valid(data[start:end]) {
				t.Fatalf("SkipValue accepted %q, which encoding/json rejects", data[start:end])
			}
			if data[start] == '"' && utf8.Valid(data[start:end]) {
				var want string
				json.Unmarshal(data[start:end], &want)
				if got := Unescape(nil, data[start+1:end-1]); string(got) != want {
					t.Fatalf("Unescape(%q) = %q, encoding/json says %q", data[start+1:end-1], got, want)
				}
				e2, _, err := SkipString(data, start, Options{})
				if err != nil || e2 != end {
					t.Fatalf("SkipString(%q) = %d, %v; SkipValue says %d", data[start:], e2, err, end)
				}
			}
		} else if json.Valid(data) && bytes.Count(data, []byte("[")) < 1000 && bytes.Count(data, []byte("{")) < 1000 {
			t.Fatalf("SkipValue rejected %q (%v), which encoding/json accepts", data, err)
		}
	})
}
