package dissect

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

// TestSpecification runs the cases of the dissect specification that the
// Elasticsearch dissect library tests itself against
// (libs/dissect/src/test/resources/specification/tests.json). want lists the
// fields in pattern order; "" with fail means no match or a compile error.
func TestSpecification(t *testing.T) {
	f := func(name, pattern, sep, in, want string, fail bool) {
		t.Helper()
		p, err := Compile(pattern, Options{AppendSeparator: sep})
		if err != nil {
			if !fail {
				t.Errorf("%s: Compile(%q): %v", name, pattern, err)
			}
			return
		}
		got, ok := p.Match([]byte(in), nil)
		if fail {
			if ok {
				t.Errorf("%s: Match(%q, %q) = %q; want no match", name, pattern, in, render(got))
			}
			return
		}
		if !ok {
			t.Errorf("%s: Match(%q, %q): no match; want %q", name, pattern, in, want)
			return
		}
		if r := render(got); r != want {
			t.Errorf("%s: Match(%q, %q)\n got %q\nwant %q", name, pattern, in, r, want)
		}
	}
	f("remaining data after the last delimiter", `level=%{level} ts=%{timestamp} caller=%{caller} msg="%{message}"`, "",
		`level=info ts=2018-06-27T17:19:13.036579993Z caller=main.go:222 msg="Starting OK" version="(version=2.3.1, branch=HEAD)"}`,
		"level=info|timestamp=2018-06-27T17:19:13.036579993Z|caller=main.go:222|message=Starting OK", false)
	f("multi-line last value", "%{day}-%{month}-%{year} %{hour} %{severity} [%{thread_id}] %{origin} %{message}", "",
		"18-Apr-2018 06:53:20.411 INFO [http-nio-8080-exec-1] org.apache.coyote.http11.Http11Processor.service Error parsing\n at x.y(Z.java:1)",
		"day=18|month=Apr|year=2018|hour=06:53:20.411|severity=INFO|thread_id=http-nio-8080-exec-1|origin=org.apache.coyote.http11.Http11Processor.service|message=Error parsing\n at x.y(Z.java:1)", false)
	f("leading and trailing delimiter", "/var/log/%{key}.log", "", "/var/log/foobar.log", "key=foobar", false)
	f("leading delimiter missing", "/var/log/%{key}.log", "", "foobar", "", true)
	f("delimiter after key missing", "/var/log/%{key}.log", "", "/var/log/foobar", "", true)
	f("simple", "%{key}", "", "foobar", "key=foobar", false)
	f("two keys", "%{key1} %{key2}", "", "foo bar", "key1=foo|key2=bar", false)
	f("partial match fails", "%{key1} %{key2} %{key3}", "", "foo bar", "", true)
	f("one level not end of string", "/var/%{key}/log", "", "/var/foobar/log", "key=foobar", false)
	f("one level", "/var/%{key}", "", "/var/foobar/log", "key=foobar/log", false)
	f("multiple keys end of string", "/var/%{key}/log/%{key1}", "", "/var/foobar/log/apache", "key=foobar|key1=apache", false)
	f("multiple keys not end of string", "/var/%{key}/log/%{key1}.log", "", "/var/foobar/log/apache.log", "key=foobar|key1=apache", false)
	f("append with order", "%{+key/3} %{+key/1} %{+key/2}", "", "1 2 3", "key=231", false)
	f("append with order and separator", "%{+key/3} %{+key/1} %{+key/2}", "::", "1 2 3", "key=2::3::1", false)
	f("append with order and right padding", "%{+key/3} %{+key/1->} %{+key/2}", "", "1 2              3", "key=231", false)
	f("simple append", "%{key}-%{+key}-%{+key}", "", "1-2-3", "key=123", false)
	f("simple append with separator", "%{key}-%{+key}-%{+key}", ",", "1-2-3", "key=1,2,3", false)
	f("reference", "%{*key} %{&key}", "", "hello world", "hello=world", false)
	f("reference alt order", "%{&key} %{*key}", "", "hello world", "world=hello", false)
	f("nameless skip", "%{} %{key}", "", "hello world", "key=world", false)
	f("named skip", "%{?skipme} %{key}", "", "hello world", "key=world", false)
	f("reference without pairing", "%{key} %{&key}", "", "hello world", "", true)
	f("consecutive delimiters", "%{name},%{addr1},%{addr2},%{addr3},%{city},%{zip}", "",
		"Jane Doe,4321 Fifth Avenue,,,New York,87432",
		"name=Jane Doe|addr1=4321 Fifth Avenue|addr2=|addr3=|city=New York|zip=87432", false)
	f("consecutive delimiters with right padding", "%{name},%{addr1->},%{city},%{zip}", "",
		"Jane Doe,4321 Fifth Avenue,,,New York,87432", "name=Jane Doe|addr1=4321 Fifth Avenue|city=New York|zip=87432", false)
	f("right padding", "%{id} %{function->} %{server}", "", "00000043 ViewReceive     machine-321",
		"id=00000043|function=ViewReceive|server=machine-321", false)
	f("padding on the last key needs a delimiter", "%{id} %{function} %{server->} ", "", "00000043 ViewReceive machine-321    ",
		"id=00000043|function=ViewReceive|server=machine-321", false)
	f("left padding", "%{id->} %{function} %{server}", "", "00000043    ViewReceive machine-321",
		"id=00000043|function=ViewReceive|server=machine-321", false)
	f("braces in delimiters", "{%{a}}{%{b}} %{rest}", "", "{c}{d} anything", "a=c|b=d|rest=anything", false)
	f("no keys", "anything", "", "anything", "", true)
	f("invalid key", "%{some?thing}", "", "anything", "", true)
	f("non-ascii", "%{a}࿏%{b} %{c}", "", "⟳༒࿏༒⟲ 子", "a=⟳༒|b=༒⟲|c=子", false)
}

