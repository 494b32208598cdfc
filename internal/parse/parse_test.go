package parse

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

const (
	lineTime     = 1795428000000000000 // 2026-11-23T10:00:00Z
	ingestedTime = 1795428005000000000 // 2026-11-23T10:00:05Z
	lineTS       = `{"@timestamp":"2026-11-23T10:00:00Z"`
	ing          = `"event.ingested":"2026-11-23T10:00:05Z"`
	jsonFail     = `"log.flags":["json_parse_failure"]`
	tsFlag       = `"log.flags":["timestamp_unusable"],`
)

// checkDoc fails unless doc is valid UTF-8 and valid JSON without repeated
// names in any object (unless allowDup).
func checkDoc(t testing.TB, doc []byte, allowDup bool) {
	t.Helper()
	if !utf8.Valid(doc) {
		t.Fatalf("document is not valid UTF-8: %q", doc)
	}
	dups, err := duplicateKeys(doc, false)
	if err != nil {
		t.Fatalf("document is not valid JSON: %s\n%s", err, doc)
	}
	if len(dups) > 0 && !allowDup {
		t.Fatalf("document repeats names %q:\n%s", dups, doc)
	}
}

// duplicateKeys walks the JSON value in doc with json.Decoder tokens and
// returns the member names repeated within one object (all objects, or the
// top-level one only), or an error if doc is not exactly one JSON value.
func duplicateKeys(doc []byte, topOnly bool) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var dups []string
	var walk func(depth int) error
	walk = func(depth int) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				key := kt.(string)
				if seen[key] && (depth == 0 || !topOnly) {
					dups = append(dups, key)
				}
				seen[key] = true
				if err := walk(depth + 1); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		case json.Delim('['):
			for dec.More() {
				if err := walk(depth + 1); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		}
		return nil
	}
	if err := walk(0); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the value: %v", err)
	}
	if !json.Valid(doc) {
		return nil, fmt.Errorf("json.Valid rejects it")
	}
	return dups, nil
}

// flagsIn returns the Flags named in the log.flags member of doc.
func flagsIn(t testing.TB, doc string) Flags {
	t.Helper()
	var d struct {
		Flags []string `json:"log.flags"`
	}
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		t.Fatalf("cannot read log.flags of %s: %s", doc, err)
	}
	var f Flags
	for _, name := range d.Flags {
		found := false
		for _, fn := range flagNames {
			if fn.name == name {
				f |= fn.f
				found = true
			}
		}
		if !found {
			t.Fatalf("unknown flag %q in %s", name, doc)
		}
	}
	return f
}

func newTestParser(static string) *Parser {
	p := New([]byte(static))
	p.SetIngested(ingestedTime)
	return p
}

