package grok

import (
	"fmt"
	"regexp/syntax"
	"strings"
	"sync"
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
		if f.Type != String {
			b.WriteString(":" + f.Type.String())
		}
	}
	return b.String()
}

func match(t *testing.T, legacy bool, patterns []string, custom map[string]string, in string) string {
	t.Helper()
	compile := Compile
	if legacy {
		compile = CompileLegacy
	}
	g, err := compile(patterns, custom)
	if err != nil {
		t.Fatalf("Compile(%q): %v", patterns, err)
	}
	out, ok := g.Match([]byte(in), nil)
	if !ok {
		return "NO MATCH"
	}
	return render(out)
}

// TestDocumented: the examples of the Elasticsearch grok processor and the
// Logstash grok filter documentation.
func TestDocumented(t *testing.T) {
	f := func(legacy bool, patterns []string, custom map[string]string, in, want string) {
		t.Helper()
		if got := match(t, legacy, patterns, custom, in); got != want {
			t.Errorf("%q on %q\n got %s\nwant %s", patterns, in, got, want)
		}
	}
	f(false, []string{"%{IP:client} %{WORD:method} %{URIPATHPARAM:request} %{NUMBER:bytes:int} %{NUMBER:duration:double}"}, nil,
		"55.3.244.1 GET /index.html 15824 0.043",
		"client=55.3.244.1|method=GET|request=/index.html|bytes=15824:int|duration=0.043:float")
	f(false, []string{"my %{FAVORITE_DOG:dog} is colored %{RGB:color}"}, map[string]string{"FAVORITE_DOG": "beagle", "RGB": "RED|GREEN|BLUE"},
		"I think my beagle is colored RED", "dog=beagle|color=RED")
	f(false, []string{"%{FAVORITE_DOG:pet}", "%{FAVORITE_CAT:pet}"}, map[string]string{"FAVORITE_DOG": "beagle", "FAVORITE_CAT": "burmese"},
		"I love burmese cats!", "pet=burmese")
	f(true, []string{`%{SYSLOGBASE} (?<queue_id>[0-9A-F]{10,11}): %{GREEDYDATA:syslog_message}`}, nil,
		"Jan  1 06:25:43 mailserver14 postfix/cleanup[21403]: BEF25A72965: message-id=<20130101142543.5828399CCAF@mailserver14.example.com>",
		"timestamp=Jan  1 06:25:43|logsource=mailserver14|program=postfix/cleanup|pid=21403|queue_id=BEF25A72965|syslog_message=message-id=<20130101142543.5828399CCAF@mailserver14.example.com>")
	f(false, []string{`%{SYSLOGBASE} %{POSTFIX_QUEUEID:queue_id}: %{GREEDYDATA:syslog_message}`}, map[string]string{"POSTFIX_QUEUEID": "[0-9A-F]{10,11}"},
		"Jan  1 06:25:43 mailserver14 postfix/cleanup[21403]: BEF25A72965: message-id=<x@y>",
		"timestamp=Jan  1 06:25:43|host.hostname=mailserver14|process.name=postfix/cleanup|process.pid=21403:int|queue_id=BEF25A72965|syslog_message=message-id=<x@y>")
}