// TestDocumented covers the examples of the Elasticsearch dissect processor
// page and of the DissectParser documentation.
func TestDocumented(t *testing.T) {
	f := func(pattern, in, want string) {
		t.Helper()
		p, err := Compile(pattern, Options{})
		if err != nil {
			t.Fatalf("Compile(%q): %v", pattern, err)
		}
		got, ok := p.Match([]byte(in), nil)
		if r := render(got); !ok || r != want {
			t.Errorf("Match(%q, %q) = %q, %v; want %q", pattern, in, r, ok, want)
		}
	}
	f(`%{clientip} %{ident} %{auth} [%{@timestamp}] \"%{verb} %{request} HTTP/%{httpversion}\" %{status} %{size}`,
		`1.2.3.4 - - [30/Apr/1998:22:00:52 +0000] \"GET /english/venues/cities/images/montpellier/18.gif HTTP/1.0\" 200 3171`,
		`clientip=1.2.3.4|ident=-|auth=-|@timestamp=30/Apr/1998:22:00:52 +0000|verb=GET|request=/english/venues/cities/images/montpellier/18.gif|httpversion=1.0|status=200|size=3171`)
	f("%{a->} %{b} %{c}", "foo         bar baz", "a=foo|b=bar|c=baz")
	f("%{a} %{+a} %{+a}", "foo bar baz", "a=foobarbaz")
	f("%{a} %{+a/2} %{+a/1}", "foo bar baz", "a=foobazbar")
	f("%{*a} %{b} %{&a}", "foo bar baz", "foo=baz|b=bar")
	f("%{a} %{?skipme} %{c}", "foo bar baz", "a=foo|c=baz")
	f("%{a} %{} %{c}", "foo bar baz", "a=foo|c=baz")
	f("%{a},%{b},%{c},%{d}", "foo,,,", "a=foo|b=|c=|d=")
	f("%{a->},%{b}", "foo,,,,,,bar", "a=foo|b=bar")
	// Logstash's syslog example, with Logstash's way of appending.
	p, err := Compile("%{ts} %{+ts} %{+ts} %{src} %{} %{prog}[%{pid}]: %{msg}", Options{LogstashAppend: true})
	if err != nil {
		t.Fatal(err)
	}
	got, ok := p.Match([]byte("Mar 16 00:01:25 evita skipme postfix/smtpd[1713]: connect from camomile.cloud9.net[168.100.1.3]"), nil)
	want := "ts=Mar 16 00:01:25|src=evita|prog=postfix/smtpd|pid=1713|msg=connect from camomile.cloud9.net[168.100.1.3]"
	if r := render(got); !ok || r != want {
		t.Errorf("syslog: got %q, %v; want %q", r, ok, want)
	}
}

