package parse

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/bits"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func TestAppendString(t *testing.T) {
	f := func(in, want string, wantReplaced bool) {
		t.Helper()
		got, replaced := AppendString([]byte("x"), []byte(in))
		if string(got) != "x"+want || replaced != wantReplaced {
			t.Fatalf("AppendString(%q) = %s, %t; want %s, %t", in, got[1:], replaced, want, wantReplaced)
		}
		checkDoc(t, got[1:], false)
	}
	f("", `""`, false)
	f("hello", `"hello"`, false)
	f(`a "quoted" \ word`, `"a \"quoted\" \\ word"`, false)
	f("\n\r\t\b\f\x00\x01\x1f\x7f", `"\n\r\t\b\f\u0000\u0001\u001f`+"\x7f"+`"`, false)
	f("<&> / \u2028", "\"<&> / \u2028\"", false)
	f("café €😀", `"café €😀"`, false)
	f("\xff", `"`+"\ufffd"+`"`, true)
	f("a\xc3", `"a`+"\ufffd"+`"`, true)
	f("\xed\xa0\x80x", `"`+"\ufffd\ufffd\ufffd"+`x"`, true)
	f("\xf4\x90\x80\x80", `"`+"\ufffd\ufffd\ufffd\ufffd"+`"`, true)
	// Long strings go through the eight-bytes-at-a-time path.
	long := strings.Repeat("abcdefgh", 20)
	f(long+`"`+long, `"`+long+`\"`+long+`"`, false)
	f(long+"\xff"+long, `"`+long+"\ufffd"+long+`"`, true)
	for k := 0; k < 20; k++ {
		in := strings.Repeat("a", k) + "\"" + strings.Repeat("é", k) + "\x01"
		got, _ := AppendString(nil, []byte(in))
		var back string
		if err := json.Unmarshal(got, &back); err != nil || back != in {
			t.Fatalf("AppendString(%q) = %s decodes to %q, %v", in, got, back, err)
		}
	}
}

func TestStrSpecial(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 8; pos++ {
			var w [8]byte
			for k := range w {
				w[k] = 'a'
			}
			w[pos] = byte(c)
			x := uint64(0)
			for k := 7; k >= 0; k-- {
				x = x<<8 | uint64(w[k])
			}
			m := strSpecial(x)
			want := !strSafe[c]
			if got := m != 0 && (m&-m)>>7 == 1<<(8*pos); got != want {
				t.Fatalf("strSpecial with %#x at %d: mask %#x, want special %t", c, pos, m, want)
			}
		}
	}
}

func TestTrimPartialRune(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := string(trimPartialRune([]byte(in))); got != want {
			t.Fatalf("trimPartialRune(%q) = %q, want %q", in, got, want)
		}
	}
	f("", "")
	f("abc", "abc")
	f("é", "é")
	f("a\xc3", "a")
	f("a\xe2\x82", "a")
	f("a\xf0\x9f\x98", "a")
	f("a\xf0\x9f\x98\x80", "a\xf0\x9f\x98\x80")
	f("a\xff", "a\xff") // not a cut character: AppendString replaces it
	f("a\x80\x80", "a\x80\x80")
}

func TestUnescapeKey(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := string(Unescape(nil, []byte(in))); got != want {
			t.Fatalf("Unescape(%q) = %q, want %q", in, got, want)
		}
		var viaJSON string
		if err := json.Unmarshal([]byte(`"`+in+`"`), &viaJSON); err != nil || viaJSON != want {
			t.Fatalf("encoding/json decodes %q as %q, %v; want %q", in, viaJSON, err, want)
		}
	}
	f(`plain`, "plain")
	f(`\u006dessage`, "message")
	f(`a\"b\\c\/d\b\f\n\r\t`, "a\"b\\c/d\b\f\n\r\t")
	f(`\u00E9\u20ac`, "é€")
	f(`\ud83d\ude00`, "😀")
	f(`\ud800`, "\ufffd")
	f(`\ud800x`, "\ufffdx")
	f(`\udc00\ud800`, "\ufffd\ufffd")
	f(`\ud800\u0041`, "\ufffdA")
	f(`\ud800\ud800\udc00`, "\ufffd\U00010000")
}

// TestStrSpecialLowestExact checks strSpecial against a byte-by-byte test on
// every single byte value in every position, over backgrounds of plain and
// special bytes below it.
func TestStrSpecialLowestExact(t *testing.T) {
	special := func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 || c >= 0x80 }
	for pos := 0; pos < 8; pos++ {
		for c := 0; c < 256; c++ {
			for _, bg := range []byte{'a', ' ', '~', 0x7f} {
				var w [8]byte
				for k := range w {
					w[k] = bg
				}
				w[pos] = byte(c)
				x := binary.LittleEndian.Uint64(w[:])
				m := strSpecial(x)
				want := -1
				for k := 0; k < 8; k++ {
					if special(w[k]) {
						want = k
						break
					}
				}
				got := -1
				if m != 0 {
					got = bits.TrailingZeros64(m) >> 3
				}
				if got != want {
					t.Fatalf("strSpecial(% x): lowest flagged byte %d, want %d", w, got, want)
				}
			}
		}
	}
}

// TestAppendIntMatchesStrconv checks appendInt against strconv at every
// power of ten and its neighbours, the extremes and random values.
func TestAppendIntMatchesStrconv(t *testing.T) {
	vs := []int64{0, 1, -1, 9, 10, 11, 99, 100, 101, math.MaxInt64, math.MinInt64, math.MinInt64 + 1}
	for p := int64(1); p <= math.MaxInt64/10; p *= 10 {
		vs = append(vs, p-1, p, p+1, -p, -(p - 1), 10*p-1)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for k := 0; k < 10000; k++ {
		vs = append(vs, int64(r.Uint64()), int64(r.Uint64()>>(k%64)))
	}
	for _, v := range vs {
		if got, want := string(appendInt([]byte("x"), v)), "x"+strconv.FormatInt(v, 10); got != want {
			t.Fatalf("appendInt(%d): got %s, want %s", v, got, want)
		}
	}
}
