package process

import (
	"strings"
	"testing"
)

func TestCond(t *testing.T) {
	doc := `{"log.level":"error","status":503,"code":"404","ratio":0.5,"ok":true,"nil":null,"msg":"GET /api/orders","esc":"a\"b",` +
		`"kubernetes":{"namespace":"shop","labels":{"app":"web"}},"tags":["a","b"]}`
	var d Doc
	f := func(cond string, want bool) {
		t.Helper()
		c, err := ParseCond(cond)
		if err != nil {
			t.Fatalf("%s: %v", cond, err)
		}
		d.reset([]byte(doc))
		if got := c.Eval(&d); got != want {
			t.Errorf("%s: got %v, want %v", cond, got, want)
		}
	}
	// ==, !=
	f(`log.level == "error"`, true)
	f(`log.level == 'error'`, true)
	f(`log.level == "info"`, false)
	f(`log.level != "info"`, true)
	f(`missing != "x"`, true)
	f(`missing == "x"`, false)
	f(`status == 503`, true)
	f(`status == "503"`, false) // a string literal equals only strings
	f(`code == 404`, true)      // a number equals a string holding it
	f(`ok == true`, true)
	f(`ok == "true"`, false)
	f(`nil == null`, true)
	f(`status == null`, false)
	f(`esc == "a\"b"`, true)
	f(`kubernetes.namespace == "shop"`, true)
	f(`kubernetes.labels.app == "web"`, true)
	// <, <=, >, >=
	f(`status >= 500`, true)
	f(`status > 503`, false)
	f(`status <= 503`, true)
	f(`status < 503`, false)
	f(`ratio < 1`, true)
	f(`code > 400`, true)
	f(`log.level > 1`, false) // not a number
	f(`missing < 1`, false)
	f(`status > -1e3`, true)
	// in
	f(`kubernetes.namespace in ["pay", "shop"]`, true)
	f(`kubernetes.namespace in ["pay"]`, false)
	f(`status in [200, 503]`, true)
	f(`missing in ["x"]`, false)
	// matches
	f(`msg matches "^GET /api/"`, true)
	f(`msg matches "POST"`, false)
	f(`status matches "^5"`, true) // the raw text of a number
	f(`missing matches "."`, false)
	// exists
	f(`status exists`, true)
	f(`kubernetes exists`, true)
	f(`kubernetes.labels exists`, true)
	f(`kube exists`, false)
	f(`tags exists`, true)
	// and, or, not, precedence, parentheses
	f(`status exists and log.level == "error"`, true)
	f(`status exists and log.level == "info"`, false)
	f(`log.level == "info" or status == 503`, true)
	f(`not log.level == "info"`, true)
	f(`not (log.level == "error" or x exists)`, false)
	f(`log.level == "info" and x exists or status == 503`, true) // and binds tighter
	f(`log.level == "error" or x exists and status == 1`, true)  // a or (b and c)
	f(`(log.level == "error" or x exists) and status == 1`, false)
	f(`not not status exists`, true)
}

func TestCondErrors(t *testing.T) {
	f := func(cond, want string) {
		t.Helper()
		_, err := ParseCond(cond)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error with %q", cond, err, want)
		}
	}
	f(``, "want a field name")
	f(`a`, "want '==', '!=', '<', '<=', '>', '>=', 'in', 'matches' or 'exists'")
	f(`a = 1`, "did you mean '=='")
	f(`a == `, "want a value")
	f(`a < "x"`, "compares numbers: want a number, got a string")
	f(`a > true`, "compares numbers")
	f(`a matches 1`, "want a string (regular expression)")
	f(`a matches "("`, "bad regular expression")
	f(`a in "x"`, "want '[' after 'in'")
	f(`a in [1, ]`, "want a value")
	f(`a in [1 2]`, "want ',' or ']'")
	f(`(a exists`, "want ')'")
	f(`a exists b exists`, "unexpected 'b'")
	f(`a == "x`, "unterminated string")
	f(`a == 1.2.3`, "bad number")
	f(`a..b exists`, "bad field name")
	f(`and exists`, "want a field name")
	f(`a exists &&  b exists`, "unexpected '&'")
	f(strings.Repeat("(", 100)+"a exists"+strings.Repeat(")", 100), "nested deeper")
	f(strings.Repeat("not ", 100)+"a exists", "nested deeper")
	f(strings.Repeat("a exists or ", 500)+"a exists", "longer than")
}

func FuzzParseCond(f *testing.F) {
	for _, s := range []string{`a == 1`, `a.b != "x" and not c exists`, `x in [1, "a", true, null]`, `m matches "^a+$" or (n >= 2.5e3)`,
		`not (a < -1 or b > 1) and c <= 2`, `'q\'s' == a`, `a == "\u00e9"`} {
		f.Add(s, `{"a":1,"a.b":"x","c":{"d":[1]},"m":"aaa","n":"2500"}`)
	}
	f.Fuzz(func(t *testing.T, cond, doc string) {
		c, err := ParseCond(cond)
		if err != nil {
			if c != nil {
				t.Fatalf("error %v with a condition", err)
			}
			return
		}
		if c.String() != cond {
			t.Fatalf("String %q, want %q", c.String(), cond)
		}
		var d Doc
		d.reset([]byte(doc))
		r1 := c.Eval(&d)
		d.reset([]byte(doc))
		if r2 := c.Eval(&d); r1 != r2 {
			t.Fatalf("%q on %q: %v then %v", cond, doc, r1, r2)
		}
		// not flips the result: a parsed condition is a whole expression.
		n, err := ParseCond("not (" + cond + ")")
		if err != nil {
			t.Fatalf("not (%s): %v", cond, err)
		}
		d.reset([]byte(doc))
		if n.Eval(&d) == r1 {
			t.Fatalf("not (%s) is not the negation", cond)
		}
	})
}

// BenchmarkCond: the cost of one condition on a document whose field view
// is built (the common case: an earlier processor built it).
func BenchmarkCond(b *testing.B) {
	c, err := ParseCond(`(log.level == "error" and http.response.status_code >= 500) or kubernetes.namespace in ["shop", "pay"]`)
	if err != nil {
		b.Fatal(err)
	}
	doc := []byte(`{"@timestamp":"2024-01-02T03:04:05Z","log.level":"info","message":"request handled","http.response.status_code":503,"kubernetes.namespace":"pay","service.name":"api"}`)
	var d Doc
	b.Run("eval", func(b *testing.B) {
		d.reset(doc)
		d.build()
		b.ReportAllocs()
		for b.Loop() {
			if !c.Eval(&d) {
				b.Fatal("false")
			}
		}
	})
	b.Run("view+eval", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		for b.Loop() {
			d.reset(doc)
			if !c.Eval(&d) {
				b.Fatal("false")
			}
		}
	})
	b.Run("compile", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseCond(c.String()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
