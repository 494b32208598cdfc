package forward

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tinylib/msgp/msgp"

	"shipper/internal/parse"
)

func TestAppendRecordJSON(t *testing.T) {
	f := func(name string, rec menc, want string) {
		t.Helper()
		got, err := AppendRecordJSON([]byte("prefix:"), rec)
		if err != nil {
			t.Errorf("%s: error %v", name, err)
			return
		}
		if !strings.HasPrefix(string(got), "prefix:") {
			t.Errorf("%s: dst prefix lost: %q", name, got)
		}
		got = got[len("prefix:"):]
		if string(got) != want {
			t.Errorf("%s:\ngot  %s\nwant %s", name, got, want)
		}
		if !json.Valid([]byte("{" + string(got) + "}")) {
			t.Errorf("%s: not valid JSON: {%s}", name, got)
		}
	}
	f("empty", mp().mapH(0), ``)
	f("strings", mp().mapStr("a", "x", "quote\"back\\slash", "line\nfeed\ttab\r\x01\x1f"),
		`"a":"x","quote\"back\\slash":"line\nfeed\ttab\r\u0001\u001f"`)
	f("unicode kept, invalid UTF-8 replaced", mp().mapH(2).str("é").str("日本\u2028").str("bad").str("a\xffb\xc3"),
		`"é":"日本`+"\u2028"+`","bad":"a`+"\ufffd"+`b`+"\ufffd"+`"`)
	f("bin as base64", mp().mapH(1).str("b").bin([]byte{0, 1, 2, 255}), `"b":"AAEC/w=="`)
	f("ints", mp().mapH(5).str("a").int(0).str("b").int(-1).str("c").int(math.MinInt64).str("d").u64(math.MaxUint64).str("e").int(1<<40),
		`"a":0,"b":-1,"c":-9223372036854775808,"d":18446744073709551615,"e":1099511627776`)
	f("floats", mp().mapH(7).str("a").f64(1.5).str("b").f64(1e21).str("c").f64(1e-7).str("d").f32(0.1).str("e").f64(math.Copysign(0, -1)).str("f").f64(100).str("g").f32(3e38),
		`"a":1.5,"b":1e+21,"c":1e-7,"d":0.1,"e":-0,"f":100,"g":3e+38`)
	f("NaN and Inf as strings", mp().mapH(3).str("n").f64(math.NaN()).str("p").f64(math.Inf(1)).str("m").f32(float32(math.Inf(-1))),
		`"n":"NaN","p":"+Inf","m":"-Inf"`)
	f("nil and bools", mp().mapH(3).str("n").nil().str("t").boolean(true).str("f").boolean(false), `"n":null,"t":true,"f":false`)
	f("nested", mp().mapH(2).str("m").mapH(1).str("a").arr(3).int(1).str("x").mapH(0).str("l").arr(0),
		`"m":{"a":[1,"x",{}]},"l":[]`)
	f("map32 and str32", mp().map32(1).str32("k").str16("v"), `"k":"v"`)
	f("EventTime", mp().mapH(1).str("t").eventTime(t0, 123456789), `"t":"2023-11-14T22:13:20.123456789Z"`)
	f("EventTime ext8", mp().mapH(1).str("t").eventTimeExt8(t0, 0), `"t":"2023-11-14T22:13:20Z"`)
	f("msgpack timestamp 32", mp().mapH(1).str("t").ext(-1, []byte{0x65, 0x53, 0xf1, 0x00}), `"t":"2023-11-14T22:13:20Z"`)
	f("msgpack timestamp 64", mp().mapH(1).str("t").ext(-1, []byte{0x00, 0x00, 0x00, 0x04, 0x65, 0x53, 0xf1, 0x00}), `"t":"2023-11-14T22:13:20.000000001Z"`)
	f("msgpack timestamp 96", mp().mapH(1).str("t").ext(-1, []byte{0, 0, 0, 2, 0, 0, 0, 0, 0x65, 0x53, 0xf1, 0x00}), `"t":"2023-11-14T22:13:20.000000002Z"`)
	f("other ext", mp().mapH(1).str("x").ext(42, []byte{1, 2, 3}), `"x":{"ext_type":42,"data":"AQID"}`)
	f("negative ext type", mp().mapH(1).str("x").ext(-5, []byte{1}), `"x":{"ext_type":-5,"data":"AQ=="}`)
	f("EventTime with bad nanoseconds", mp().mapH(1).str("x").eventTime(1, 1e9), `"x":{"ext_type":0,"data":"AAAAATuaygA="}`)
	f("msgp time out of range", mp().mapH(1).str("x").ext(5, []byte{0x7f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}), `"x":{"ext_type":5,"data":"fwAAAAAAAAAAAAAA"}`)
	f("non-string keys", mp().mapH(7).int(1).str("a").int(-2).str("b").nil().str("c").boolean(true).str("d").f64(2.5).str("e").bin([]byte("k")).str("f").f64(math.NaN()).str("g"),
		`"1":"a","-2":"b","null":"c","true":"d","2.5":"e","k":"f","NaN":"g"`)
	f("compound keys", mp().mapH(3).arr(2).int(1).str("x").str("a").mapStr("k", "v").str("b").eventTime(t0, 0).str("c"),
		`"[1,\"x\"]":"a","{\"k\":\"v\"}":"b","2023-11-14T22:13:20Z":"c"`)
	f("compound key inside a compound key", mp().mapH(1).mapH(1).mapH(1).arr(1).int(1).int(2).int(3).str("v"),
		`"{\"[map]\":3}":"v"`)
	nestedKeys := mp().mapH(1)
	for i := 0; i < 60; i++ {
		nestedKeys = nestedKeys.mapH(1)
	}
	nestedKeys = nestedKeys.str("k")
	for i := 0; i < 60; i++ {
		nestedKeys = nestedKeys.int(1)
	}
	f("deeply nested compound keys stay small", nestedKeys.int(1), `"{\"[map]\":1}":1`)
	f("uint64 key", mp().mapH(1).u64(math.MaxUint64).int(1), `"18446744073709551615":1`)

	deep := func(n int) menc {
		e := mp().mapH(1).str("k")
		for i := 0; i < n; i++ {
			e = e.arr(1)
		}
		return e.int(1)
	}
	f("depth 63", deep(62), `"k":`+strings.Repeat("[", 62)+"1"+strings.Repeat("]", 62))

	bad := func(name string, rec []byte, want error) {
		t.Helper()
		dst := []byte("keep")
		got, err := AppendRecordJSON(dst, rec)
		if !errors.Is(err, want) {
			t.Errorf("%s: got error %v, want %v", name, err, want)
		}
		if string(got) != "keep" {
			t.Errorf("%s: dst changed on error: %q", name, got)
		}
	}
	bad("too deep", deep(64), errRecordDepth)
	bad("not a map", mp().arr(0), errNotMap)
	bad("nil", mp().nil(), errNotMap)
	bad("empty", nil, errRecordShort)
	bad("truncated", mp().mapStr("a", "bcd")[:6], errRecordShort)
	bad("truncated nested", mp().mapH(1).str("a").arr(3).int(1), errRecordShort)
	bad("trailing", append(mp().mapH(0), 0), errTrailing)
	bad("huge count", mp().map32(1<<30).str("a").int(1), errRecordShort)
	bad("never-used byte", mp().mapH(1).str("a").raw(0xc1), errNeverUsed)
}