func TestLibrary(t *testing.T) {
	f := func(legacy bool, pattern, in, want string) {
		t.Helper()
		if got := match(t, legacy, []string{pattern}, nil, in); got != want {
			t.Errorf("%s on %q\n got %s\nwant %s", pattern, in, got, want)
		}
	}
	nginx := `203.0.113.17 - - [03/Dec/2026:12:36:28 +0000] "GET /api/v1/orders?id=18231 HTTP/1.1" 200 5123 "https://shop.example.com/cart" "Mozilla/5.0 (X11; Linux x86_64)"`
	f(false, "%{COMBINEDAPACHELOG}", nginx,
		"source.address=203.0.113.17|timestamp=03/Dec/2026:12:36:28 +0000|http.request.method=GET|url.original=/api/v1/orders?id=18231|http.version=1.1|http.response.status_code=200:int|http.response.body.bytes=5123:int|http.request.referrer=https://shop.example.com/cart|user_agent.original=Mozilla/5.0 (X11; Linux x86_64)")
	f(true, "%{COMBINEDAPACHELOG}", nginx,
		`clientip=203.0.113.17|ident=-|auth=-|timestamp=03/Dec/2026:12:36:28 +0000|verb=GET|request=/api/v1/orders?id=18231|httpversion=1.1|response=200|bytes=5123|referrer="https://shop.example.com/cart"|agent="Mozilla/5.0 (X11; Linux x86_64)"`)
	f(false, "%{COMMONAPACHELOG}", `2001:db8::7 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 -`,
		"source.address=2001:db8::7|user.name=frank|timestamp=10/Oct/2000:13:55:36 -0700|http.request.method=GET|url.original=/apache_pb.gif|http.version=1.0|http.response.status_code=200:int")
	f(false, "%{COMMONAPACHELOG}", `10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "\x16\x03\x01" 400 0`,
		`source.address=10.0.0.1|timestamp=10/Oct/2000:13:55:36 -0700|http.response.status_code=400:int|http.response.body.bytes=0:int`)
	f(false, "%{SYSLOGLINE}", "Dec  3 12:36:28 web-01 sshd[24311]: Accepted publickey for deploy",
		"timestamp=Dec  3 12:36:28|host.hostname=web-01|process.name=sshd|process.pid=24311:int|message=Accepted publickey for deploy")
	f(true, "%{SYSLOGLINE}", "Dec  3 12:36:28 web-01 kernel: eth0 link up",
		"timestamp=Dec  3 12:36:28|logsource=web-01|program=kernel|message=eth0 link up")
	f(false, "%{HTTPD_ERRORLOG}", "[Wed Oct 11 14:32:52 2000] [error] [client 127.0.0.1] client denied by server configuration: /export/home/live/ap/htdocs/test",
		"timestamp=Wed Oct 11 14:32:52 2000|log.level=error|source.address=127.0.0.1|message=client denied by server configuration: /export/home/live/ap/htdocs/test")
	// The Apache 2.4 error line of logstash-patterns-core's httpd spec.
	e24 := "[Mon Aug 31 09:30:48.958285 2015] [proxy_fcgi:error] [pid 28787:tid 140169587934976] (70008)Partial results are valid but processing is incomplete: [client 58.13.45.166:59307] AH01075: Error dispatching request to : (reading input brigade), referer: http://example.com/index.php?id_product=11&controller=product"
	f(false, "%{HTTPD_ERRORLOG}", e24,
		"timestamp=Mon Aug 31 09:30:48.958285 2015|apache.error.module=proxy_fcgi|log.level=error|process.pid=28787:int|process.thread.id=140169587934976:int|apache.error.proxy.error.code=70008|apache.error.proxy.error.message=Partial results are valid but processing is incomplete|source.address=58.13.45.166|source.port=59307:int|error.code=AH01075|message=Error dispatching request to : (reading input brigade), referer: http://example.com/index.php?id_product=11&controller=product")
	f(true, "%{HTTPD_ERRORLOG}", e24,
		"timestamp=Mon Aug 31 09:30:48.958285 2015|module=proxy_fcgi|loglevel=error|pid=28787|tid=140169587934976|proxy_errorcode=70008|proxy_message=Partial results are valid but processing is incomplete|clientip=58.13.45.166|clientport=59307|errorcode=AH01075|message=Error dispatching request to : (reading input brigade), referer: http://example.com/index.php?id_product=11&controller=product")
	f(false, "%{JAVASTACKTRACEPART}", "    at com.example.Foo.bar(Foo.java:42)",
		"java.log.origin.class.name=com.example.Foo|log.origin.function=bar|log.origin.file.name=Foo.java|log.origin.file.line=42:int")
	// klog, with custom patterns.
	klog := map[string]string{"KLOGLEVEL": "[IWEF]", "KLOGDATE": "%{MONTHNUM2}%{MONTHDAY}"}
	if got := match(t, false, []string{`%{KLOGLEVEL:log.level}%{KLOGDATE:date} %{TIME:time} +%{INT:thread:int} %{NOTSPACE:file}:%{INT:line:int}\] %{GREEDYDATA:message}`}, klog,
		`I1203 12:36:28.512345       1 controller.go:176] "Reconciling" object="default/web"`); got != `log.level=I|date=1203|time=12:36:28.512345|thread=1:int|file=controller.go|line=176:int|message="Reconciling" object="default/web"` {
		t.Errorf("klog: got %s", got)
	}
}

