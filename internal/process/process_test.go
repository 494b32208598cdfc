package process

import (
	"encoding/json"
	"strings"
	"testing"

	"shipper/internal/encode"
	"shipper/internal/parse"
)

// run compiles specs as the global chain and processes doc.
func run(t *testing.T, specs []Spec, doc string) (string, encode.Outcome) {
	t.Helper()
	c, err := Compile(&Config{Processors: specs})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	r := c.Runner("stdin")
	prefix := "ACTION\n"
	body := []byte(prefix + doc)
	out, o := r.Process(body, len(prefix), &parse.Line{}, parse.Info{})
	if !strings.HasPrefix(string(out), prefix) {
		t.Fatalf("Process touched the bytes before the document: %q", out)
	}
	got := string(out[len(prefix):])
	if !o.Drop && !json.Valid([]byte(got)) {
		t.Fatalf("Process wrote invalid JSON: %s", got)
	}
	return got, o
}

func TestProcessors(t *testing.T) {
	f := func(name string, specs []Spec, in, want string) {
		t.Helper()
		got, o := run(t, specs, in)
		if o.Drop {
			got = "DROP"
		}
		if got != want {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
	doc := `{"@timestamp":"2024-01-02T03:04:05Z","log.level":"info","message":"hello","a":{"b":1,"c":"x"},"n":"42","kubernetes.namespace":"shop"}`

	// rename
	f("rename", []Spec{{Type: "rename", Pairs: []Pair{{Key: "message", Value: "msg.text"}}}}, doc,
		`{"@timestamp":"2024-01-02T03:04:05Z","log.level":"info","msg.text":"hello","a.b":1,"a.c":"x","n":"42","kubernetes.namespace":"shop"}`)
	f("rename object", []Spec{{Type: "rename", Pairs: []Pair{{Key: "a", Value: "z"}}}}, doc,
		`{"@timestamp":"2024-01-02T03:04:05Z","log.level":"info","message":"hello","z.b":1,"z.c":"x","n":"42","kubernetes.namespace":"shop"}`)
	f("rename missing keeps bytes", []Spec{{Type: "rename", Pairs: []Pair{{Key: "nope", Value: "z"}}}}, doc, doc)
	f("rename onto existing", []Spec{{Type: "rename", Pairs: []Pair{{Key: "n", Value: "message"}}}}, doc,
		`{"@timestamp":"2024-01-02T03:04:05Z","log.level":"info","a.b":1,"a.c":"x","message":"42","kubernetes.namespace":"shop"}`)
	// copy
	f("copy", []Spec{{Type: "copy", Pairs: []Pair{{Key: "a.c", Value: "c2"}}}}, doc,
		`{"@timestamp":"2024-01-02T03:04:05Z","log.level":"info","message":"hello","a.b":1,"a.c":"x","n":"42","kubernetes.namespace":"shop","c2":"x"}`)
	// remove
	f("remove", []Spec{{Type: "remove", Names: []string{"a", "n"}}}, doc,
		`{"@timestamp":"2024-01-02T03:04:05Z","log.level":"info","message":"hello","kubernetes.namespace":"shop"}`)
	f("remove leaf", []Spec{{Type: "remove", Names: []string{"a.b"}}}, doc,
		`{"@timestamp":"2024-01-02T03:04:05Z","log.level":"info","message":"hello","a.c":"x","n":"42","kubernetes.namespace":"shop"}`)
	f("remove prefix is not a path", []Spec{{Type: "remove", Names: []string{"mess"}}}, doc, doc)
	// keep_only
	f("keep_only", []Spec{{Type: "keep_only", Names: []string{"@timestamp", "message", "a"}}}, doc,
		`{"@timestamp":"2024-01-02T03:04:05Z","message":"hello","a.b":1,"a.c":"x"}`)
	// add
	f("add static", []Spec{{Type: "add", Pairs: []Pair{{Key: "env", Value: "prod"}, {Key: "tier", Raw: []byte("3")}}}}, doc,
		`{"@timestamp":"2024-01-02T03:04:05Z","log.level":"info","message":"hello","a.b":1,"a.c":"x","n":"42","kubernetes.namespace":"shop","env":"prod","tier":3}`)
	f("add template", []Spec{{Type: "add", Pairs: []Pair{{Key: "service.name", Value: "svc-%{kubernetes.namespace}-%{a.c}"}}}}, doc,
		`{"@timestamp":"2024-01-02T03:04:05Z","log.level":"info","message":"hello","a.b":1,"a.c":"x","n":"42","kubernetes.namespace":"shop","service.name":"svc-shop-x"}`)
	f("add template missing", []Spec{{Type: "add", Pairs: []Pair{{Key: "s", Value: "%{nope}"}}}}, doc, doc)
	f("add keeps existing", []Spec{{Type: "add", Pairs: []Pair{{Key: "message", Value: "x"}}}}, doc, doc)
	f("add overwrite", []Spec{{Type: "add", Overwrite: true, Pairs: []Pair{{Key: "a", Value: "flat"}}}}, doc,
		`{"@timestamp":"2024-01-02T03:04:05Z","log.level":"info","message":"hello","n":"42","kubernetes.namespace":"shop","a":"flat"}`)
	// convert
	f("convert int", []Spec{{Type: "convert", Pairs: []Pair{{Key: "n", Value: "integer"}}}}, doc,
		`{"@timestamp":"2024-01-02T03:04:05Z","log.level":"info","message":"hello","a.b":1,"a.c":"x","n":42,"kubernetes.namespace":"shop"}`)
	f("convert int already", []Spec{{Type: "convert", Pairs: []Pair{{Key: "a.b", Value: "integer"}}}}, doc, doc)
	f("convert float", []Spec{{Type: "convert", Pairs: []Pair{{Key: "x", Value: "float"}}}}, `{"x":"1.5"}`, `{"x":1.5}`)
	f("convert float truncates to int", []Spec{{Type: "convert", Pairs: []Pair{{Key: "x", Value: "integer"}}}}, `{"x":"7.9"}`, `{"x":7}`)
	f("convert bool", []Spec{{Type: "convert", Pairs: []Pair{{Key: "x", Value: "boolean"}, {Key: "y", Value: "boolean"}}}}, `{"x":"yes","y":"0"}`, `{"x":true,"y":false}`)
	f("convert string", []Spec{{Type: "convert", Pairs: []Pair{{Key: "x", Value: "string"}}}}, `{"x":12}`, `{"x":"12"}`)
	f("convert failure", []Spec{{Type: "convert", Pairs: []Pair{{Key: "x", Value: "integer"}}}}, `{"x":"abc"}`,
		`{"x":"abc","log.flags":["convert_failure"],"log.processing_error":"convert#1: field x: \"abc\" is not an integer"}`)
	f("convert failure ignored", []Spec{{Type: "convert", IgnoreFailure: true, Pairs: []Pair{{Key: "x", Value: "integer"}}}}, `{"x":"abc"}`, `{"x":"abc"}`)
	f("failure appends to log.flags", []Spec{{Type: "convert", ID: "status", Pairs: []Pair{{Key: "x", Value: "float"}}}}, `{"x":"abc","log.flags":["truncated"]}`,
		`{"x":"abc","log.flags":["truncated","convert_failure"],"log.processing_error":"status: field x: \"abc\" is not a number"}`)
	f("failure discards earlier changes", []Spec{{Type: "remove", Names: []string{"y"}}, {Type: "convert", Pairs: []Pair{{Key: "x", Value: "boolean"}}}}, `{"x":"maybe","y":1}`,
		`{"x":"maybe","y":1,"log.flags":["convert_failure"],"log.processing_error":"convert#2: field x: \"maybe\" is not a boolean"}`)
	// lowercase / uppercase
	f("lowercase", []Spec{{Type: "lowercase", Names: []string{"x", "n"}}}, `{"x":"HeLLo","n":5}`, `{"x":"hello","n":5}`)
	f("lowercase unchanged keeps bytes", []Spec{{Type: "lowercase", Names: []string{"x"}}}, `{"x" : "hello"}`, `{"x" : "hello"}`)
	f("uppercase unicode", []Spec{{Type: "uppercase", Names: []string{"x"}}}, `{"x":"grüß"}`, `{"x":"GRÜß"}`)
	// drop
	f("drop", []Spec{{Type: "drop", When: `log.level == "debug"`}}, `{"log.level":"debug"}`, "DROP")
	f("drop not", []Spec{{Type: "drop", When: `log.level == "debug"`}}, `{"log.level":"info"}`, `{"log.level":"info"}`)
	// parse_json
	f("parse_json", []Spec{{Type: "parse_json"}}, `{"message":"{\"a\":1,\"message\":\"inner\",\"o\":{\"p\":true}}","b":2}`,
		`{"b":2,"a":1,"message":"inner","o.p":true}`)
	f("parse_json target", []Spec{{Type: "parse_json", Field: "payload", Target: "p"}}, `{"payload":"{\"a\":[1,2]}"}`,
		`{"payload":"{\"a\":[1,2]}","p.a":[1,2]}`)
	f("parse_json not an object", []Spec{{Type: "parse_json"}}, `{"message":"plain text"}`,
		`{"message":"plain text","log.flags":["parse_json_failure"],"log.processing_error":"parse_json#1: field message does not hold a JSON object"}`)
	f("parse_json bad", []Spec{{Type: "parse_json"}}, `{"message":"{\"a\":}"}`,
		`{"message":"{\"a\":}","log.flags":["parse_json_failure"],"log.processing_error":"parse_json#1: field message: invalid JSON: invalid character '}' looking for beginning of value at offset 5"}`)
	// route
	f("route static", []Spec{{Type: "route", Dataset: "shop", Namespace: "prod"}}, `{"m":1}`,
		`{"m":1,"data_stream.dataset":"shop","data_stream.namespace":"prod"}`)
	f("route from field", []Spec{{Type: "route", DatasetFrom: "kubernetes.namespace"}}, doc,
		`{"@timestamp":"2024-01-02T03:04:05Z","log.level":"info","message":"hello","a.b":1,"a.c":"x","n":"42","kubernetes.namespace":"shop","data_stream.dataset":"shop"}`)
	f("route from missing field", []Spec{{Type: "route", DatasetFrom: "nope"}}, doc, doc)
}

func TestRouteOutcome(t *testing.T) {
	_, o := run(t, []Spec{{Type: "route", DatasetFrom: "svc", Namespace: "prod"}}, `{"svc":"Payments-API"}`)
	if !o.DatasetSet || string(o.Dataset) != "payments_api" || o.Namespace != "prod" {
		t.Fatalf("got %+v, want dataset payments_api namespace prod", o)
	}
}

func TestFingerprint(t *testing.T) {
	specs := []Spec{{Type: "fingerprint", Names: []string{"a", "b"}}}
	_, o1 := run(t, specs, `{"a":1,"b":"x","t":1}`)
	_, o2 := run(t, specs, `{"t":2,"b":"x","a":1}`)
	_, o3 := run(t, specs, `{"a":1,"b":"y"}`)
	if !o1.ID || o1.Hi != o2.Hi || o1.Lo != o2.Lo {
		t.Fatalf("same fields gave different ids: %+v %+v", o1, o2)
	}
	if o1.Hi == o3.Hi && o1.Lo == o3.Lo {
		t.Fatalf("different fields gave the same id")
	}
	got, o := run(t, specs, `{"c":1}`)
	if o.ID || !strings.Contains(got, "fingerprint_failure") {
		t.Fatalf("no field: got %s %+v, want a failure", got, o)
	}
}

func TestSample(t *testing.T) {
	c, err := Compile(&Config{Processors: []Spec{{Type: "sample", Rate: 10, Key: "trace.id"}}})
	if err != nil {
		t.Fatal(err)
	}
	r := c.Runner("stdin")
	kept := 0
	traces := map[string]int{}
	for i := 0; i < 2000; i++ {
		trace := string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676%26))
		doc := `{"trace.id":"` + trace + `","log.level":"info"}`
		_, o := r.Process([]byte(doc), 0, &parse.Line{}, parse.Info{})
		if !o.Drop {
			kept++
			traces[trace] |= 1
		} else {
			traces[trace] |= 2
		}
	}
	for tr, v := range traces {
		if v == 3 {
			t.Fatalf("trace %s was partly kept and partly dropped", tr)
		}
	}
	if kept < 100 || kept > 350 {
		t.Fatalf("kept %d of 2000 lines at rate 10, want about 200", kept)
	}
	for _, lvl := range []string{"error", "FATAL", "critical"} {
		_, o := r.Process([]byte(`{"log.level":"`+lvl+`","trace.id":"zzz-dropped?"}`), 0, &parse.Line{}, parse.Info{})
		if o.Drop {
			t.Fatalf("level %s was sampled away", lvl)
		}
	}
	// Without a key: every 10th line.
	c2, _ := Compile(&Config{Processors: []Spec{{Type: "sample", Rate: 10, SampleErrors: true}}})
	r2 := c2.Runner("stdin")
	kept = 0
	for i := 0; i < 100; i++ {
		if _, o := r2.Process([]byte(`{"log.level":"error"}`), 0, &parse.Line{}, parse.Info{}); !o.Drop {
			kept++
		}
	}
	if kept != 10 {
		t.Fatalf("kept %d of 100 at rate 10 with sample_errors, want 10", kept)
	}
}

