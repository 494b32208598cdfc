package file

import (
	"bytes"
	"strings"
	"testing"

	"shipper/internal/parse"
	"shipper/internal/testutil/corpus"
)

// checkUnescape decodes the string at raw[i] with unescapeFast (through
// unescapeAVX2 on machines with AVX2, a second time without VBMI2 on
// machines with it) and with unescapeSWAR, into buffers followed by guard
// bytes, and checks that all return the same, that what
// they decode is what parse.AppendUnescaped decodes, and that they store
// only into the first len(raw)-i bytes of the buffer.
func checkUnescape(t *testing.T, raw []byte, i int) {
	t.Helper()
	const guard = 0xa5
	room := len(raw) - i
	type result struct {
		v    string
		next int
		ok   bool
	}
	run := func(name string, f func(dst, b []byte, i int) ([]byte, int, bool)) result {
		t.Helper()
		// Exactly room bytes of capacity, then a roomier buffer: never a
		// store past room, and the same result into a dirty buffer.
		for _, c := range []int{room, room + 100} {
			buf := bytes.Repeat([]byte{guard}, c+100)
			v, next, ok := f(buf[:min(3, c):c], raw, i)
			for k := room; k < len(buf); k++ {
				if buf[k] != guard {
					t.Fatalf("%s(%q, %d) with capacity %d stored at %d, past %d", name, raw, i, c, k, room)
				}
			}
			if !ok && (len(v) != 0 || next != 0) {
				t.Fatalf("%s(%q, %d) = %q, %d, false; want empty, 0", name, raw, i, v, next)
			}
			if ok && len(v) > 0 && &v[0] != &buf[0] {
				t.Fatalf("%s(%q, %d) decoded into a new array with capacity %d >= %d", name, raw, i, c, room)
			}
			if c == room {
				nv, nnext, nok := f(nil, raw, i)
				if nok != ok || string(nv) != string(v) || nnext != next {
					t.Fatalf("%s(%q, %d) into nil = %q, %d, %v; into a buffer %q, %d, %v", name, raw, i, nv, nnext, nok, v, next, ok)
				}
			}
		}
		v, next, ok := f(nil, raw, i)
		return result{string(v), next, ok}
	}
	fast := run("unescapeFast", unescapeFast)
	if useVBMI2 {
		useVBMI2 = false
		shuf := run("unescapeFast without VBMI2", unescapeFast)
		useVBMI2 = true
		if shuf != fast {
			t.Fatalf("string at %d of %q: unescapeFast %q, %d, %v; without VBMI2 %q, %d, %v",
				i, raw, fast.v, fast.next, fast.ok, shuf.v, shuf.next, shuf.ok)
		}
	}
	swar := run("unescapeSWAR", unescapeSWAR)
	if fast != swar {
		t.Fatalf("string at %d of %q: unescapeFast %q, %d, %v; unescapeSWAR %q, %d, %v",
			i, raw, fast.v, fast.next, fast.ok, swar.v, swar.next, swar.ok)
	}
	if !fast.ok {
		return
	}
	want, wantNext, err := parse.AppendUnescaped(nil, raw, i, dockerJSON)
	if err != nil || string(want) != fast.v || wantNext != fast.next {
		t.Fatalf("string at %d of %q: unescapeFast %q, %d; AppendUnescaped %q, %d, %v", i, raw, fast.v, fast.next, want, wantNext, err)
	}
}