func TestAppendJSON(t *testing.T) {
	p := newTestParser("")
	f := func(in string, wantFlags Flags, want string) {
		t.Helper()
		prefix := []byte("prefix\n")
		out, info := p.Append(prefix, &Line{Data: []byte(in), Time: lineTime})
		if !bytes.HasPrefix(out, prefix) {
			t.Fatalf("Append(%q) overwrote dst: %q", in, out)
		}
		out = out[len(prefix):]
		if string(out) != want {
			t.Fatalf("Append(%q)\ngot  %s\nwant %s", in, out, want)
		}
		// The flags in log.flags are also in Info.Flags.
		wantFlags |= flagsIn(t, want)
		if info.Flags != wantFlags {
			t.Fatalf("Append(%q) flags: got %b, want %b", in, info.Flags, wantFlags)
		}
		checkDoc(t, out, false)
	}

	// The benchmark line: zerolog with defaults but nanosecond time.
	f(`{"level":"info","service":"demo","method":"GET","path":"/api/orders/42","status":200,"duration_ms":12.5,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","user_agent":"curl/8.5.0","time":"2026-11-23T10:00:00.123456789Z","message":"request handled"}`, JSON|ECSRenamed,
		`{"@timestamp":"2026-11-23T10:00:00.123456789Z","log.level":"info","message":"request handled","service.name":"demo","method":"GET","path":"/api/orders/42","status":200,"duration_ms":12.5,"trace.id":"4bf92f3577b34da6a3ce929d0e0e4736","span.id":"00f067aa0ba902b7","user_agent.original":"curl/8.5.0","log.flags":["ecs_renamed"],`+ing+`}`)

	// Timestamps in every format, normalised to UTC.
	ts := func(member, want string) {
		t.Helper()
		f(`{`+member+`,"a":1}`, JSON, `{"@timestamp":"`+want+`","a":1,`+ing+`}`)
	}
	ts(`"time":"2026-11-23T11:00:00+01:00"`, "2026-11-23T10:00:00Z") // zerolog default (time.RFC3339)
	ts(`"time":"2026-11-23T10:00:00.123456789Z"`, "2026-11-23T10:00:00.123456789Z")
	ts(`"time":"2026-11-23T10:00:00.120Z"`, "2026-11-23T10:00:00.12Z")
	ts(`"time":"2026-11-23T03:00:00.5-07:00"`, "2026-11-23T10:00:00.5Z")
	ts(`"time":"2026-11-23T03:00:00-0700"`, "2026-11-23T10:00:00Z")
	ts(`"time":"2026-11-23T12:00:00+02"`, "2026-11-23T10:00:00Z")
	ts(`"time":"2026-11-23 10:00:00,250"`, "2026-11-23T10:00:00.25Z") // no zone: UTC
	ts(`"time":"2026-11-23t10:00:00z"`, "2026-11-23T10:00:00Z")
	ts(`"time":"2026-11-23T10:00:00.1234567891234Z"`, "2026-11-23T10:00:00.123456789Z")
	ts(`"time":"2026-11-24T00:30:00+14:30"`, "2026-11-23T10:00:00Z")
	ts(`"ts":1700000000`, "2023-11-14T22:13:20Z")
	ts(`"ts":1700000000.123`, "2023-11-14T22:13:20.123Z")
	ts(`"ts":1700000000.1234567891`, "2023-11-14T22:13:20.123456789Z")
	ts(`"ts":1700000000123`, "2023-11-14T22:13:20.123Z")
	ts(`"ts":1700000000123.5`, "2023-11-14T22:13:20.1235Z")
	ts(`"ts":1700000000123456`, "2023-11-14T22:13:20.123456Z")
	ts(`"ts":1700000000123456789`, "2023-11-14T22:13:20.123456789Z")
	ts(`"ts":"1700000000"`, "2023-11-14T22:13:20Z")
	ts(`"ts":"1700000000.5"`, "2023-11-14T22:13:20.5Z")
	ts(`"ts":1.7e9`, "2023-11-14T22:13:20Z")
	ts(`"ts":0`, "1970-01-01T00:00:00Z")
	ts(`"timestamp":"2026-11-23T10:00:00Z"`, "2026-11-23T10:00:00Z")
	ts(`"@timestamp":"2026-11-23T10:00:00Z"`, "2026-11-23T10:00:00Z")

	// Precedence: @timestamp, timestamp, time, ts; the others stay verbatim.
	f(`{"ts":1,"time":2,"timestamp":"2026-01-01T00:00:00Z","@timestamp":"2026-11-23T10:00:00Z"}`, JSON,
		lineTS+`,"ts":1,"time":2,"timestamp":"2026-01-01T00:00:00Z",`+ing+`}`)
	f(`{"ts":1700000000,"time":"2026-11-23T10:00:00Z"}`, JSON,
		lineTS+`,"ts":1700000000,`+ing+`}`)
	// Unparseable keys fall through to the next; unused ones stay verbatim.
	f(`{"time":"yesterday","ts":1700000000}`, JSON,
		`{"@timestamp":"2023-11-14T22:13:20Z","time":"yesterday",`+ing+`}`)
	f(`{"time":"2026-02-30T00:00:00Z","ts":true}`, JSON|BadTimestamp,
		lineTS+`,"time":"2026-02-30T00:00:00Z","ts":true,`+tsFlag+ing+`}`)
	f(`{"time":{"s":1},"ts":"","timestamp":null}`, JSON|BadTimestamp,
		lineTS+`,"time":{"s":1},"ts":"","timestamp":null,`+tsFlag+ing+`}`)
	f(`{"ts":99999999999999999999}`, JSON|BadTimestamp, lineTS+`,"ts":99999999999999999999,`+tsFlag+ing+`}`)
	// Elasticsearch stores 1970 to 2262 only: others are not used.
	f(`{"time":"0001-01-01T00:00:00Z"}`, JSON|BadTimestamp, lineTS+`,"time":"0001-01-01T00:00:00Z",`+tsFlag+ing+`}`)
	f(`{"time":"9999-12-31T23:59:59Z"}`, JSON|BadTimestamp, lineTS+`,"time":"9999-12-31T23:59:59Z",`+tsFlag+ing+`}`)
	f(`{"time":"1969-12-31T23:59:59Z"}`, JSON|BadTimestamp, lineTS+`,"time":"1969-12-31T23:59:59Z",`+tsFlag+ing+`}`)
	f(`{"@timestamp":"0001-01-01T00:00:00Z"}`, JSON|BadTimestamp|Renamed,
		lineTS+`,"@timestamp_original":"0001-01-01T00:00:00Z","log.flags":["timestamp_unusable","field_renamed"],`+ing+`}`)
	f(`{"ts":-1}`, JSON|BadTimestamp, lineTS+`,"ts":-1,`+tsFlag+ing+`}`)
	f(`{"ts":"2026-11-23T10:00:00\u005a"}`, JSON|BadTimestamp, lineTS+`,"ts":"2026-11-23T10:00:00\u005a",`+tsFlag+ing+`}`)
	// An unused @timestamp must not clash with ours.
	f(`{"@timestamp":"23/Nov/2026:10:00:00","time":1700000000}`, JSON,
		`{"@timestamp":"2023-11-14T22:13:20Z","@timestamp_original":"23/Nov/2026:10:00:00","log.flags":["field_renamed"],`+ing+`}`)
	f(`{"@timestamp":123456789012345678901234567890}`, JSON,
		lineTS+`,"@timestamp_original":123456789012345678901234567890,"log.flags":["timestamp_unusable","field_renamed"],`+ing+`}`)
	f(`{"@timestamp":"2026-11-23T10:00:00Z","@timestamp":"2026-11-23T10:00:01Z"}`, JSON,
		lineTS+`,"@timestamp_original":"2026-11-23T10:00:01Z","log.flags":["field_renamed"],`+ing+`}`)

	// Levels.
	lvl := func(member, want string) {
		t.Helper()
		f(`{`+member+`}`, JSON, lineTS+`,"log.level":"`+want+`",`+ing[:len(ing)]+`}`)
	}
	lvl(`"level":"info"`, "info")
	lvl(`"level":"INFO"`, "info")
	lvl(`"level":"Warning"`, "warning")
	lvl(`"log.level":"ERROR"`, "error")
	lvl(`"severity":"DEBUG"`, "debug")
	lvl(`"lvl":"dbug"`, "dbug")
	lvl(`"level":"W\u00C9"`, `w\u00c9`)
	lvl(`"level":"ÉRROR"`, "Érror")
	lvl(`"level":-1`, "trace")
	lvl(`"level":0`, "debug")
	lvl(`"level":1`, "info")
	lvl(`"level":2`, "warn")
	lvl(`"level":3`, "error")
	lvl(`"level":4`, "fatal")
	lvl(`"level":5`, "panic")
	// pino and bunyan.
	lvl(`"level":10`, "trace")
	lvl(`"level":30`, "info")
	lvl(`"level":40`, "warn")
	lvl(`"level":50`, "error")
	lvl(`"level":60`, "fatal")
	lvl(`"level":35`, "35")
	lvl(`"level":70`, "70")
	lvl(`"level":1.5`, "1.5")
	// zerolog's NoLevel and Disabled carry no level.
	f(`{"level":6}`, JSON, lineTS+`,"level":6,`+ing+`}`)
	f(`{"level":7,"severity":"info"}`, JSON, lineTS+`,"log.level":"info","level":7,`+ing+`}`)
	f(`{"level":"","lvl":"warn"}`, JSON, lineTS+`,"log.level":"warn","level":"",`+ing+`}`)
	f(`{"level":true,"lvl":null}`, JSON, lineTS+`,"level":true,"lvl":null,`+ing+`}`)
	// log.level first: ecszerolog.
	f(`{"level":"debug","log.level":"info"}`, JSON, lineTS+`,"log.level":"info","level":"debug",`+ing+`}`)
	// An unusable log.level moves aside when we write ours.
	f(`{"log.level":{"x":1},"level":"info"}`, JSON,
		lineTS+`,"log.level":"info","log.level_original":{"x":1},"log.flags":["field_renamed"],`+ing+`}`)
	f(`{"log.level":null}`, JSON, lineTS+`,"log.level":null,`+ing+`}`)

	// Messages.
	f(`{"msg":"hi"}`, JSON, lineTS+`,"message":"hi",`+ing+`}`)
	f(`{"msg":"a","message":"b"}`, JSON, lineTS+`,"message":"b","msg":"a",`+ing+`}`)
	f(`{"message":"with \"quotes\" and \u00e9 \n"}`, JSON, lineTS+`,"message":"with \"quotes\" and \u00e9 \n",`+ing+`}`)
	f(`{"message":""}`, JSON, lineTS+`,"message":"",`+ing+`}`)
	f(`{"message":42}`, JSON, lineTS+`,"message":42,`+ing+`}`)
	f(`{"message":{"k":1},"msg":"m"}`, JSON, lineTS+`,"message":"m","message_original":{"k":1},"log.flags":["field_renamed"],`+ing+`}`)
	f(`{"msg":["a"],"message":null}`, JSON, lineTS+`,"msg":["a"],"message":null,`+ing+`}`)

	// Repeated names: the first one is used, the others go to _original.
	f(`{"message":"a","message":"b"}`, JSON, lineTS+`,"message":"a","message_original":"b","log.flags":["field_renamed"],`+ing+`}`)
	f(`{"message":"a","x":1,"message":"b","message":"c"}`, JSON,
		lineTS+`,"message":"a","x":1,"message_original":["b","c"],"log.flags":["field_renamed","field_merged"],`+ing+`}`)
	f(`{"message":"a","message_original":"z","message":"b"}`, JSON,
		lineTS+`,"message":"a","message_original":["z","b"],"log.flags":["field_renamed","field_merged"],`+ing+`}`)
	f(`{"message":"a","message_original":"z"}`, JSON, lineTS+`,"message":"a","message_original":"z",`+ing+`}`)
	f(`{"msg":"a","msg":"b"}`, JSON, lineTS+`,"message":"a","msg_original":"b","log.flags":["field_renamed"],`+ing+`}`)
	f(`{"level":"info","level":"warn","level":"x"}`, JSON, lineTS+`,"log.level":"info","level_original":["warn","x"],"log.flags":["field_renamed","field_merged"],`+ing+`}`)
	f(`{"time":1700000000,"time":"2026-11-23T10:00:00Z"}`, JSON,
		`{"@timestamp":"2023-11-14T22:13:20Z","time_original":"2026-11-23T10:00:00Z","log.flags":["field_renamed"],`+ing+`}`)
	// Names are matched on raw bytes for use, unescaped for clashes.
	f(`{"\u006cevel":"info"}`, JSON, lineTS+`,"\u006cevel":"info",`+ing+`}`)
	f(`{"msg":"m","\u006dessage":"e"}`, JSON, lineTS+`,"message":"m","message_original":"e","log.flags":["field_renamed"],`+ing+`}`)
	f(`{"\u0040timestamp":"x"}`, JSON, lineTS+`,"@timestamp_original":"x","log.flags":["field_renamed"],`+ing+`}`)
	f(`{"m\u00e9ssage":"x","a\"b":1}`, JSON, lineTS+`,"m\u00e9ssage":"x","a\"b":1,`+ing+`}`)
	// Names we write ourselves.
	f(`{"event.ingested":"2020-01-01T00:00:00Z","log.original_size":1,"log.flags":[]}`, JSON,
		lineTS+`,"event.ingested_original":"2020-01-01T00:00:00Z","log.original_size":1,"log.flags_original":[],"log.flags":["field_renamed"],`+ing+`}`)
	// Other repeated names (Elasticsearch rejects them) are merged.
	f(`{"a":1,"a":2}`, JSON|Merged, lineTS+`,"a":[1,2],"log.flags":["field_merged"],`+ing+`}`)
	f(`{"a":1,"b":2,"a":{"x":1},"\u0061":[3]}`, JSON|Merged, lineTS+`,"a":[1,{"x":1},[3]],"b":2,"log.flags":["field_merged"],`+ing+`}`)

	// Nesting, whitespace, empty objects.
	f(`{"a":{"b":[1,{"c":"d"},[]],"e":{}},"f":[{"g":null}]}`, JSON,
		lineTS+`,"a":{"b":[1,{"c":"d"},[]],"e":{}},"f":[{"g":null}],`+ing+`}`)
	f(" \t{ \"a\" : 1 ,\r\n\"msg\":\"m\" , \"b\":[ 1 , 2 ] }\r\t ", JSON,
		lineTS+`,"message":"m","a" : 1,"b":[ 1 , 2 ],`+ing+`}`)
	f(`{}`, JSON, lineTS+`,`+ing+`}`)
	f(`{ }`, JSON, lineTS+`,`+ing+`}`)
	f(`{"a":true,"b":false,"c":null,"d":-0.5e+10,"e":0,"f":1E-3,"g":"\"\\\/\b\f\n\r\t\u20AC"}`, JSON,
		lineTS+`,"a":true,"b":false,"c":null,"d":-0.5e+10,"e":0,"f":1E-3,"g":"\"\\\/\b\f\n\r\t\u20AC",`+ing+`}`)
	// Escaped surrogates are valid JSON and kept as they are.
	f(`{"a":"\ud83d\ude00 \ud800"}`, JSON, lineTS+`,"a":"\ud83d\ude00 \ud800",`+ing+`}`)

	// Invalid UTF-8 in a valid JSON line.
	f("{\"msg\":\"bad \xff byte\",\"k\xc3\":\"\xe2\x82\"}", JSON|InvalidUTF8,
		lineTS+`,"message":"bad `+"\ufffd"+` byte","k`+"\ufffd"+`":"`+"\ufffd\ufffd"+`","log.flags":["invalid_utf8"],`+ing+`}`)
	f("{\"log.flags\":1,\"x\":\"\xc0\xaf\"}", JSON|InvalidUTF8,
		lineTS+`,"log.flags_original":1,"x":"`+"\ufffd\ufffd"+`","log.flags":["invalid_utf8","field_renamed"],`+ing+`}`)
}