// TestLogstash covers the examples of the Logstash dissect filter's
// documentation: appends joined by the delimiter before each key, and
// indirect fields named by a named skip.
func TestLogstash(t *testing.T) {
	f := func(pattern, in, want string) {
		t.Helper()
		p, err := Compile(pattern, Options{LogstashAppend: true})
		if err != nil {
			t.Fatalf("Compile(%q): %v", pattern, err)
		}
		got, ok := p.Match([]byte(in), nil)
		if r := render(got); !ok || r != want {
			t.Errorf("Match(%q, %q) = %q, %v; want %q", pattern, in, r, ok, want)
		}
	}
	f("%{+a/2} %{+a/1} %{+a/4} %{+a/3}", "1 2 3 go", "a=2 1 go 3")
	f("%{a} %{b} %{+a}", "1 2 3 go", "a=1 3 go|b=2")
	f("error: %{?err}, %{&err}", "error: some_error, some_description", "some_error=some_description")
	f("%{?a}: %{&a}", "google: 77.98", "google=77.98")
	f("%{a}-%{+a}:%{+a}", "x-y:z", "a=x-y:z")
}

func TestMatchEdges(t *testing.T) {
	f := func(pattern, in, want string) {
		t.Helper()
		p, err := Compile(pattern, Options{})
		if err != nil {
			t.Fatalf("Compile(%q): %v", pattern, err)
		}
		got, ok := p.Match([]byte(in), nil)
		r := render(got)
		if !ok {
			r = "NO MATCH"
		}
		if r != want {
			t.Errorf("Match(%q, %q) = %q; want %q", pattern, in, r, want)
		}
	}
	f("%{a}", "", "NO MATCH")                       // input must be longer than the leading delimiter
	f("x%{a}", "x", "NO MATCH")                     // likewise
	f("%{a} %{b}", "a ", "a=a|b=")                  // empty last value
	f("%{a} %{a}", "x y", "a=y")                    // a repeated plain key: last wins
	f("%{*k} %{&k} %{x}", "x 1 2", "NO MATCH")      // reference name collides with a field
	f("%{a}  %{b}", "1  2  3", "a=1|b=2  3")        // multi-byte delimiter
	f("[%{a}] %{b}", "[1] 2", "a=1|b=2")            // leading delimiter
	f("%{a}|%{b}|", "1|2|rest", "a=1|b=2")          // trailing text ignored after the last delimiter
	f("%{a} %{b}", "one", "NO MATCH")               // delimiter never found
	f("%{a}:%{b->}:%{c}", "1:2:::3", "a=1|b=2|c=3") // padding
	f("%{a}:%{b}:%{c}", "1:2:::3", "a=1|b=2|c=")    // no padding: empty values, then the rest is ignored
	f("%{+a} %{+a}", "x y", "a=xy")                 // append only
	f("%{+a/2} %{b} %{+a/1}", "x y z", "a=zx|b=y")  // append spread around another key
	f("%{a} %{+a/1} %{+a}", "x y z", "a=xzy")       // unordered appends come before ordered ones
	f("%{&n} %{*n}", "val name", "name=val")        // reference, value first
	f("%{?a->} %{b}", "x    y", "b=y")              // skip with padding
	f("%{a} %{b}", "x\xffy z", "a=x\xffy|b=z")      // bytes, not runes
	f("%{a}é%{b}", "1é2", "a=1|b=2")                // multi-byte delimiter
	f("%{a}-%{b}", strings.Repeat("-", 5), "a=|b=") // as Elasticsearch: b empty from the repeated delimiter, the rest ignored
}

