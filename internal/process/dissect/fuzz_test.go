package dissect

import (
	"bytes"
	"testing"
)

// FuzzCompile: the compiler never panics, and a compiled pattern never
// panics on any input, even its own text.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		"%{a} %{b}", "%{+a/2} %{+a/1->} %{b}", "%{*k} %{&k}", "[%{a}] %{?b} %{}", "%{a", "%{a}%{b}",
		"%{a->},%{b}", "{%{a}}{%{b}} %{c}", "%{+a/-1}", "%{&&a}", "x%{a}y%{b}z",
	} {
		f.Add(s, "x y z")
	}
	f.Fuzz(func(t *testing.T, pattern, in string) {
		p, err := Compile(pattern, Options{AppendSeparator: ",", LogstashAppend: len(in)%2 == 1})
		if err != nil {
			return
		}
		for _, src := range []string{in, pattern} {
			out, ok := p.Match([]byte(src), nil)
			if !ok {
				if len(out) != 0 {
					t.Fatalf("no match but %d fields", len(out))
				}
				continue
			}
			if len(out) != len(p.groups) {
				t.Fatalf("Match(%q, %q): %d fields, want %d", pattern, src, len(out), len(p.groups))
			}
		}
	})
}

// FuzzMatch: with a fixed set of patterns, every non-joined value is a
// sub-slice of the input and every match is stable on a second call.
func FuzzMatch(f *testing.F) {
	patterns := []string{
		`%{clientip} %{ident} %{auth} [%{@timestamp}] "%{verb} %{request} HTTP/%{httpversion}" %{status} %{size}`,
		"%{ts} %{+ts} %{+ts} %{host} %{prog}[%{pid}]: %{msg}",
		"%{a->},%{b},%{c}",
		"%{*k}=%{&k} %{rest}",
	}
	var ps []*Pattern
	for _, s := range patterns {
		p, err := Compile(s, Options{AppendSeparator: " "})
		if err != nil {
			f.Fatal(err)
		}
		ps = append(ps, p)
	}
	f.Add([]byte(`10.0.0.1 - - [30/Apr/1998:22:00:52 +0000] "GET / HTTP/1.0" 200 3171`))
	f.Add([]byte("Mar 16 00:01:25 evita postfix/smtpd[1713]: connect"))
	f.Add([]byte("a,,,,b,c"))
	f.Add([]byte("k=v rest"))
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, p := range ps {
			out, ok := p.Match(in, nil)
			if !ok {
				continue
			}
			var first []string
			for _, fl := range out {
				first = append(first, string(fl.Key)+"="+string(fl.Value))
				if len(fl.Value) > 0 && !bytes.Contains(in, fl.Value) && !bytes.Contains(fl.Value, []byte(" ")) {
					t.Fatalf("%s: value %q is not from the input %q", p, fl.Value, in)
				}
			}
			again, ok2 := p.Match(in, nil)
			if !ok2 || len(again) != len(out) {
				t.Fatalf("%s: second Match differs", p)
			}
			for i, fl := range again {
				if string(fl.Key)+"="+string(fl.Value) != first[i] {
					t.Fatalf("%s: second Match differs at %d", p, i)
				}
			}
		}
	})
}