func TestAppendDataset(t *testing.T) {
	p := newTestParser("")
	f := func(in, want string) {
		t.Helper()
		out, info := p.Append(nil, &Line{Data: []byte(in), Time: lineTime})
		checkDoc(t, out, true)
		if string(info.Dataset) != want || (want == "") != (info.Dataset == nil) {
			t.Fatalf("Append(%q) dataset: got %q, want %q", in, info.Dataset, want)
		}
		if len(want) > 0 && !bytes.Contains(out, []byte(`"data_stream.dataset":"`+want+`"`)) {
			t.Fatalf("Append(%q) dropped data_stream.dataset: %s", in, out)
		}
	}
	f(`{"data_stream.dataset":"orders","msg":"x"}`, "orders")
	f(`{"data_stream.dataset":"a","data_stream.dataset":"b"}`, "a")
	f(`{"data_stream.dataset":1}`, "")
	f(`{"data_stream":{"dataset":"nested"}}`, "")
	f("{\"data_stream.dataset\":\"x\xff\"}", "x\ufffd")
	f(`plain`, "")
	f(`{"data_stream.dataset":"x"`, "")
}

func TestAppendText(t *testing.T) {
	p := newTestParser("")
	f := func(in string, wantFlags Flags, want string) {
		t.Helper()
		out, info := p.Append(nil, &Line{Data: []byte(in), Time: lineTime})
		if string(out) != want {
			t.Fatalf("Append(%q)\ngot  %s\nwant %s", in, out, want)
		}
		if info.Flags != wantFlags {
			t.Fatalf("Append(%q) flags: got %b, want %b", in, info.Flags, wantFlags)
		}
		if info.Dataset != nil {
			t.Fatalf("Append(%q) dataset: got %q, want nil", in, info.Dataset)
		}
		checkDoc(t, out, false)
	}
	msg := func(m string) string { return lineTS + `,"message":` + m }

	f(``, 0, msg(`"",`+ing+`}`))
	f(`   `, 0, msg(`"   ",`+ing+`}`))
	f(`hello world`, 0, msg(`"hello world",`+ing+`}`))
	f(`[1,2]`, 0, msg(`"[1,2]",`+ing+`}`))
	f(`42`, 0, msg(`"42",`+ing+`}`))
	f(`"quoted"`, 0, msg(`"\"quoted\"",`+ing+`}`))
	f("tab\there \\ \x01\x1f\x7f\r", 0, msg(`"tab\there \\ \u0001\u001f`+"\x7f"+`\r",`+ing+`}`))
	f("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 0, msg("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\","+ing+`}`))
	f("bad \xff\xfe end", InvalidUTF8, msg(`"bad `+"\ufffd\ufffd"+` end","log.flags":["invalid_utf8"],`+ing+`}`))
	f("\xed\xa0\x80", InvalidUTF8, msg(`"`+"\ufffd\ufffd\ufffd"+`","log.flags":["invalid_utf8"],`+ing+`}`))

	// Malformed JSON objects: raw message, reason and tag.
	bad := func(in, reason string) {
		t.Helper()
		var m []byte
		m, _ = AppendString(m, []byte(in))
		flags := Malformed
		if !utf8.ValidString(in) {
			flags |= InvalidUTF8
		}
		tail := `,"error.message":"` + reason + `",` + jsonFail
		if flags&InvalidUTF8 != 0 {
			tail = `,"error.message":"` + reason + `","log.flags":["invalid_utf8","json_parse_failure"]`
		}
		f(in, flags, msg(string(m)+tail+`,`+ing+`}`))
	}
	bad(`{`, `unexpected end of input at offset 1`)
	bad(`  {  `, `unexpected end of input at offset 5`)
	bad(`{"a":1,}`, `invalid character '}' looking for beginning of object key string at offset 7`)
	bad(`{a:1}`, `invalid character 'a' looking for beginning of object key string at offset 1`)
	bad(`{"a" 1}`, `invalid character '1' after object key at offset 5`)
	bad(`{"a":1 "b":2}`, `invalid character '\"' after object key:value pair at offset 7`)
	bad(`{"a":[1 2]}`, `invalid character '2' after array element at offset 8`)
	bad(`{"a":[1,]}`, `invalid character ']' looking for beginning of value at offset 8`)
	bad(`{"a":1]`, `invalid character ']' after object key:value pair at offset 6`)
	bad(`{"a":[1}`, `invalid character '}' after array element at offset 7`)
	bad(`{"a":1}x`, `invalid character 'x' after top-level value at offset 7`)
	bad(`{"a":1} {"b":2}`, `invalid character '{' after top-level value at offset 8`)
	bad(`{"a":1}}`, `invalid character '}' after top-level value at offset 7`)
	bad("{\"a\":\"x\x01\"}", `invalid character '\\x01' in string literal at offset 7`)
	bad("{\"a\":\"x\ty\"}", `invalid character '\\x09' in string literal at offset 7`)
	bad(`{"a":"\q"}`, `invalid character 'q' in string escape code at offset 7`)
	bad(`{"a":"\u12G4"}`, `invalid character 'G' in \\u hexadecimal character escape at offset 10`)
	bad(`{"a":"\u12"}`, `invalid character '\"' in \\u hexadecimal character escape at offset 10`)
	bad(`{"a":01}`, `invalid character '1' after object key:value pair at offset 6`)
	bad(`{"a":-}`, `invalid character '}' in numeric literal at offset 6`)
	bad(`{"a":+1}`, `invalid character '+' looking for beginning of value at offset 5`)
	bad(`{"a":1.}`, `invalid character '}' in numeric literal at offset 7`)
	bad(`{"a":.5}`, `invalid character '.' looking for beginning of value at offset 5`)
	bad(`{"a":1e}`, `invalid character '}' in numeric literal at offset 7`)
	bad(`{"a":1e+}`, `invalid character '}' in numeric literal at offset 8`)
	bad(`{"a":tru}`, `invalid character '}' in literal true, false or null at offset 8`)
	bad(`{"a":nul`, `unexpected end of input at offset 8`)
	bad(`{"a":True}`, `invalid character 'T' looking for beginning of value at offset 5`)
	bad(`{"a":'x'}`, `invalid character '\\'' looking for beginning of value at offset 5`)
	bad(`{"a":NaN}`, `invalid character 'N' looking for beginning of value at offset 5`)
	bad(`{"a":"x`, `unexpected end of input at offset 7`)
	bad(`{"a":"x\`, `unexpected end of input at offset 8`)
	bad(`{"a":"\u00`, `unexpected end of input at offset 10`)
	bad(`{"a"`, `unexpected end of input at offset 4`)
	bad(`{"a":`, `unexpected end of input at offset 5`)
	bad(`{"a":1,`, `unexpected end of input at offset 7`)
	bad(`{"a":[`, `unexpected end of input at offset 6`)
	bad(`{"a":{"b":1`, `unexpected end of input at offset 11`)
	bad(`{é}`, `invalid character 'é' looking for beginning of object key string at offset 1`)
	bad("{\xff}", `invalid character '\\xff' looking for beginning of object key string at offset 1`)
	bad("{\"a\":1}\x00", `invalid character '\\x00' after top-level value at offset 7`)
	bad("{\"a\xff\":1,}", `invalid character '}' looking for beginning of object key string at offset 8`)
	bad("{\"a\":1}\u00a0", `invalid character '\\u00a0' after top-level value at offset 7`)
}

func TestAppendDepth(t *testing.T) {
	p := newTestParser("")
	// The line's object is level 1: 999 arrays inside it are allowed.
	ok := `{"a":` + strings.Repeat("[", maxDepth-1) + strings.Repeat("]", maxDepth-1) + `}`
	out, info := p.Append(nil, &Line{Data: []byte(ok), Time: lineTime})
	if info.Flags != JSON {
		t.Fatalf("depth %d: got flags %b, want JSON: %.200s", maxDepth, info.Flags, out)
	}
	checkDoc(t, out, false)

	deep := `{"a":` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `}`
	out, info = p.Append(nil, &Line{Data: []byte(deep), Time: lineTime})
	if info.Flags != Malformed || !bytes.Contains(out, []byte(`"error.message":"nesting deeper than 1000 levels at offset 1004"`)) {
		t.Fatalf("depth %d: got flags %b: %.100s...%s", maxDepth+1, info.Flags, out, out[len(out)-200:])
	}
	checkDoc(t, out, false)

	// A MiB of '[' or '{"a":' must be rejected quickly, without recursion.
	for _, unit := range []string{"[", `{"a":`} {
		huge := "{\"a\":" + strings.Repeat(unit, 1<<20/len(unit))
		out, info = p.Append(nil, &Line{Data: []byte(huge), Time: lineTime})
		if info.Flags != Malformed {
			t.Fatalf("huge nesting: got flags %b", info.Flags)
		}
		checkDoc(t, out, false)
	}
}

func TestAppendTruncated(t *testing.T) {
	p := newTestParser("")
	f := func(in string, size int, wantFlags Flags, want string) {
		t.Helper()
		out, info := p.Append(nil, &Line{Data: []byte(in), Size: size, Time: lineTime})
		if string(out) != want {
			t.Fatalf("Append(%q, size %d)\ngot  %s\nwant %s", in, size, out, want)
		}
		if info.Flags != wantFlags {
			t.Fatalf("Append(%q) flags: got %b, want %b", in, info.Flags, wantFlags)
		}
		checkDoc(t, out, false)
	}
	f(`plain text cut`, 100, Truncated,
		lineTS+`,"message":"plain text cut","log.flags":["truncated"],"log.original_size":100,`+ing+`}`)
	// Size <= len(Data) means not truncated.
	f(`plain`, 5, 0, lineTS+`,"message":"plain",`+ing+`}`)
	f(`{"msg":"a long mess`, 30, Truncated|Malformed,
		lineTS+`,"message":"{\"msg\":\"a long mess","error.message":"unexpected end of input at offset 19; line truncated at 19 of 30 bytes",`+
			`"log.flags":["truncated","json_parse_failure"],"log.original_size":30,`+ing+`}`)
	// A character cut in half at the limit is dropped, not flagged.
	f("{\"msg\":\"caf\xc3", 30, Truncated|Malformed,
		lineTS+`,"message":"{\"msg\":\"caf","error.message":"unexpected end of input at offset 11; line truncated at 12 of 30 bytes",`+
			`"log.flags":["truncated","json_parse_failure"],"log.original_size":30,`+ing+`}`)
	f("\xf0\x9f\x98\x80\xf0\x9f\x98", 8, Truncated,
		lineTS+`,"message":"`+"\xf0\x9f\x98\x80"+`","log.flags":["truncated"],"log.original_size":8,`+ing+`}`)
	f("bad \xff cut \xe2\x82", 100, Truncated|InvalidUTF8,
		lineTS+`,"message":"bad `+"\ufffd"+` cut ","log.flags":["truncated","invalid_utf8"],"log.original_size":100,`+ing+`}`)
	// A complete object followed by cut-off spaces is still JSON.
	f("{\"msg\":\"m\xff\",\"log.original_size\":5}  ", 100, Truncated|JSON|InvalidUTF8|Renamed,
		lineTS+`,"message":"m`+"\ufffd"+`","log.original_size_original":5,"log.flags":["truncated","invalid_utf8","field_renamed"],"log.original_size":100,`+ing+`}`)
}

func TestAppendFieldsAndStatic(t *testing.T) {
	p := newTestParser(` "agent.type":"shipper","host.name":"h","labels":{"a":"b"} `)
	f := func(in, fields, want string) {
		t.Helper()
		out, _ := p.Append(nil, &Line{Data: []byte(in), Time: lineTime, Fields: []byte(fields)})
		if string(out) != want {
			t.Fatalf("Append(%q, fields %q)\ngot  %s\nwant %s", in, fields, out, want)
		}
		checkDoc(t, out, false)
	}
	const static = `,"agent.type":"shipper","labels":{"a":"b"}}`
	// The shipper's host.name is written only when the line has no host.
	const host = `"host.name":"h",`
	f(`x`, ``, lineTS+`,"message":"x",`+host+ing+static)
	f(`x`, `"stream":"stdout"`, lineTS+`,"message":"x",`+host+ing+`,"stream":"stdout"`+static)
	f(`{"a":1}`, `"log.file.path":"/var/log/a.log"`, lineTS+`,"a":1,`+host+ing+`,"log.file.path":"/var/log/a.log"`+static)
	f(`{`, `"log.offset":7`, lineTS+`,"message":"{","error.message":"unexpected end of input at offset 1",`+jsonFail+`,`+host+ing+`,"log.offset":7`+static)
	// A line's own member with one of our names moves aside; its own host
	// wins over ours.
	f(`{"host.name":"app","labels":1,"a":2}`, ``,
		lineTS+`,"host.name":"app","labels_original":1,"a":2,"log.flags":["field_renamed"],`+ing+static)
	f(`{"host":"app"}`, ``, lineTS+`,"host.name":"app","log.flags":["ecs_renamed"],`+ing+static)
	f(`{"host":{"name":"app"}}`, ``, lineTS+`,"host":{"name":"app"},`+ing+static)
	f(`{"hostname":"app"}`, ``, lineTS+`,"hostname":"app",`+host+ing+static)
	f(`{"host.name":"app","host.name":"b","host.name_original":3}`, `"stream":"stdout"`,
		lineTS+`,"host.name":["app","b"],"host.name_original":3,"log.flags":["field_merged"],`+ing+`,"stream":"stdout"`+static)
	f(`{"stream":"x","stream_original":1,"log.offset":5}`, `"stream":"stdout"`,
		lineTS+`,"stream_original":["x",1],"log.offset":5,"log.flags":["field_renamed","field_merged"],`+host+ing+`,"stream":"stdout"`+static)
	f(`{"stream":"x","log.offset":5}`, `"log.offset":7`,
		lineTS+`,"stream":"x","log.offset_original":5,"log.flags":["field_renamed"],`+host+ing+`,"log.offset":7`+static)
	f(`{"stream_original":1}`, `"stream":"stdout"`, lineTS+`,"stream_original":1,`+host+ing+`,"stream":"stdout"`+static)
	f(`{"h\u006fst.name":1}`, ``, lineTS+`,"h\u006fst.name":1,`+ing+static)
	f(`{"a\"b":1}`, `"a\"b":2`, lineTS+`,"a\"b_original":1,"log.flags":["field_renamed"],`+host+ing+`,"a\"b":2`+static)
}

func TestAppendNoTime(t *testing.T) {
	p := newTestParser("")
	out, _ := p.Append(nil, &Line{Data: []byte("x")})
	if want := `{"@timestamp":"2026-11-23T10:00:05Z","message":"x",` + ing + `}`; string(out) != want {
		t.Fatalf("got %s, want %s", out, want)
	}
	p = New(nil)
	out, _ = p.Append(nil, &Line{Data: []byte("x")})
	checkDoc(t, out, false)
	if bytes.Contains(out, []byte(`"1970-`)) {
		t.Fatalf("New did not set event.ingested: %s", out)
	}
}

// Append must not keep or modify the line, and must only append to dst.
func TestAppendNoRetention(t *testing.T) {
	p := newTestParser(`"a":1`)
	line := []byte("{\"msg\":\"x\xff\",\"level\":\"INFO\",\"data_stream.dataset\":\"d\"}")
	orig := append([]byte(nil), line...)
	dst := make([]byte, 3, 1024)
	copy(dst, "abc")
	out, _ := p.Append(dst, &Line{Data: line, Time: lineTime, Fields: []byte(`"f":2`)})
	if !bytes.Equal(line, orig) {
		t.Fatalf("Append modified the line: %q", line)
	}
	if string(out[:3]) != "abc" {
		t.Fatalf("Append modified dst: %q", out[:3])
	}
	first := string(out)
	out2, _ := p.Append(nil, &Line{Data: []byte(`other`), Time: lineTime})
	checkDoc(t, out2, false)
	if string(out) != first {
		t.Fatalf("a later Append changed an earlier document")
	}
}

func TestAppendZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	p := newTestParser(`"agent.type":"shipper","host.name":"h"`)
	for _, in := range []string{benchLine, "plain text line", "{\"msg\":\"bad \xff\",\"a\":1}", `{"a":1,}`,
		`{"@timestamp":"bad","time":1700000000,"message":"a","message":"b","host.name":"x"}`} {
		l := &Line{Data: []byte(in), Time: lineTime, Fields: []byte(`"log.file.path":"/var/log/app.log"`)}
		dst := make([]byte, 0, 4096)
		if n := testing.AllocsPerRun(100, func() { dst, _ = p.Append(dst[:0], l) }); n != 0 {
			t.Errorf("Append(%q): %v allocations, want 0", in, n)
		}
	}
}

