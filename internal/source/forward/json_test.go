package forward

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func jsonCases() []decodeCase {
	e := func(ns int64, members string) string { return fmt.Sprintf("%d|%s", ns, members) }
	return []decodeCase{
		{"fluent-logger-golang message", []byte(`["app",1700000000,{"a":1,"b":"x"},{}]`),
			want{mode: ModeMessage, tag: "app", entries: []string{e(t0n, `"a":1,"b":"x"`)}}},
		{"message with chunk", []byte(`["app",1700000000,{"a":1},{"chunk":"p8n9gmxTQVC8/nh2wlKKeQ=="}]`),
			want{mode: ModeMessage, tag: "app", chunk: sp("p8n9gmxTQVC8/nh2wlKKeQ=="), entries: []string{e(t0n, `"a":1`)}}},
		{"message 3 elements, whitespace", []byte(" \n\t[ \"app\" , 1700000000.25 , { \"a\" : [1, 2.5e3, true, null] } ] "),
			want{mode: ModeMessage, tag: "app", entries: []string{e(t0n+250000000, `"a" : [1, 2.5e3, true, null]`)}}},
		{"time with exponent", []byte(`["app",1.7e9,{"a":1}]`),
			want{mode: ModeMessage, tag: "app", entries: []string{e(t0n, `"a":1`)}}},
		{"time null and string", []byte(`["app",[[null,{"a":1}],["x",{"b":2}]]]`),
			want{mode: ModeForward, tag: "app", badTime: 1, entries: []string{e(0, `"a":1`), e(0, `"b":2`)}}},
		{"nil option", []byte(`["app",1700000000,{"a":1},null]`),
			want{mode: ModeMessage, tag: "app", entries: []string{e(t0n, `"a":1`)}}},
		{"forward", []byte(`["fwd",[[1700000000,{"a":1}],[1700000001,{"b":2}]],{"chunk":"c","size":2,"fluent_signal":0,"compressed":"text"}]`),
			want{mode: ModeForward, tag: "fwd", chunk: sp("c"), entries: []string{e(t0n, `"a":1`), e(t0n+1e9, `"b":2`)}}},
		{"null and bad records", []byte(`["fwd",[[1,null],[1,"x"],5,[1]]]`),
			want{mode: ModeForward, tag: "fwd", invalid: 3}},
		{"escaped tag", []byte(`["a\"b\\c\u00e9\ud83d\ude00\ud800",1700000000,{}]`),
			want{mode: ModeMessage, tag: "a\"b\\c\u00e9\U0001F600\uFFFD", entries: []string{e(t0n, ``)}}},
		{"object ignored", []byte(`{"a":1}`), want{ignored: true}},
		{"string ignored", []byte(`"hello"`), want{ignored: true}},
		{"packed not supported", []byte(`["app","packed",{}]`), want{err: ErrUnsupported, errText: "PackedForward"}},
		{"gzip not supported", []byte(`["app",[],{"compressed":"gzip"}]`), want{err: ErrUnsupported, errText: "compressed"}},
		{"fluent_signal 1", []byte(`["app",[],{"fluent_signal":1}]`), want{err: ErrUnsupported, errText: "only log signals"}},
		{"array of 1", []byte(`["app"]`), want{err: ErrMalformed, errText: "1 elements"}},
		{"tag not a string", []byte(`[1,2,{}]`), want{err: ErrMalformed, errText: "tag"}},
		{"option not an object", []byte(`["a",1,{},[]]`), want{err: ErrMalformed, errText: "option"}},
		{"unescaped quote in tag (fluent-logger-golang does not escape)", []byte(`["a"b",1,{},{}]`), want{err: ErrMalformed, errText: "invalid JSON"}},
		{"bad literal", []byte(`["a",1,{"x":tru}]`), want{err: ErrMalformed, errText: "invalid JSON"}},
		{"bad number", []byte(`["a",01,{}]`), want{err: ErrMalformed, errText: "invalid JSON"}},
		{"bad escape", []byte(`["a\x",1,{}]`), want{err: ErrMalformed, errText: "invalid JSON"}},
		{"control character", []byte("[\"a\x01\",1,{}]"), want{err: ErrMalformed, errText: "invalid JSON"}},
		{"missing colon", []byte(`["a",1,{"x" 1}]`), want{err: ErrMalformed, errText: "invalid JSON"}},
		{"too deep", []byte(strings.Repeat("[", 300) + strings.Repeat("]", 300)), want{err: ErrMalformed, errText: "too deeply"}},
	}
}

func TestDecodeJSON(t *testing.T) {
	for _, c := range jsonCases() {
		t.Run(c.name, func(t *testing.T) {
			d := NewDecoder(Limits{})
			req, n, err := d.DecodeJSON(c.in)
			c.want.check(t, req, err)
			if err != nil {
				return
			}
			if req.Format != JSONRecord {
				t.Errorf("format: got %v, want JSONRecord", req.Format)
			}
			if want := len(strings.TrimRight(string(c.in), " ")); n != want {
				t.Errorf("n: got %d, want %d", n, want)
			}
			// Every strict prefix is short (or, for a malformed case,
			// possibly malformed already).
			for i := 0; i < n; i++ {
				if _, n, err := d.DecodeJSON(c.in[:i]); err != ErrShortBuffer || n != 0 {
					t.Fatalf("prefix of %d: got n=%d, %v, want ErrShortBuffer", i, n, err)
				}
			}
		})
	}
}

func TestDecodeJSONStream(t *testing.T) {
	in := []byte(`["a",1,{"x":1},{}]` + "\n" + `["b",2,{"y":2}]["c",[[3,{"z":3}]]]` + "  ")
	d := NewDecoder(Limits{})
	var tags []string
	for {
		req, n, err := d.DecodeJSON(in)
		if err == ErrShortBuffer {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		tags = append(tags, fmt.Sprintf("%s:%s", req.Tag, JSONObjectMembers(req.Entries[0].Record)))
		in = in[n:]
	}
	if got := strings.Join(tags, " "); got != `a:"x":1 b:"y":2 c:"z":3` {
		t.Errorf("got %s", got)
	}
	if len(in) != 2 {
		t.Errorf("left %q, want the trailing whitespace", in)
	}
}

func TestDecodeJSONLimit(t *testing.T) {
	d := NewDecoder(Limits{MaxRequestBytes: 10})
	if _, _, err := d.DecodeJSON([]byte(`["a",1,{"x":"` + strings.Repeat("y", 20))); !errors.Is(err, ErrLimit) {
		t.Errorf("incomplete value over the limit: got %v", err)
	}
	if _, _, err := d.DecodeJSON([]byte(`["a",1,{"x":"yyyyyyyyy"}]`)); !errors.Is(err, ErrLimit) {
		t.Errorf("complete value over the limit: got %v", err)
	}
}