func TestCompileErrors(t *testing.T) {
	f := func(s Spec, want string) {
		t.Helper()
		_, err := Compile(&Config{Processors: []Spec{s}})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: got %v, want an error with %q", s, err, want)
		}
	}
	f(Spec{Type: "nope"}, `unknown type "nope"`)
	f(Spec{Type: "drop"}, "drop needs a when")
	f(Spec{Type: "drop", When: "a =="}, "want a value")
	f(Spec{Type: "rename"}, "at least one")
	f(Spec{Type: "convert", Pairs: []Pair{{Key: "a", Value: "date"}}}, `type "date"`)
	f(Spec{Type: "sample"}, "rate 0")
	f(Spec{Type: "route", Dataset: "Bad-Name"}, "lower case")
	f(Spec{Type: "route", Namespace: "a-b"}, "must not contain")
	f(Spec{Type: "remove", Names: []string{"a..b"}}, "bad field name")
	f(Spec{Type: "add", Pairs: []Pair{{Key: "a", Value: "%{x"}}}, "unclosed")
}

func TestPipelines(t *testing.T) {
	c, err := Compile(&Config{
		Processors: []Spec{{Type: "add", Pairs: []Pair{{Key: "g", Value: "1"}}}},
		Pipelines: []Pipeline{
			{Name: "shop", Input: "file", When: `kubernetes.namespace == "shop"`, Processors: []Spec{{Type: "add", Pairs: []Pair{{Key: "shop", Value: "1"}}}}},
			{Name: "fwd", Input: "forward", Processors: []Spec{{Type: "add", Pairs: []Pair{{Key: "fwd", Value: "1"}}}}},
			{Name: "tag", When: `fluent.tag matches "^app\\."`, Processors: []Spec{{Type: "add", Pairs: []Pair{{Key: "tag", Value: "1"}}}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	f := func(input, fields, want string) {
		t.Helper()
		r := c.Runner(input)
		for i := 0; i < 2; i++ { // the second time from the cache
			out, _ := r.Process([]byte(`{"m":1}`), 0, &parse.Line{Fields: []byte(fields)}, parse.Info{})
			if string(out) != want {
				t.Errorf("%s %s: got %s, want %s", input, fields, out, want)
			}
		}
	}
	f("file", `"kubernetes.namespace":"shop"`, `{"m":1,"g":"1","shop":"1"}`)
	f("file", `"kubernetes.namespace":"other"`, `{"m":1,"g":"1"}`)
	f("stdin", `"kubernetes.namespace":"shop"`, `{"m":1,"g":"1"}`)
	f("forward", `"fluent.tag":"app.web"`, `{"m":1,"g":"1","fwd":"1","tag":"1"}`)
	f("forward", `"fluent.tag":"sys.web"`, `{"m":1,"g":"1","fwd":"1"}`)
}

func TestDocView(t *testing.T) {
	var d Doc
	d.reset([]byte(`{"a\u0062":"x\ny","o":{"p":{"q":1},"e":{}},"arr":[{"z":1}]}`))
	if v, ok := d.Get("ab"); !ok || string(v) != `"x\ny"` {
		t.Fatalf("escaped name: got %s %v", v, ok)
	}
	if tx, isStr, _ := d.Text("ab"); !isStr || string(tx) != "x\ny" {
		t.Fatalf("Text: got %q", tx)
	}
	if v, _ := d.Get("o.p.q"); string(v) != "1" {
		t.Fatalf("nested: got %s", v)
	}
	if v, _ := d.Get("o.e"); string(v) != "{}" {
		t.Fatalf("empty object: got %s", v)
	}
	if !d.Exists("o") || !d.Exists("o.p") || d.Exists("o.x") {
		t.Fatalf("Exists is wrong")
	}
	d.Set("o.p", []byte("2"))
	d.changed = true
	got := string(d.appendTo(nil))
	if want := `{"ab":"x\ny","o.e":{},"arr":[{"z":1}],"o.p":2}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestProcessAllocs(t *testing.T) {
	c, err := Compile(&Config{Processors: []Spec{
		{Type: "rename", Pairs: []Pair{{Key: "msg", Value: "message"}}},
		{Type: "convert", Pairs: []Pair{{Key: "status", Value: "integer"}}},
		{Type: "add", Pairs: []Pair{{Key: "svc", Value: "x-%{kubernetes.namespace}"}}},
		{Type: "drop", When: `log.level == "debug"`},
		{Type: "fingerprint", Names: []string{"message"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := c.Runner("file")
	doc := []byte(`{"@timestamp":"2024-01-02T03:04:05Z","log.level":"info","msg":"hello","status":"200","kubernetes.namespace":"shop"}`)
	body := make([]byte, 0, 4096)
	n := testing.AllocsPerRun(100, func() {
		body = append(body[:0], doc...)
		body, _ = r.Process(body, 0, &parse.Line{}, parse.Info{})
	})
	if n != 0 {
		t.Fatalf("%v allocations per line, want 0", n)
	}
}

// TestFlattenRepeatedNames: a nested member and a dotted one of the same
// path become one member with both values, not a repeated key.
func TestFlattenRepeatedNames(t *testing.T) {
	got, _ := run(t, []Spec{{Type: "add", Pairs: []Pair{{Key: "x", Value: "1"}}}}, `{"a":{"b":1},"a.b":2,"c":3}`)
	if want := `{"a.b":[1,2],"c":3,"x":"1"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
