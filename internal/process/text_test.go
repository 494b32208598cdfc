package process

import (
	"strings"
	"testing"
)

func TestTextProcessors(t *testing.T) {
	f := func(name string, specs []Spec, in, want string) {
		t.Helper()
		got, _ := run(t, specs, in)
		if got != want {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
	nginx := `{"message":"10.0.0.1 - - [02/Jan/2024:03:04:05 +0000] \"GET /x HTTP/1.1\" 200 512"}`
	f("dissect", []Spec{{Type: "dissect", Pattern: `%{source.address} - %{user.name} [%{ts}] "%{http.request.method} %{url.original} HTTP/%{http.version}" %{http.response.status_code} %{http.response.body.bytes}`}}, nginx,
		`{"message":"10.0.0.1 - - [02/Jan/2024:03:04:05 +0000] \"GET /x HTTP/1.1\" 200 512","source.address":"10.0.0.1","user.name":"-","ts":"02/Jan/2024:03:04:05 +0000","http.request.method":"GET","url.original":"/x","http.version":"1.1","http.response.status_code":"200","http.response.body.bytes":"512"}`)
	f("dissect target", []Spec{{Type: "dissect", Field: "m", Target: "p", Pattern: `%{a} %{b}`}}, `{"m":"x y"}`, `{"m":"x y","p.a":"x","p.b":"y"}`)
	f("dissect no match", []Spec{{Type: "dissect", Pattern: `%{a} [%{b}]`}}, `{"message":"nope"}`,
		`{"message":"nope","log.flags":["dissect_failure"],"log.processing_error":"dissect#1: field message does not match the pattern"}`)
	f("dissect missing field", []Spec{{Type: "dissect", Pattern: `%{a} %{b}`}}, `{"x":1}`, `{"x":1}`)
	f("kv", []Spec{{Type: "kv"}}, `{"message":"level=info user=\"a b\" n=3"}`,
		`{"message":"level=info user=\"a b\" n=3","level":"info","user":"a b","n":"3"}`)
	f("kv target", []Spec{{Type: "kv", Target: "kv", FieldSplit: "&", ValueSplit: "="}}, `{"message":"a=1&b=2"}`,
		`{"message":"a=1&b=2","kv.a":"1","kv.b":"2"}`)
	f("kv nothing", []Spec{{Type: "kv"}}, `{"message":"plain words"}`, `{"message":"plain words"}`)
}

func TestDateProcessor(t *testing.T) {
	f := func(name string, specs []Spec, in, want string) {
		t.Helper()
		got, _ := run(t, specs, in)
		if got != want {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
	f("nginx", []Spec{{Type: "date", Field: "ts", Formats: []string{"dd/MMM/yyyy:HH:mm:ss Z"}}},
		`{"@timestamp":"2030-01-01T00:00:00Z","ts":"02/Jan/2024:03:04:05 +0100"}`, `{"@timestamp":"2024-01-02T02:04:05Z","ts":"02/Jan/2024:03:04:05 +0100"}`)
	f("zone and target", []Spec{{Type: "date", Field: "ts", Target: "event.created", Timezone: "Europe/Paris", Formats: []string{"ISO8601", "yyyy-MM-dd HH:mm:ss,SSS"}}},
		`{"ts":"2024-07-01 12:00:00,250"}`, `{"ts":"2024-07-01 12:00:00,250","event.created":"2024-07-01T10:00:00.25Z"}`)
	f("unix ms number", []Spec{{Type: "date", Field: "t", Formats: []string{"UNIX_MS"}}}, `{"t":1700000000123}`, `{"t":1700000000123,"@timestamp":"2023-11-14T22:13:20.123Z"}`)
	f("no match", []Spec{{Type: "date", Field: "ts", Formats: []string{"ISO8601"}}}, `{"ts":"yesterday"}`,
		`{"ts":"yesterday","log.flags":["date_failure"],"log.processing_error":"date#1: field ts: \"yesterday\" matches none of the formats"}`)
	f("missing", []Spec{{Type: "date", Field: "ts", Formats: []string{"ISO8601"}}}, `{"x":1}`, `{"x":1}`)
}

func TestDissectAppend(t *testing.T) {
	got, _ := run(t, []Spec{{Type: "dissect", AppendSeparator: " ", Pattern: `<%{syslog.priority}>%{ts} %{+ts} %{+ts} %{host.hostname} %{process.name}[%{process.pid}]: %{msg}`}},
		`{"message":"<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed"}`)
	want := `{"message":"<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed","syslog.priority":"34","ts":"Oct 11 22:14:15","host.hostname":"mymachine","process.name":"su","process.pid":"123","msg":"'su root' failed"}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestGrokProcessor(t *testing.T) {
	f := func(name string, specs []Spec, in, want string) {
		t.Helper()
		got, _ := run(t, specs, in)
		if got != want {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
	f("common log", []Spec{{Type: "grok", Patterns: []string{"%{COMMONAPACHELOG}"}}},
		`{"message":"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /a.gif HTTP/1.0\" 200 2326"}`,
		`{"message":"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /a.gif HTTP/1.0\" 200 2326","source.address":"127.0.0.1","user.name":"frank","timestamp":"10/Oct/2000:13:55:36 -0700","http.request.method":"GET","url.original":"/a.gif","http.version":"1.0","http.response.status_code":200,"http.response.body.bytes":2326}`)
	f("custom, typed, target", []Spec{{Type: "grok", Target: "g", Patterns: []string{`%{WORD:w} took %{NUMBER:ms:float}ms ok=%{OK:ok:boolean}`}, PatternDefinitions: []Pair{{Key: "OK", Value: "true|false"}}}},
		`{"message":"sync took 12.5ms ok=true"}`, `{"message":"sync took 12.5ms ok=true","g.w":"sync","g.ms":12.5,"g.ok":true}`)
	f("second pattern", []Spec{{Type: "grok", Patterns: []string{`^A %{INT:a}`, `^B %{INT:b:int}`}}}, `{"message":"B 7"}`, `{"message":"B 7","b":7}`)
	f("no match", []Spec{{Type: "grok", Patterns: []string{`^A %{INT:a}`}}}, `{"message":"x"}`,
		`{"message":"x","log.flags":["grok_failure"],"log.processing_error":"grok#1: field message matches none of the patterns"}`)
	if _, err := Compile(&Config{Processors: []Spec{{Type: "grok", Patterns: []string{"%{NOPE:x}"}}}}); err == nil {
		t.Errorf("unknown grok pattern: no error")
	}
}

func TestRedactProcessor(t *testing.T) {
	f := func(name string, specs []Spec, in, want string) {
		t.Helper()
		got, _ := run(t, specs, in)
		if got != want {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
	f("message", []Spec{{Type: "redact", Redact: []string{"email", "credit_card"}}},
		`{"message":"user jane@example.com paid 4111 1111 1111 1111","user":"jane@example.com"}`,
		`{"message":"user [REDACTED] paid [REDACTED]","user":"jane@example.com"}`)
	f("fields and objects", []Spec{{Type: "redact", Names: []string{"http.request.headers", "url"}, Redact: []string{"bearer", "url_password"}, Replacement: "***"}},
		`{"http":{"request":{"headers":{"authorization":"Bearer abcdefgh12345678"}}},"url":"postgres://app:s3cr3t@db/x","message":"Bearer abcdefgh12345678"}`,
		`{"http.request.headers.authorization":"Bearer ***","url":"postgres://app:***@db/x","message":"Bearer abcdefgh12345678"}`)
	f("every string field, custom", []Spec{{Type: "redact", Names: []string{"*"}, Custom: []Pair{{Key: "pw", Value: `password=(?P<secret>\S+)`}}}},
		`{"a":"password=hunter2 ok","b":{"c":"password=x"},"n":5}`,
		`{"a":"password=[REDACTED] ok","b.c":"password=[REDACTED]","n":5}`)
	f("clean line keeps bytes", []Spec{{Type: "redact", Redact: []string{"all"}}}, `{"message":"nothing to see"}`, `{"message":"nothing to see"}`)
	got, _ := run(t, []Spec{{Type: "redact", Redact: []string{"email"}, HashKey: "0123456789abcdef-key"}}, `{"message":"a@b.example x"}`)
	got2, _ := run(t, []Spec{{Type: "redact", Redact: []string{"email"}, HashKey: "0123456789abcdef-key"}}, `{"message":"to a@b.example"}`)
	h := strings.TrimPrefix(strings.TrimSuffix(got, ` x"}`), `{"message":"`)
	if !strings.HasPrefix(h, "[hmac:") || !strings.Contains(got2, h) {
		t.Errorf("keyed hash: %s and %s, want the same [hmac:...] for the same address", got, got2)
	}
	for _, bad := range []Spec{{Type: "redact", Redact: []string{"nope"}}, {Type: "redact", Redact: []string{"email"}, HashKey: "short"}, {Type: "redact"}} {
		if _, err := Compile(&Config{Processors: []Spec{bad}}); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