// TestUnescapeFastBlocks puts escapes, the closing quote, escapes it leaves
// to the general unescaper and the end of the buffer at every offset around
// the edges of the 16-, 32- and 64-byte steps and blocks of the AVX2 loop,
// with the string starting at several offsets of the buffer.
func TestUnescapeFastBlocks(t *testing.T) {
	escapes := []string{`\"`, `\\`, `\/`, `\n`, `\t`, `\r`, `\b`, `\f`, `\u0041`, `\q`, `\`, `\\\"`, `\"\"`, `\\\\`, "\x00", "\xff"}
	for _, pre := range []int{0, 1, 7, 31} {
		for n := 0; n <= 200; n++ {
			body := strings.Repeat("x", n)
			for _, esc := range escapes {
				for _, at := range []int{0, 1, 15, 16, 31, 32, 33, 62, 63, 64, 65, 95, 127, 128, 129, n - 1, n} {
					if at < 0 || at > n {
						continue
					}
					s := strings.Repeat("p", pre) + `"` + body[:at] + esc + body[at:]
					for _, tail := range []string{``, `"`, `"` + strings.Repeat("y", 40), `"` + strings.Repeat("y", 70), `"` + strings.Repeat("y", 130)} {
						checkUnescape(t, []byte(s+tail), pre)
					}
				}
			}
		}
	}
	// Escapes every few bytes, as in escaped JSON, across many blocks,
	// with the closing quote at every distance from the end of the buffer.
	json := []byte(`"` + strings.Repeat(`{\"level\":\"info\",\"msg\":\"a \\\"b\\\"\",\"n\":1}\n`, 12))
	for end := 0; end < 200; end++ {
		raw := append(append([]byte(nil), json...), '"')
		raw = append(raw, strings.Repeat("z", end)...)
		checkUnescape(t, raw, 0)
		checkUnescape(t, raw[:len(json)+min(end, 1)], 0)
	}
}

// TestUnescapeFastBackslashRuns puts runs of backslashes of many lengths,
// followed by a byte each run may escape or not (an odd run escapes it, an
// even one is escapes of '\\' only), at every offset of the first blocks of
// the AVX2 loop, in text with no other escape or with \" every few bytes,
// with and without an escape that is not a \" \\ or \/ in the block before,
// and with the string starting at several offsets of the buffer: the
// backslashes that start an escape are found across the blocks' edges.
func TestUnescapeFastBackslashRuns(t *testing.T) {
	fillers := []string{strings.Repeat("x", 300), strings.Repeat(`ab\"c`, 60)}
	for _, pre := range []int{0, 3} {
		for _, r := range []int{1, 2, 3, 4, 5, 6, 7, 8, 31, 32, 33, 63, 64, 65} {
			run := strings.Repeat(`\`, r)
			for _, after := range []string{`"`, `/`, `x`, `n`, `u0041`} {
				for _, fill := range fillers {
					for _, other := range []string{"", `\t`} {
						for at := 0; at <= 200; at++ {
							body := fill[:at]
							if other != "" && at >= 40 {
								body = body[:at-40] + other + body[at-40:]
							}
							s := strings.Repeat("p", pre) + `"` + body + run + after + fill[at:at+100] + `"` + strings.Repeat("y", 130)
							checkUnescape(t, []byte(s), pre)
						}
					}
				}
			}
		}
	}
}

// TestUnescapeFastEdgeEscape puts an escape whose backslash is the last
// byte of one of the first blocks of the AVX2 loop, in escaped JSON whose
// blocks are otherwise plain (their escapes \" only), with the buffer
// ending at every distance from the block's end: the loop packs such a
// block when the escaped byte is a '"' or '\\' and the next block starts
// with it decoded already.
func TestUnescapeFastEdgeEscape(t *testing.T) {
	fill := strings.Repeat(`ab\"cde\"f`, 60)
	for _, pre := range []int{0, 5} {
		for k := range 4 {
			head := []byte(fill[:63+64*k])
			if head[len(head)-1] == '\\' {
				head[len(head)-1] = 'x'
			}
			for _, esc := range []string{`\"`, `\\`, `\\\"`, `\n`, `\/`, `\u0041`, `\q`} {
				s := strings.Repeat("p", pre) + `"` + string(head) + esc + fill[:130] + `"` + strings.Repeat("y", 130)
				for end := pre + 1 + len(head); end <= len(s); end++ {
					if end > pre+1+len(head)+140 && end < len(s)-140 {
						continue
					}
					checkUnescape(t, []byte(s[:end]), pre)
				}
			}
		}
	}
}

// TestUnescapeFastLastBlock puts two escapes at every pair of offsets (of
// every third) of the last 64 bytes of strings of many lengths, among them
// the \n the AVX2 loop decodes in the block of the closing quote when it is
// the only escape there but \" \\ and \/, in text with no other escape or
// with \" every few bytes.
func TestUnescapeFastLastBlock(t *testing.T) {
	escapes := []string{`\n`, `\t`, `\"`, `\u0041`}
	for _, fill := range []string{strings.Repeat("x", 200), strings.Repeat(`ab\"c`, 40)} {
		for n := 60; n <= 140; n += 3 {
			for a := max(0, n-64); a <= n; a++ {
				for b := a; b <= n; b += 3 {
					for _, e1 := range escapes {
						for _, e2 := range escapes {
							s := `"` + fill[:a] + e1 + fill[a:b] + e2 + fill[b:n] + `"` + strings.Repeat("y", 130)
							checkUnescape(t, []byte(s), 0)
						}
					}
				}
			}
		}
	}
}

// TestUnescapeFastCorpus decodes the "log" value of corpus json-file lines,
// whose escaped JSON has an escape every few bytes, cut at every length.
func TestUnescapeFastCorpus(t *testing.T) {
	var buf bytes.Buffer
	corpus.New(5).Write(&buf, 300, corpus.DockerJSON)
	const at = len(`{"log":`)
	for k, line := range bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n")) {
		checkUnescape(t, line, at)
		if k < 10 {
			for n := at + 1; n < len(line); n++ {
				checkUnescape(t, line[:n], at)
			}
		}
	}
}

// FuzzUnescapeFast checks unescapeFast (through unescapeAVX2 where the
// machine has AVX2) against unescapeSWAR, the code of machines without it,
// and against parse.AppendUnescaped, on any string at any of the first
// offsets of the input, with its bound of stores.
func FuzzUnescapeFast(f *testing.F) {
	f.Add([]byte(`"` + strings.Repeat(`a\"b\\c`, 20) + `"`))
	f.Add([]byte(`"` + strings.Repeat("x", 63) + `\"` + strings.Repeat("y", 64) + `"` + strings.Repeat("z", 64)))
	f.Add([]byte(`"` + strings.Repeat("x", 62) + `\\\"` + strings.Repeat("y", 100) + `\u0041"`))
	f.Add([]byte(`"` + strings.Repeat("x", 127) + `\`))
	for _, line := range seeds(f, "json-file.log") {
		f.Add(line)
	}
	var buf bytes.Buffer
	corpus.New(2).Write(&buf, 20, corpus.DockerJSON)
	for _, line := range bytes.Split(buf.Bytes(), []byte("\n")) {
		f.Add(line)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for i := 0; i < len(raw) && i < 72; i++ {
			if raw[i] == '"' {
				checkUnescape(t, raw, i)
			}
		}
	})
}
