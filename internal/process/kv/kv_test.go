package kv

import (
	"strings"
	"testing"
)

func render(fs []Field) string {
	var b strings.Builder
	for i, f := range fs {
		if i > 0 {
			b.WriteByte('|')
		}
		b.Write(f.Key)
		b.WriteByte('=')
		b.Write(f.Value)
	}
	return b.String()
}

func TestParse(t *testing.T) {
	f := func(opts Options, in, want string) {
		t.Helper()
		p, err := New(opts)
		if err != nil {
			t.Fatalf("New(%+v): %v", opts, err)
		}
		if got := render(p.Parse([]byte(in), nil)); got != want {
			t.Errorf("Parse(%q) with %+v\n got %q\nwant %q", in, opts, got, want)
		}
	}
	def := Options{}
	// Documented examples (Elasticsearch kv processor, Logstash kv filter).
	f(def, "ip=1.2.3.4 error=REFUSED", "ip=1.2.3.4|error=REFUSED")
	f(Options{FieldSplit: "&?"}, "pin=12345~0&d=123&e=foo@bar.com&oq=bobo&ss=12345", "pin=12345~0|d=123|e=foo@bar.com|oq=bobo|ss=12345")
	f(Options{StripBrackets: true}, "bracketsone=(hello world) bracketstwo=[hello world] bracketsthree=<hello world>",
		"bracketsone=hello world|bracketstwo=hello world|bracketsthree=hello world")
	f(def, "bracketsone=(hello world)", "bracketsone=(hello")
	f(Options{ValueSplit: ":"}, "host:web-1 port:8080", "host=web-1|port=8080")
	f(Options{TrimValue: "<>[],"}, "key1=<value1>, key2=[value2],", "key1=value1|key2=value2")
	f(Options{TrimKey: "<>[],"}, "<key1>=v [key2]=w", "key1=v|key2=w")
	f(Options{IncludeKeys: []string{"a", "c"}}, "a=1 b=2 c=3", "a=1|c=3")
	f(Options{ExcludeKeys: []string{"b"}}, "a=1 b=2 c=3", "a=1|c=3")
	f(Options{Prefix: "kv_"}, "a=1 b=2", "kv_a=1|kv_b=2")
	f(Options{Prefix: "kv_", IncludeKeys: []string{"b"}}, "a=1 b=2", "kv_b=2") // include compares before the prefix
	// Quoting.
	f(def, `a=1 b="two words" c=3`, "a=1|b=two words|c=3")
	f(def, `a='single quoted' b=2`, "a=single quoted|b=2")
	f(def, `msg="say \"hi\" now" x=1`, `msg=say \"hi\" now|x=1`)
	f(def, `a="unterminated b=2`, `a="unterminated|b=2`)
	f(def, `a="q"tail b=2`, `a="q"tail|b=2`) // a quote not followed by a separator is part of the value
	f(def, `a="" b=2`, "a=|b=2")
	// Odd tokens.
	f(def, "novalue a=1", "a=1")
	f(def, "a= b=2", "a=|b=2")
	f(def, "=v a=1", "a=1")
	f(def, "a==b", "a==b")
	f(def, "  a=1   b=2  ", "a=1|b=2")
	f(def, "a=1 a=2", "a=1|a=2")
	f(def, "", "")
	f(def, "a=x=y", "a=x=y")
	f(Options{FieldSplit: ",", ValueSplit: "=:"}, "a=1,b:2,c", "a=1|b=2")
	// Logstash's defaults: brackets, spaces around '=', empty values dropped.
	ls := Logstash()
	f(ls, "bracketsone=(hello world) bracketstwo=[hello world] bracketsthree=<hello world>",
		"bracketsone=hello world|bracketstwo=hello world|bracketsthree=hello world")
	f(ls, "a = 1 b =2 c= 3", "a=1|b=2|c=3")
	f(ls, "a= b=2", "a=b=2") // lenient: the value starts after the blanks
	f(ls, "a=\"\" b=2", "b=2")
	f(Options{DropEmptyValues: true}, "a= b=2", "b=2")
	f(Options{Lenient: true}, "novalue  a  =  1", "a=1")
	f(Options{Lenient: true}, "a\t=\tx", "a=x")
	ex := Logstash()
	ex.ExcludeKeys = []string{"from", "to"}
	f(ex, "Hey, from=<abc>, to=def foo=bar", "foo=bar") // Logstash's exclude_keys example
	in := Logstash()
	in.IncludeKeys = []string{"from", "to"}
	in.TrimValue = ","
	f(in, "Hey, from=<abc>, to=def foo=bar", "from=<abc>|to=def") // '<abc>,' is not a bracketed value: ',' follows '>'
	// logfmt from a Go service.
	f(def, `time=2026-12-03T12:36:28.512Z level=INFO msg="request done" method=GET path=/api/v1/orders status=200 duration=1.2ms`,
		"time=2026-12-03T12:36:28.512Z|level=INFO|msg=request done|method=GET|path=/api/v1/orders|status=200|duration=1.2ms")
}

func TestNewErrors(t *testing.T) {
	if _, err := New(Options{FieldSplit: " =", ValueSplit: "="}); err == nil || !strings.Contains(err.Error(), "both in field_split") {
		t.Errorf("overlapping split sets: got %v", err)
	}
	if _, err := New(Options{IncludeKeys: []string{""}}); err == nil {
		t.Errorf("empty include key: no error")
	}
}

func TestPrefixScratchLifetime(t *testing.T) {
	p, _ := New(Options{Prefix: "p."})
	c := p.Clone()
	a := p.Parse([]byte("x=1 y=2"), nil)
	b := c.Parse([]byte("u=3"), nil)
	if render(a) != "p.x=1|p.y=2" || render(b) != "p.u=3" {
		t.Fatalf("got %q and %q", render(a), render(b))
	}
	_ = append(a[0].Key, 'Z') // must not overwrite p.y
	if render(a) != "p.x=1|p.y=2" {
		t.Fatalf("append to a key changed another: %q", render(a))
	}
}

func TestParseAllocs(t *testing.T) {
	for _, opts := range []Options{{}, {Prefix: "kv.", IncludeKeys: []string{"level", "msg", "status"}}} {
		p, _ := New(opts)
		line := []byte(`time=2026-12-03T12:36:28.512Z level=INFO msg="request done" method=GET status=200`)
		out := p.Parse(line, nil)
		if n := testing.AllocsPerRun(100, func() { out = p.Parse(line, out[:0]) }); n != 0 {
			t.Errorf("%+v: %v allocations per Parse; want 0", opts, n)
		}
	}
}

// TestHostileLines: lines built to make a naive parser quadratic (every
// value opens a quote that is never closed) are parsed in one pass. On a
// quadratic parser this test runs for minutes instead of milliseconds.
func TestHostileLines(t *testing.T) {
	p, _ := New(Options{StripBrackets: true})
	for _, unit := range []string{`a="`, `a='x `, `a=(`, `a="\\" `, `a=[x `} {
		line := []byte(strings.Repeat(unit, (1<<20)/len(unit)))
		out := p.Parse(line, nil)
		if len(out) == 0 {
			t.Errorf("%q x %d: no fields", unit, len(line)/len(unit))
		}
	}
}
