package grok

import (
	"bytes"
	"testing"
)

// FuzzCompile: expanding and compiling any pattern with any custom pattern
// never panics, and matching with the result never panics.
func FuzzCompile(f *testing.F) {
	f.Add("%{IP:client} %{WORD:method} %{NUMBER:n:int}", "X", "%{WORD}|(?<a>b)")
	f.Add("(?<q>[0-9A-F]{10}): %{X:y}", "X", "%{X}")
	f.Add("[[:alpha:]]%{X:[a][b]:float}", "X", `\d+(?>x)`)
	f.Fuzz(func(t *testing.T, pattern, name, def string) {
		g, err := Compile([]string{pattern}, map[string]string{name: def})
		if err != nil {
			return
		}
		for _, in := range []string{pattern, def, "55.3.244.1 GET /index.html 15824 0.043"} {
			if e := &g.exprs[0]; e.re.MatchString(in) && !e.mayMatch([]byte(in)) {
				t.Fatalf("%s matches %q but its required literals %q say it cannot", e.src, in, e.required)
			}
			out, ok := g.Match([]byte(in), nil)
			if !ok && len(out) != 0 {
				t.Fatalf("no match but %d fields", len(out))
			}
		}
	})
}

// FuzzMatch: the library patterns on any input: no panic, every value is a
// non-empty piece of the input.
func FuzzMatch(f *testing.F) {
	g, err := Compile([]string{"%{COMBINEDAPACHELOG}", "%{SYSLOGLINE}", "%{HTTPD_ERRORLOG}", "%{TIMESTAMP_ISO8601:ts} %{LOGLEVEL:level} %{GREEDYDATA:msg}"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`203.0.113.17 - - [03/Dec/2026:12:36:28 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8"`))
	f.Add([]byte("Dec  3 12:36:28 web-01 sshd[24311]: hello"))
	f.Add([]byte("2026-12-03T12:36:28Z INFO started"))
	f.Fuzz(func(t *testing.T, in []byte) {
		for i := range g.exprs {
			e := &g.exprs[i]
			if e.re.Match(in) && !e.mayMatch(in) {
				t.Fatalf("%s matches %q but its required literals %q say it cannot", e.src, in, e.required)
			}
		}
		out, _ := g.Match(in, nil)
		for _, fl := range out {
			if len(fl.Value) == 0 || !bytes.Contains(in, fl.Value) {
				t.Fatalf("value %q of %s not in input", fl.Value, fl.Key)
			}
		}
	})
}