func TestCompileErrors(t *testing.T) {
	f := func(pattern, wantSub string) {
		t.Helper()
		_, err := Compile(pattern, Options{})
		if err == nil {
			t.Errorf("Compile(%q): no error; want one containing %q", pattern, wantSub)
			return
		}
		if !strings.Contains(err.Error(), wantSub) {
			t.Errorf("Compile(%q): %v; want it to contain %q", pattern, err, wantSub)
		}
	}
	f("no keys here", "no key")
	f("a %{b", "key at offset 2 is not closed")
	f("%{a}%{b}", "followed directly by another key")
	f("%{a} %{+}", "modifier but no name")
	f("x %{some?thing}", `key "%{some?thing}" at offset 2`)
	f("%{a/1}", "append position")
	f("%{+a/x}", "not a number")
	f("%{+a/99999}", "not a number")
	f("%{a->b}", "must end the key")
	f("%{*k} %{x}", "needs exactly one %{*k} (or %{?k}) and one %{&k}, found 1 and 0")
	f("%{*k} %{*k} %{&k}", "found 2 and 1")
	f("%{} %{?x}", "every key is skipped")
	f("%{a%{b}", "character '%'")
}

// TestAppendScratchLifetime: a joined append value lives in the Pattern's
// scratch until the next Match, and Clone gives independent scratch.
func TestAppendScratchLifetime(t *testing.T) {
	p, err := Compile("%{a} %{+a}", Options{AppendSeparator: "-"})
	if err != nil {
		t.Fatal(err)
	}
	c := p.Clone()
	first, _ := p.Match([]byte("x y"), nil)
	second, _ := c.Match([]byte("u v"), nil)
	if string(first[0].Value) != "x-y" || string(second[0].Value) != "u-v" {
		t.Fatalf("got %q and %q; want x-y and u-v", first[0].Value, second[0].Value)
	}
	// Appending to a returned value must not write into the scratch.
	_ = append(first[0].Value, 'Z')
	if again, _ := p.Match([]byte("x y"), nil); string(again[0].Value) != "x-y" {
		t.Fatalf("got %q after append to a returned value", again[0].Value)
	}
}

func TestMatchKeepsOutOnFailure(t *testing.T) {
	p, err := Compile("%{a} %{b}", Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := []Field{{Key: []byte("pre"), Value: []byte("v")}}
	got, ok := p.Match([]byte("nospace"), out)
	if ok || len(got) != 1 {
		t.Fatalf("got %d fields, %v; want the 1 field passed in, false", len(got), ok)
	}
	got, ok = p.Match([]byte("x y"), out)
	if !ok || render(got) != "pre=v|a=x|b=y" {
		t.Fatalf("got %q, %v; want fields appended after pre", render(got), ok)
	}
}

func TestMatchAllocs(t *testing.T) {
	p, err := Compile("%{ts} %{+ts} %{+ts} %{host} %{prog}[%{pid}]: %{msg}", Options{AppendSeparator: " "})
	if err != nil {
		t.Fatal(err)
	}
	line := []byte("Mar 16 00:01:25 evita postfix/smtpd[1713]: connect from camomile.cloud9.net[168.100.1.3]")
	out := make([]Field, 0, 8)
	p.Match(line, out)
	if n := testing.AllocsPerRun(100, func() { out, _ = p.Match(line, out[:0]) }); n != 0 {
		t.Fatalf("Match: %v allocations per call; want 0", n)
	}
}

// TestHostileLines: long lines of repeated and missing delimiters take one
// pass (a quadratic matcher would run for minutes here).
func TestHostileLines(t *testing.T) {
	for _, c := range []struct{ pattern, unit string }{
		{"%{a} %{b->} %{c}", " "},
		{"%{a},%{b},%{c}", ","},
		{"%{a}::%{b}|%{c}", ":"},
		{`%{a} "%{b}" %{c}`, `" `},
	} {
		p, err := Compile(c.pattern, Options{})
		if err != nil {
			t.Fatal(err)
		}
		p.Match([]byte(strings.Repeat(c.unit, 1<<20)), nil)
	}
}
