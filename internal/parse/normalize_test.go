package parse

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestAppendNormalise(t *testing.T) {
	p := newTestParser(`"agent.type":"shipper","host.name":"h"`)
	const tail = `,"agent.type":"shipper"}`
	f := func(in, want string) {
		t.Helper()
		out, info := p.Append(nil, &Line{Data: []byte(in), Time: lineTime})
		if string(out) != want {
			t.Fatalf("Append(%q)\ngot  %s\nwant %s", in, out, want)
		}
		if got, wantF := info.Flags&shownFlags, flagsIn(t, want); got != wantF {
			t.Fatalf("Append(%q) flags: got %b, log.flags say %b", in, got, wantF)
		}
		checkDoc(t, out, false)
	}
	const host = `"host.name":"h",`
	ecs := `"log.flags":["ecs_renamed"],`
	ren := `"log.flags":["field_renamed"],`

	// The ECS table: scalars only, and only when the ECS field is free.
	f(`{"service":"checkout","host":"checkout-7d9f8-abc","message":"ok"}`,
		lineTS+`,"message":"ok","service.name":"checkout","host.name":"checkout-7d9f8-abc",`+ecs+ing+tail)
	f(`{"level":"error","error":"connection refused","message":"db down"}`,
		lineTS+`,"log.level":"error","message":"db down","error.message":"connection refused",`+ecs+host+ing+tail)
	f(`{"url":"/api/v1/orders","user_agent":"curl/8.5","client":"10.0.0.1","container":"web"}`,
		lineTS+`,"url.original":"/api/v1/orders","user_agent.original":"curl/8.5","client.address":"10.0.0.1","container.name":"web",`+ecs+host+ing+tail)
	f(`{"trace":"t","span":"s","transaction":"x"}`,
		lineTS+`,"trace.id":"t","span.id":"s","transaction.id":"x",`+ecs+host+ing+tail)
	f(`{"traceId":"t","spanId":"s"}`, lineTS+`,"trace.id":"t","span.id":"s",`+ecs+host+ing+tail)
	f(`{"service":7,"error":true}`, lineTS+`,"service.name":7,"error.message":true,`+ecs+host+ing+tail)
	// Objects, arrays and null keep their name (they are fine as they are).
	f(`{"service":{"name":"a"},"error":{"kind":"x"},"url":["a"],"host":null}`,
		lineTS+`,"service":{"name":"a"},"error":{"kind":"x"},"url":["a"],"host":null,`+ing+tail)
	// The ECS field is there already: no rename.
	f(`{"service":"a","service.name":"b"}`, lineTS+`,"service":"a","service.name":"b",`+host+ing+tail)
	f(`{"trace_id":"a","trace.id":"b"}`, lineTS+`,"trace_id":"a","trace.id":"b",`+host+ing+tail)
	// Two names that map to one field are merged.
	f(`{"trace":"a","trace_id":"b"}`, lineTS+`,"trace.id":["a","b"],"log.flags":["ecs_renamed","field_merged"],`+host+ing+tail)
	// structlog: "event" is the message; else the event's action.
	f(`{"event":"user logged in","level":"info"}`, lineTS+`,"log.level":"info","message":"user logged in",`+host+ing+tail)
	f(`{"event":"login","message":"m"}`, lineTS+`,"message":"m","event.action":"login",`+ecs+host+ing+tail)
	// Serilog compact JSON and Python logging.
	f(`{"@t":"2026-11-23T10:00:00Z","@mt":"Hello, {User}","@l":"Warning","User":"ann"}`,
		lineTS+`,"log.level":"warning","message":"Hello, {User}","User":"ann",`+host+ing+tail)
	f(`{"levelname":"INFO","message":"m"}`, lineTS+`,"log.level":"info","message":"m",`+host+ing+tail)
	// GELF (log4j2's GelfLayout, Graylog's format, on stdout): short_message
	// is the message and the numeric level a syslog severity, not zerolog's
	// (4 is warning, not fatal; 6 and 7 are info and debug, not "no level").
	f(`{"version":"1.1","host":"h1","short_message":"m","timestamp":1795428000.5,"level":4,"_logger":"x"}`,
		`{"@timestamp":"2026-11-23T10:00:00.5Z","log.level":"warning","message":"m","version":"1.1","host.name":"h1","_logger":"x",`+ecs+ing+tail)
	f(`{"version":"1.1","short_message":"m","full_message":"m\nat x","level":6}`,
		lineTS+`,"log.level":"info","message":"m","version":"1.1","full_message":"m\nat x",`+host+ing+tail)
	f(`{"short_message":"m","level":7}`, lineTS+`,"log.level":"debug","message":"m",`+host+ing+tail)
	f(`{"short_message":"m","level":0}`, lineTS+`,"log.level":"emergency","message":"m",`+host+ing+tail)
	// Without short_message, numbers are zerolog's levels as before.
	f(`{"level":4,"message":"m"}`, lineTS+`,"log.level":"fatal","message":"m",`+host+ing+tail)
	// A message member comes first.
	f(`{"message":"a","short_message":"b","level":3}`, lineTS+`,"log.level":"error","message":"a","short_message":"b",`+host+ing+tail)
	// python-json-logger with the format of its documentation: asctime is
	// logging's local time, without a zone (UTC, as Elasticsearch takes it).
	f(`{"asctime": "2026-11-23 11:00:00,123", "levelname": "WARNING", "name": "app.db", "message": "m"}`,
		`{"@timestamp":"2026-11-23T11:00:00.123Z","log.level":"warning","message":"m","name": "app.db",`+host+ing+tail)
	// A usable @timestamp, timestamp, time, ts or @t comes first.
	f(`{"asctime":"2026-11-23 11:00:00,123","time":"2026-11-23T10:00:00Z"}`, lineTS+`,"asctime":"2026-11-23 11:00:00,123",`+host+ing+tail)

	// Names Elasticsearch cannot take.
	f(`{"_id":1,"_index":2,"_source":3,"_routing":4,"_foo":5}`,
		lineTS+`,"_id_original":1,"_index_original":2,"_source_original":3,"_routing_original":4,"_foo":5,`+ren+host+ing+tail)
	f(`{"":1," ":2,".":3,"a..b":4,".a":5,"a.":6,"a. .b":7,"a.b":8}`,
		lineTS+`,"_":[1,2],"_._":3,"a._.b":[4,7],"_.a":5,"a._":6,"a.b":8,"log.flags":["field_renamed","field_merged"],`+host+ing+tail)
	// A fixed name that meets an existing one is merged with it.
	f(`{"_":1,"":2}`, lineTS+`,"_":[1,2],"log.flags":["field_renamed","field_merged"],`+host+ing+tail)

	// A byte-order mark before the object.
	f("\xef\xbb\xbf{\"msg\":\"m\"}", lineTS+`,"message":"m","log.flags":["byte_order_mark"],`+host+ing+tail)
	f("\xef\xbb\xbf  {\"msg\":\"m\"}", lineTS+`,"message":"m","log.flags":["byte_order_mark"],`+host+ing+tail)
	f(" \t\xef\xbb\xbf{\"msg\":\"m\"}", lineTS+`,"message":"m","log.flags":["byte_order_mark"],`+host+ing+tail)
	// Whitespace alone before the object (Append's test of the first
	// byte skips none of this).
	f(" \t{\"msg\":\"m\"}", lineTS+`,"message":"m",`+host+ing+tail)
	// Not before an object: text, kept.
	f("\xef\xbb\xbfplain", lineTS+`,"message":"`+"\ufeff"+`plain",`+host+ing+tail)
}

