package process

import (
	"testing"

	"shipper/internal/encode"
	"shipper/internal/event"
	"shipper/internal/parse"
)

// benchLines are a JSON app line and an nginx access line, as lines reach
// the stage in production.
var benchLines = map[string]string{
	"json":  `{"level":"info","service":"demo","method":"GET","path":"/api/orders/42","status":"200","duration_ms":12.5,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","user_agent":"curl/8.5.0","time":"2026-11-23T10:00:00.123456789Z","message":"request handled"}`,
	"nginx": `10.1.2.3 - alice [23/Nov/2026:10:00:00 +0000] "GET /api/orders/42 HTTP/1.1" 200 512 "-" "curl/8.5.0"`,
}

const nginxDissect = `%{source.address} - %{user.name} [%{nginx.time}] "%{http.request.method} %{url.original} HTTP/%{http.version}" %{http.response.status_code} %{http.response.body.bytes} "%{http.request.referrer}" "%{user_agent.original}"`

// benchEncode is the per-line cost of parse + stage + encode into a batch,
// as encode.BenchmarkParseEncode measures it without a stage.
func benchEncode(b *testing.B, line string, specs []Spec) {
	enc := encode.New(parse.New([]byte(`"input.type":"file","agent.type":"shipper","host.name":"node-1","ecs.version":"8.11.0"`)), "logs-generic-default", "default")
	enc.Parser.SetIngested(1763892000123456789)
	if specs != nil {
		c, err := Compile(&Config{Processors: specs})
		if err != nil {
			b.Fatal(err)
		}
		enc.Stage = c.Runner("file")
	}
	batch := &event.Batch{Body: make([]byte, 0, 8<<20)}
	l := parse.Line{Data: []byte(line), Time: 1763892000123456789,
		Fields: []byte(`"log.file.path":"/var/log/containers/web-1_shop_app-0123.log","stream":"stdout","kubernetes.namespace":"shop","kubernetes.pod.name":"web-1","kubernetes.container.name":"app"`)}
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	var seq uint64
	for b.Loop() {
		if len(batch.Body) > 7<<20 {
			batch.Reset()
		}
		seq++
		enc.Append(batch, &l, 42, seq)
	}
}

// BenchmarkProcessors: each processor alone on the line it is for, then a
// realistic chain of five, against no stage at all.
func BenchmarkProcessors(b *testing.B) {
	cases := []struct {
		name, line string
		specs      []Spec
	}{
		{"none", "json", nil},
		{"empty-chain", "json", []Spec{}},
		{"not-applied", "json", []Spec{{Type: "rename", When: `kubernetes.namespace == "other"`, Pairs: []Pair{{Key: "a", Value: "b"}}}}},
		{"rename", "json", []Spec{{Type: "rename", Pairs: []Pair{{Key: "path", Value: "url.path"}}}}},
		{"copy", "json", []Spec{{Type: "copy", Pairs: []Pair{{Key: "path", Value: "url.path"}}}}},
		{"remove", "json", []Spec{{Type: "remove", Names: []string{"user_agent"}}}},
		{"keep_only", "json", []Spec{{Type: "keep_only", Names: []string{"@timestamp", "message", "log.level"}}}},
		{"add", "json", []Spec{{Type: "add", Pairs: []Pair{{Key: "team", Value: "shop-%{kubernetes.namespace}"}}}}},
		{"convert", "json", []Spec{{Type: "convert", Pairs: []Pair{{Key: "status", Value: "integer"}}}}},
		{"lowercase", "json", []Spec{{Type: "uppercase", Names: []string{"method"}}}},
		{"drop(kept)", "json", []Spec{{Type: "drop", When: `log.level == "debug"`}}},
		{"sample", "json", []Spec{{Type: "sample", Rate: 1, Key: "trace.id"}}},
		{"parse_json", "json", []Spec{{Type: "add", Overwrite: true, Pairs: []Pair{{Key: "message", Value: `{"a":1,"b":"x"}`}}}, {Type: "parse_json"}}},
		{"route", "json", []Spec{{Type: "route", Dataset: "shop"}}},
		{"fingerprint", "json", []Spec{{Type: "fingerprint", Names: []string{"trace.id", "message"}}}},
		{"dissect", "nginx", []Spec{{Type: "dissect", Pattern: nginxDissect}}},
		{"grok", "nginx", []Spec{{Type: "grok", Patterns: []string{"%{COMBINEDAPACHELOG}"}}}},
		{"redact(clean)", "json", []Spec{{Type: "redact", Redact: []string{"all"}}}},
		{"redact(secret)", "json", []Spec{{Type: "add", Overwrite: true, Pairs: []Pair{{Key: "message", Value: "login jane@example.com token=Bearer abcdefgh12345678"}}}, {Type: "redact", Redact: []string{"all"}}}},
		{"kv", "json", []Spec{{Type: "add", Overwrite: true, Pairs: []Pair{{Key: "message", Value: "a=1 b=two c=3"}}}, {Type: "kv"}}},
		{"date", "nginx", []Spec{{Type: "add", Pairs: []Pair{{Key: "ts", Value: "23/Nov/2026:10:00:00 +0000"}}}, {Type: "date", Field: "ts", Formats: []string{"dd/MMM/yyyy:HH:mm:ss Z"}}}},
		{"chain5-json", "json", []Spec{
			{Type: "drop", When: `log.level == "debug"`},
			{Type: "rename", Pairs: []Pair{{Key: "path", Value: "url.path"}, {Key: "method", Value: "http.request.method"}}},
			{Type: "convert", Pairs: []Pair{{Key: "status", Value: "integer"}}},
			{Type: "add", Pairs: []Pair{{Key: "team", Value: "shop"}}},
			{Type: "route", When: `status >= 500`, Dataset: "errors"},
		}},
		{"chain5-nginx", "nginx", []Spec{
			{Type: "dissect", Pattern: nginxDissect},
			{Type: "date", Field: "nginx.time", Formats: []string{"dd/MMM/yyyy:HH:mm:ss Z"}},
			{Type: "convert", Pairs: []Pair{{Key: "http.response.status_code", Value: "integer"}, {Key: "http.response.body.bytes", Value: "integer"}}},
			{Type: "remove", Names: []string{"nginx.time"}},
			{Type: "route", Dataset: "nginx.access"},
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) { benchEncode(b, benchLines[c.line], c.specs) })
	}
}

// BenchmarkDocBuild: the field view of a parsed JSON line (what any
// processor that reads a field pays once per line).
func BenchmarkDocBuild(b *testing.B) {
	p := parse.New([]byte(`"input.type":"file","agent.type":"shipper","host.name":"node-1","ecs.version":"8.11.0"`))
	doc, _ := p.Append(nil, &parse.Line{Data: []byte(benchLines["json"]), Time: 1763892000123456789,
		Fields: []byte(`"log.file.path":"/var/log/containers/web-1_shop_app-0123.log","stream":"stdout","kubernetes.namespace":"shop","kubernetes.pod.name":"web-1","kubernetes.container.name":"app"`)})
	var d Doc
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		d.reset(doc)
		d.build()
	}
}