func TestCountsAdd(t *testing.T) {
	var c Counts
	for _, f := range []Flags{JSON, JSON | InvalidUTF8, Malformed | Truncated, 0} {
		c.Add(f)
	}
	if c != (Counts{JSON: 2, Malformed: 1, InvalidUTF8: 1, Truncated: 1}) {
		t.Fatalf("counts: %+v", c)
	}
}

// TestFieldsID interleaves lines of sources whose Fields have ids, and
// sources without, and compares every document with the one a parser that
// sees no ids writes: an id names its Fields, whichever came between.
func TestFieldsID(t *testing.T) {
	a, b := NewFieldsID(), NewFieldsID()
	if a == 0 || b == 0 || a == b {
		t.Fatalf("NewFieldsID: %d, %d", a, b)
	}
	type src struct {
		fields string
		id     uint64
	}
	srcs := []src{
		{`"stream":"stdout","container.id":"c1"`, a},
		{`"stream":"stderr","container.id":"c1"`, b},
		{`"stream":"stdout","container.id":"c2"`, 0}, // a reused buffer: no id
		{`"stream":"stderr","container.id":"c1"`, 0}, // b's bytes without its id
		{``, 0},
	}
	lines := []string{`{"msg":"x","level":"info","stream":"mine"}`, `plain text`, `{"container.id":"own","a":1}`}
	with, without := newTestParser(`"agent.type":"shipper"`), newTestParser(`"agent.type":"shipper"`)
	order := []int{0, 0, 1, 0, 2, 0, 3, 1, 1, 4, 0, 2, 2, 1, 3, 0}
	for i, k := range order {
		s := srcs[k]
		data := []byte(lines[i%len(lines)])
		got, _ := with.Append(nil, &Line{Data: data, Time: lineTime, Fields: []byte(s.fields), FieldsID: s.id})
		want, _ := without.Append(nil, &Line{Data: data, Time: lineTime, Fields: []byte(s.fields)})
		if string(got) != string(want) {
			t.Fatalf("line %d (fields %q, id %d)\ngot  %s\nwant %s", i, s.fields, s.id, got, want)
		}
		checkDoc(t, got, false)
	}
}