// TestAppendRecordJSONMsgpTime checks the ext type 5 layout against tinylib
// msgp's own encoder, which fluent-logger-golang uses for time.Time values.
func TestAppendRecordJSONMsgpTime(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 1, time.UTC),
		time.Date(2200, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600)),
	} {
		rec := msgp.AppendTime(mp().mapH(1).str("t"), tm)
		got, err := AppendRecordJSON(nil, rec)
		want := `"t":"` + tm.UTC().Format(time.RFC3339Nano) + `"`
		if err != nil || string(got) != want {
			t.Errorf("%v: got %s, %v, want %s", tm, got, err, want)
		}
	}
}

func TestAppendOtherMembers(t *testing.T) {
	rec := mp().mapStr("container_id", "abc", "container_name", "/web-1", "source", "stdout", "log", "hello",
		"com.example.team", "pay", "partial_message", "true")
	got, err := AppendOtherMembers(nil, rec, DockerKey)
	if err != nil || string(got) != `"com.example.team":"pay"` {
		t.Errorf("got %s, %v", got, err)
	}
	got, err = AppendOtherMembers(nil, mp().mapStr("log", "x"), DockerKey)
	if err != nil || len(got) != 0 {
		t.Errorf("only skipped keys: got %q, %v", got, err)
	}
	// Skipped members are skipped whole, nested values included.
	rec = mp().mapH(3).str("a").int(1).str("log").mapH(1).str("x").arr(1).int(2).str("b").int(3)
	got, err = AppendOtherMembers(nil, rec, DockerKey)
	if err != nil || string(got) != `"a":1,"b":3` {
		t.Errorf("nested skipped value: got %s, %v", got, err)
	}
	if _, err := AppendOtherMembers(nil, rec[:len(rec)-3], DockerKey); err == nil {
		t.Errorf("truncated record: no error")
	}
}

// TestAppendStringMatchesEncodingJSON: the escaper the renderer uses
// (parse.AppendString) must produce a JSON string
// that decodes to what encoding/json's encoding decodes to (each invalid byte
// becoming one U+FFFD).
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "\x00\x7f\u00e9\u2028\u2029<>&", "tab\t", strings.Repeat("é", 100), "\xed\xa0\x80", "a\xc0\xafb", "\xf0\x9f\x98"} {
		got, replaced := parse.AppendString(nil, []byte(s))
		var back, stdBack string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("%q: %s is not a JSON string: %v", s, got, err)
			continue
		}
		std, _ := json.Marshal(s)
		json.Unmarshal(std, &stdBack)
		if back != stdBack {
			t.Errorf("%q: round trip got %q, encoding/json gives %q", s, back, stdBack)
		}
		if replaced != !utf8.ValidString(s) {
			t.Errorf("%q: replaced=%v", s, replaced)
		}
	}
}

func TestRecordZeroAllocs(t *testing.T) {
	rec := mp().mapStr("container_id", strings.Repeat("a", 64), "container_name", "/web-1", "source", "stdout",
		"log", `{"level":"info","msg":"hello \"world\""}`, "com.example.team", "pay")
	rec = append(rec[:0:0], rec...)
	dst := make([]byte, 0, 4096)
	var f DockerFields
	allocs := testing.AllocsPerRun(100, func() {
		if err := ScanDocker(rec, &f); err != nil {
			t.Fatal(err)
		}
		dst, _ = AppendOtherMembers(dst[:0], rec, DockerKey)
		dst, _ = AppendRecordJSON(dst[:0], rec)
	})
	if allocs != 0 {
		t.Errorf("allocations: got %v, want 0", allocs)
	}
}