func TestAppendOrder(t *testing.T) {
	p := newTestParser("")
	f := func(l Line, want string) {
		t.Helper()
		l.Time = lineTime
		out, _ := p.Append(nil, &l)
		if string(out) != want {
			t.Fatalf("Append(%q)\ngot  %s\nwant %s", l.Data, out, want)
		}
		checkDoc(t, out, false)
	}
	f(Line{Data: []byte(`x`), Order: 42, OrderKind: OrderOffset}, lineTS+`,"message":"x","log.offset":42,`+ing+`}`)
	f(Line{Data: []byte(`x`), Order: 0, OrderKind: OrderOffset}, lineTS+`,"message":"x","log.offset":0,`+ing+`}`)
	f(Line{Data: []byte(`{"event.sequence":"a"}`), Order: 7, OrderKind: OrderSequence},
		lineTS+`,"event.sequence_original":"a","log.flags":["field_renamed"],"event.sequence":7,`+ing+`}`)
	f(Line{Data: []byte(`{"log.offset":1}`), Order: 7, OrderKind: OrderSequence},
		lineTS+`,"log.offset":1,"event.sequence":7,`+ing+`}`)
}

// TestAppendOrderValues writes order fields of runs of consecutive values
// across every carry, of jumps, negative values, the ends of int64, and
// changes of OrderKind, and compares them with appendInt.
func TestAppendOrderValues(t *testing.T) {
	p := newTestParser("")
	f := func(kind OrderKind, v int64) {
		t.Helper()
		name := `,"log.offset":`
		if kind == OrderSequence {
			name = `,"event.sequence":`
		}
		want := string(appendInt([]byte("x"+name), v))
		if got := string(p.appendOrder([]byte("x"), kind, v)); got != want {
			t.Fatalf("appendOrder(%d, %d) = %s, want %s", kind, v, got, want)
		}
	}
	for _, start := range []int64{-25, 0, 90, 995, 1998, 99990, 999999990, math.MaxInt64 - 12} {
		for _, kind := range []OrderKind{OrderSequence, OrderOffset} {
			for v := start; v < start+12 && v >= start; v++ {
				f(kind, v)
			}
			f(kind, start)
		}
	}
	// Offsets of a file's lines: steps of a line's length, across carries
	// into every digit and into one digit more, and steps too long to add.
	for _, start := range []int64{0, 9, 95, 999_000, 999_999_990, math.MaxInt64 - 3<<20} {
		f(OrderSequence, 3)
		v := start
		for _, step := range []int64{1, 5, 10, 99, 446, 1 << 16, 9_999, 1<<20 - 1, 1 << 20, 3, 1 << 30, 1e15} {
			for k := 0; k < 3 && v <= math.MaxInt64-step; k++ {
				v += step
				f(OrderOffset, v)
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for v, i := int64(0), 0; i < 100_000; i++ {
		v += rng.Int64N(2000)
		f(OrderOffset, v)
	}
	f(OrderSequence, math.MaxInt64)
	f(OrderSequence, math.MinInt64)
	f(OrderSequence, math.MinInt64+1)
	f(OrderOffset, 7)
	f(OrderSequence, 8)
	f(OrderOffset, 9)
	f(OrderOffset, 10)
}

// TestAppendOffset writes offsets of every number of digits, at the powers
// of ten and between them, into buffers with and without room, and compares
// them with appendInt.
func TestAppendOffset(t *testing.T) {
	p := newTestParser("")
	rng := rand.New(rand.NewPCG(3, 4))
	f := func(v int64, dst []byte) {
		t.Helper()
		want := string(appendInt(append(slices.Clip(dst), `,"log.offset":`...), v))
		if got := string(p.appendOrder(dst, OrderOffset, v)); got != want {
			t.Fatalf("appendOrder(offset, %d) after %q = %s, want %s", v, dst, got, want)
		}
	}
	pre := []byte("{}")
	for pow := int64(1); pow <= math.MaxInt64/10; pow *= 10 {
		for _, v := range []int64{pow - 1, pow, pow + 1, 2*pow - 1, 5*pow + 7, 10*pow - 1, pow + rng.Int64N(9*pow)} {
			if v < 0 {
				continue
			}
			f(v, nil)
			f(v, pre)
			f(v, make([]byte, 3, 40))
			f(v, make([]byte, 0, 64))
		}
	}
	f(math.MaxInt64, pre)
	f(-1, pre)
	f(math.MinInt64, pre)
}

func TestIsBlank(t *testing.T) {
	for _, s := range []string{"", " ", "\t", "\r", " \t\r\n "} {
		if !IsBlank([]byte(s)) {
			t.Fatalf("IsBlank(%q) = false", s)
		}
	}
	for _, s := range []string{"x", " x ", "\x00", "\u00a0", "\xef\xbb\xbf"} {
		if IsBlank([]byte(s)) {
			t.Fatalf("IsBlank(%q) = true", s)
		}
	}
}

func TestBadName(t *testing.T) {
	for name, want := range map[string]string{
		"": "_", " ": "_", ".": "_._", "..": "_._._", "a..b": "a._.b", ".a": "_.a", "a.": "a._",
		"_id": "_id_original", "_doc_count": "_doc_count_original", "a. \t.b": "a._.b",
	} {
		if !badName([]byte(name)) {
			t.Fatalf("badName(%q) = false", name)
		}
		if got := string(appendFixedName(nil, []byte(name))); got != want {
			t.Fatalf("appendFixedName(%q) = %q, want %q", name, got, want)
		}
		if badName([]byte(want)) {
			t.Fatalf("badName(%q) = true for a fixed name", want)
		}
	}
	for _, name := range []string{"a", "a.b", "_foo", "_", "@timestamp", "a b", " 00", "a. b", strings.Repeat("x", 300)} {
		if badName([]byte(name)) {
			t.Fatalf("badName(%q) = true", name)
		}
	}
}

func TestAppendCallerReplacedUTF8(t *testing.T) {
	p := newTestParser("")
	out, info := p.Append(nil, &Line{Data: []byte(`{"log":"a` + "\ufffd" + `"}`), Time: lineTime, InvalidUTF8: true})
	if info.Flags&InvalidUTF8 == 0 || !strings.Contains(string(out), `"log.flags":["invalid_utf8"]`) {
		t.Fatalf("flags %b, document %s", info.Flags, out)
	}
}

func TestBuiltinID(t *testing.T) {
	for id := idNone + 1; id < idCount; id++ {
		if got := builtinID([]byte(idName[id])); got != id {
			t.Errorf("builtinID(%q) = %d, want %d", idName[id], got, id)
		}
	}
	for _, name := range []string{"", "m", "messages", "Message", "trace-id", "span.idx", "host.names", "hostname", "level ", "@timestamps"} {
		if got := builtinID([]byte(name)); got != idNone {
			t.Errorf("builtinID(%q) = %d (%s), want none", name, got, idName[got])
		}
	}
}

// TestAppendStaticNameFastPath checks the members named like a member of
// static, which move to "<name>_original": on the fast path when that name
// is free, on the slow path (merging) when a member has it already, and the
// same documents from the general path.
func TestAppendStaticNameFastPath(t *testing.T) {
	const static = `"agent.type":"shipper","ecs.version":"8.11.0"`
	p, general := newTestParser(static), newTestParser(static)
	general.general = true
	const tail = `,"agent.type":"shipper","ecs.version":"8.11.0"}`
	ren := `"log.flags":["field_renamed"],`
	merged := `"log.flags":["field_renamed","field_merged"],`
	f := func(in, want string) {
		t.Helper()
		out, info := p.Append(nil, &Line{Data: []byte(in), Time: lineTime})
		if string(out) != want {
			t.Fatalf("Append(%q)\ngot  %s\nwant %s", in, out, want)
		}
		if got, wantF := info.Flags&shownFlags, flagsIn(t, want); got != wantF {
			t.Fatalf("Append(%q) flags: got %b, log.flags say %b", in, got, wantF)
		}
		if g, _ := general.Append(nil, &Line{Data: []byte(in), Time: lineTime}); string(g) != want {
			t.Fatalf("Append(%q), general path\ngot  %s\nwant %s", in, g, want)
		}
	}
	f(`{"message":"m","ecs.version":"1.2.0","a":1}`,
		lineTS+`,"message":"m","ecs.version_original":"1.2.0","a":1,`+ren+ing+tail)
	f(`{"ecs.version":{"x":1},"agent.type":"app"}`,
		lineTS+`,"ecs.version_original":{"x":1},"agent.type_original":"app",`+ren+ing+tail)
	// Not compact: the slow path, which writes `,<name>:<value>`.
	f(`{"ecs.version" : "1" , "b":2}`,
		lineTS+`,"ecs.version_original":"1","b":2,`+ren+ing+tail)
	f(`{"ecs.version":"1","b" : 2 ,"c":3}`,
		lineTS+`,"ecs.version_original":"1","b":2,"c":3,`+ren+ing+tail)
	// The new name is taken: merged, on the slow path.
	f(`{"ecs.version":"1","ecs.version_original":"2"}`,
		lineTS+`,"ecs.version_original":["1","2"],`+merged+ing+tail)
	f(`{"ecs.version_original":"2","ecs.version":"1"}`,
		lineTS+`,"ecs.version_original":["2","1"],`+merged+ing+tail)
}

// TestQuotedNameFitsOp checks that every prefix makePlan gives an op fits in
// op.pre: appendOps reserves 32 bytes per op for it.
func TestQuotedNameFitsOp(t *testing.T) {
	var o op
	for id, q := range quotedName {
		if len(q) > len(o.pre) {
			t.Errorf("quotedName[%d] = %q: %d bytes, op.pre holds %d", id, q, len(q), len(o.pre))
		}
	}
	for _, q := range []string{",", `_original":`} {
		if len(q) > len(o.pre) {
			t.Errorf("%q does not fit in op.pre", q)
		}
	}
}

// FuzzAppendOrder compares the order field of any value, after any bytes and
// after any other order field, with appendInt's digits.
func FuzzAppendOrder(f *testing.F) {
	f.Add(int64(446), int64(447), []byte("{}"), true)
	f.Add(int64(9), int64(10), []byte(nil), false)
	f.Add(int64(99_999_999), int64(100_000_000), []byte("xy"), true)
	f.Fuzz(func(t *testing.T, prev, v int64, dst []byte, offset bool) {
		p := newTestParser("")
		kind, name := OrderSequence, `,"event.sequence":`
		if offset {
			kind, name = OrderOffset, `,"log.offset":`
		}
		p.appendOrder(nil, kind, prev)
		want := string(appendInt(append(slices.Clip(dst), name...), v))
		if got := string(p.appendOrder(dst, kind, v)); got != want {
			t.Fatalf("appendOrder(%d, %d) after %d = %s, want %s", kind, v, prev, got, want)
		}
	})
}