func TestBasePatterns(t *testing.T) {
	f := func(name, in string, want bool) {
		t.Helper()
		g, err := Compile([]string{"^%{" + name + ":v}$"}, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out, ok := g.Match([]byte(in), nil)
		got := ""
		if len(out) > 0 {
			got = string(out[0].Value)
		}
		if ok != want || (ok && got != in) {
			t.Errorf("%s on %q: got %v %q; want %v", name, in, ok, render(out), want)
		}
	}
	f("WORD", "hello_1", true)
	f("WORD", "two words", false)
	f("NUMBER", "-12.5", true)
	f("NUMBER", ".5", true)
	f("NUMBER", "1e5", false)
	f("INT", "+42", true)
	f("INT", "4.2", false)
	f("POSINT", "0", false)
	f("NONNEGINT", "0", true)
	f("BASE16NUM", "0x1F", true)
	f("IPV4", "192.168.0.1", true)
	f("IPV4", "256.1.1.1", false)
	f("IPV4", "1.2.3", false)
	f("IPV6", "2001:db8::1", true)
	f("IPV6", "::1", true)
	f("IPV6", "::", true)
	f("IPV6", "fe80::1%eth0", true)
	f("IPV6", "::ffff:192.0.2.128", true)
	f("IPV6", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", true)
	f("IPV6", "12:36:28", false)
	f("IPV6", "2001:db8:::1", false)
	f("IP", "10.1.2.3", true)
	f("HOSTNAME", "web-01.example.com", true)
	f("HOSTNAME", "-bad", false)
	f("IPORHOST", "localhost", true)
	f("HOSTPORT", "db.internal:5432", true)
	f("EMAILADDRESS", "jane.doe+tag@example.co.uk", true)
	f("UUID", "123e4567-e89b-12d3-a456-426614174000", true)
	f("UUID", "123e4567-e89b-12d3-a456-42661417400", false)
	f("MAC", "00:1A:2b:3c:4D:5e", true)
	f("MAC", "001a.2b3c.4d5e", true)
	f("MAC", "00-1A-2B-3C-4D-5E", true)
	f("URIPATHPARAM", "/search?q=grok&page=2", true)
	f("URIPATHPARAM", "/a b", false)
	f("URI", "https://user:pw@example.com:8443/path/x?y=1", true)
	f("PATH", "/var/log/nginx/access.log", true)
	f("PATH", `C:\Windows\System32`, true)
	f("TIMESTAMP_ISO8601", "2026-12-03T12:36:28.512Z", true)
	f("TIMESTAMP_ISO8601", "2026-12-03 12:36:28,512+01:00", true)
	f("TIMESTAMP_ISO8601", "2026-13-03T12:36:28Z", false)
	f("HTTPDATE", "03/Dec/2026:12:36:28 +0000", true)
	f("SYSLOGTIMESTAMP", "Dec  3 12:36:28", true)
	f("SYSLOGTIMESTAMP", "Dec 03 12:36:28", true)
	f("DATESTAMP_RFC2822", "Thu, 3 Dec 2026 12:36:28 +0000", true)
	f("LOGLEVEL", "WARNING", true)
	f("LOGLEVEL", "Info", true)
	f("LOGLEVEL", "verbose", false)
	f("QS", `"say \"hi\""`, true)
	f("QS", `'single'`, true)
	f("QS", `"open`, false)
	f("DATA", "", true) // matches empty: the field is then left out (see TestEmptyCaptures)
	f("GREEDYDATA", "anything at all", true)
	f("MONTH", "September", true)
	f("DAY", "Sat", true)
	f("TZ", "PDT", true)
	f("PROG", "postfix/smtpd", true)
	f("TTY", "/dev/pts/3", true)
}

func TestEmptyCaptures(t *testing.T) {
	g, err := Compile([]string{`a=%{DATA:a};b=(?:%{INT:b})?;`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, ok := g.Match([]byte("a=;b=;"), nil)
	if !ok || len(out) != 0 {
		t.Fatalf("got %q, %v; want a match with no fields", render(out), ok)
	}
}

func TestMatchKeepsOut(t *testing.T) {
	g, _ := Compile([]string{"%{INT:n}"}, nil)
	out := []Field{{Key: []byte("pre")}}
	got, ok := g.Match([]byte("none"), out)
	if ok || len(got) != 1 {
		t.Fatalf("no match: got %d fields, %v", len(got), ok)
	}
	got, ok = g.Match([]byte("x 7"), out)
	if !ok || len(got) != 2 || string(got[1].Value) != "7" {
		t.Fatalf("got %q, %v", render(got), ok)
	}
}

// TestAnchoredSameAsUnanchored: the anchored fast path gives the result of
// the unanchored search, including when the match does not start at 0.
func TestAnchoredSameAsUnanchored(t *testing.T) {
	g, _ := Compile([]string{`%{WORD:w}=%{INT:n}`}, nil)
	for _, in := range []string{"a=1", "xx a=1", "=1 b=2", "a=x b=2 c=3"} {
		got, ok := g.Match([]byte(in), nil)
		re := g.exprs[0].re
		loc := re.FindSubmatchIndex([]byte(in))
		if ok != (loc != nil) {
			t.Fatalf("%q: match %v, unanchored %v", in, ok, loc)
		}
		if ok && string(got[0].Value) != in[loc[2]:loc[3]] {
			t.Errorf("%q: got %q; unanchored %q", in, got[0].Value, in[loc[2]:loc[3]])
		}
	}
}

func TestCompileErrors(t *testing.T) {
	f := func(patterns []string, custom map[string]string, wantSub string) {
		t.Helper()
		_, err := Compile(patterns, custom)
		if err == nil || !strings.Contains(err.Error(), wantSub) {
			t.Errorf("Compile(%q, %v): %v; want an error containing %q", patterns, custom, err, wantSub)
		}
	}
	f(nil, nil, "no pattern")
	f([]string{"%{NOPE:x}"}, nil, `no pattern named "NOPE"`)
	f([]string{"x %{WORD:x"}, nil, "offset 2 is not closed")
	f([]string{"%{A}"}, map[string]string{"A": "%{B}", "B": "x%{A}"}, "refers to itself: A -> B -> A")
	f([]string{"%{INT:n:integer}"}, nil, `type "integer"`)
	f([]string{"%{INT:[a][b}"}, nil, "not closed")
	f([]string{"(?=x)%{INT:n}"}, nil, "invalid or unsupported Perl syntax")
	f([]string{"(?P<x>a)"}, nil, "(?<name>...)")
	f([]string{"[abc"}, nil, "character class at offset 0")
	f([]string{"%{X}"}, map[string]string{"X": `a\`}, "trailing backslash")
	f([]string{"%{WORD}"}, map[string]string{"bad-name": "x"}, "custom pattern name")
	// Each level doubles the expansion: the cap stops it.
	custom := map[string]string{"L0": "x"}
	for i := 1; i <= 30; i++ {
		custom[fmt.Sprintf("L%d", i)] = fmt.Sprintf("%%{L%d}%%{L%d}", i-1, i-1)
	}
	f([]string{"%{L30}"}, custom, "expands to more than")
	f([]string{`%{KLOGLEVEL:l}`}, nil, `no pattern named "KLOGLEVEL"`)
}

func TestCustomOverridesLibrary(t *testing.T) {
	if got := match(t, false, []string{"%{WORD:w}"}, map[string]string{"WORD": "[a-c]+"}, "zz abc"); got != "w=abc" {
		t.Fatalf("got %s", got)
	}
}

func TestConcurrentMatch(t *testing.T) {
	g, _ := Compile([]string{"%{COMMONAPACHELOG}"}, nil)
	line := []byte(`10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 12`)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out []Field
			for j := 0; j < 50; j++ {
				var ok bool
				if out, ok = g.Match(line, out[:0]); !ok || len(out) != 7 {
					t.Errorf("got %q, %v", render(out), ok)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestProgramSize: Go's regexp matches with its backtracker only when the
// compiled program has at most 500 instructions, and with its NFA, three to
// five times slower, above that. The common composite patterns must stay
// under it (see the note in patterns.go).
func TestProgramSize(t *testing.T) {
	for _, p := range []string{"%{COMBINEDAPACHELOG}", "%{COMMONAPACHELOG}", "%{SYSLOGLINE}"} {
		for _, compile := range []func([]string, map[string]string) (*Grok, error){Compile, CompileLegacy} {
			g, err := compile([]string{p}, nil)
			if err != nil {
				t.Fatal(err)
			}
			re, err := syntax.Parse(g.Expanded(0), syntax.Perl)
			if err != nil {
				t.Fatal(err)
			}
			prog, err := syntax.Compile(re.Simplify())
			if err != nil {
				t.Fatal(err)
			}
			if n := len(prog.Inst); n > 500 {
				t.Errorf("%s compiles to %d instructions; want at most 500", p, n)
			}
		}
	}
}

func TestRequiredLiterals(t *testing.T) {
	f := func(pattern string, want ...string) {
		t.Helper()
		got := requiredLiterals(pattern)
		var gs []string
		for _, g := range got {
			gs = append(gs, string(g))
		}
		if strings.Join(gs, "|") != strings.Join(want, "|") {
			t.Errorf("requiredLiterals(%q) = %q; want %q", pattern, gs, want)
		}
	}
	f(`abc(?:x|y)de+f`, "abc", "d", "e", "f") // e+ holds "e"; the repeat splits "de" from "f"
	f(`a(?:bc)?d`, "a", "d")
	f(`(?i)abc`)
	f(`x{0,3}y{2}`, "y")
	f(`(?:ab|ac)`, "a") // common prefix factored out by the parser
	g, err := Compile([]string{"%{COMBINEDAPACHELOG}"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e := &g.exprs[0]; e.mayMatch([]byte("Dec  3 12:36:28 web-01 sshd[24311]: no quotes here")) {
		t.Errorf("a line without quotes may match %q (required %q)", e.src, e.required)
	}
}

// TestEveryLibraryPatternCompiles: each pattern of both sets expands and
// compiles on its own, and the commonly used names exist.
func TestEveryLibraryPatternCompiles(t *testing.T) {
	for setName, set := range map[string]map[string]string{"ecs": ecs, "legacy": legacy} {
		compile := Compile
		if setName == "legacy" {
			compile = CompileLegacy
		}
		names := map[string]bool{}
		for n := range base {
			names[n] = true
		}
		for n := range set {
			names[n] = true
		}
		for n := range names {
			if _, err := compile([]string{"%{" + n + ":x}"}, nil); err != nil {
				t.Errorf("%s %s: %v", setName, n, err)
			}
		}
		for _, n := range []string{"WORD", "NUMBER", "INT", "IP", "IPV4", "IPV6", "HOSTNAME", "TIMESTAMP_ISO8601", "HTTPDATE",
			"SYSLOGTIMESTAMP", "COMMONAPACHELOG", "COMBINEDAPACHELOG", "SYSLOGLINE", "LOGLEVEL", "UUID", "URIPATHPARAM", "DATA",
			"GREEDYDATA", "QS", "SYSLOGBASE", "HTTPD_ERRORLOG", "EMAILADDRESS", "MAC", "URI", "PATH"} {
			if !names[n] {
				t.Errorf("%s: no pattern %s", setName, n)
			}
		}
	}
}

// TestHostileLines: long lines that hold the required literals but never
// match cost one linear pass of Go's regexp (no backtracking blow-up).
func TestHostileLines(t *testing.T) {
	g, err := Compile([]string{"%{COMBINEDAPACHELOG}", "%{SYSLOGLINE}", `%{QS:a} %{DATA:b} "%{GREEDYDATA:c}`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, unit := range []string{`] " [`, `1.1.1.1 - - [`, `"a" `, "Dec  3 "} {
		g.Match([]byte(strings.Repeat(unit, (64<<10)/len(unit))), nil)
	}
}
