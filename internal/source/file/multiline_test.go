package file

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// groups decodes plain text with the default multiline rule and returns the
// records' contents.
func groups(t *testing.T, cfg MultilineConfig, in string) []rec {
	t.Helper()
	return decodeFile(t, DecoderConfig{Format: FormatPlain, Multiline: &cfg}, []byte(in), 16, 1<<10)
}

func contents(rs []rec) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Content)
	}
	return out
}

func TestMultilineDefault(t *testing.T) {
	f := func(name, in string, want ...string) {
		t.Helper()
		got := contents(groups(t, MultilineConfig{}, in))
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
			t.Fatalf("%s:\ngot  %q\nwant %q", name, got, want)
		}
	}
	java := `Exception in thread "main" java.lang.IllegalStateException: outer
	at com.example.App.run(App.java:20)
	at com.example.App.main(App.java:10)
Caused by: java.lang.NullPointerException: inner
	at com.example.Dao.load(Dao.java:5)
	... 2 more`
	f("java", "2024-05-01 INFO start\n"+java+"\n2024-05-01 INFO next\n",
		"2024-05-01 INFO start", java, "2024-05-01 INFO next")
	f("java more without indent", "java.io.IOException: x\n\tat A.b(A.java:1)\n... 12 more\nnext\n",
		"java.io.IOException: x\n\tat A.b(A.java:1)\n... 12 more", "next")

	python := `Traceback (most recent call last):
  File "app.py", line 3, in <module>
    main()
  File "app.py", line 2, in main
    raise ValueError("bad")
ValueError: bad`
	f("python", "INFO before\n"+python+"\nINFO after\n", "INFO before", python, "INFO after")
	chained := `Traceback (most recent call last):
  File "a.py", line 2, in <module>
    {}["k"]
KeyError: 'k'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "a.py", line 4, in <module>
    raise RuntimeError("wrapped") from None
mod.errors.RuntimeError: wrapped`
	f("python chained", chained+"\nINFO after\n", chained, "INFO after")
	f("python bare exception name", "Traceback (most recent call last):\n  File \"x\", line 1\nKeyboardInterrupt\nnext\n",
		"Traceback (most recent call last):\n  File \"x\", line 1\nKeyboardInterrupt", "next")
	f("blank line after a traceback not followed by a chain stays with it",
		python+"\n\nINFO after\n", python+"\n", "INFO after")

	gopanic := `panic: runtime error: index out of range [5] with length 3

goroutine 1 [running]:
main.main()
	/tmp/x.go:8 +0x1d
net/http.(*conn).serve(0xc000120000, {0x6f6a38, 0xc00009e000})
	/usr/local/go/src/net/http/server.go:2009 +0x615
created by net/http.(*Server).Serve in goroutine 1
	/usr/local/go/src/net/http/server.go:3086 +0x4cc

goroutine 7 [chan receive]:
main.worker(...)
	/tmp/x.go:20`
	f("go panic", "level=info msg=up\n"+gopanic+"\nexit status 2\n", "level=info msg=up", gopanic, "exit status 2")
	f("go fatal error with signal", "fatal error: unexpected signal\n[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x1]\n\ngoroutine 1 [running]:\nmain.f()\n\t/x.go:1\nnext\n",
		"fatal error: unexpected signal\n[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x1]\n\ngoroutine 1 [running]:\nmain.f()\n\t/x.go:1", "next")

	node := `TypeError: Cannot read properties of undefined (reading 'x')
    at Object.<anonymous> (/app/index.js:1:3)
    at Module._compile (node:internal/modules/cjs/loader:1256:14)`
	f("node", node+"\nServer listening\n", node, "Server listening")

	f("blank lines and plain lines stay separate", "a\n\nb\nc\n", "a", "", "b", "c")
	f("continuation first in the file", "\tat x\nstart\n", "\tat x", "start")
}

func TestMultilineOffsetsAndLimits(t *testing.T) {
	// Offsets: the group covers its lines exactly; the checkpoint stays
	// at the start of an open group.
	got := groups(t, MultilineConfig{}, "a\n\tb\n\tc\nd\n\te\n")
	wantRecs(t, got,
		rec{"a\n\tb\n\tc", 7, 0, StreamNone, 0, "", 0, 8, 8},
		rec{"d\n\te", 4, 0, StreamNone, 0, "", 8, 13, 13})

	// MaxLines ends the group; the next continuation starts a new one.
	got = groups(t, MultilineConfig{MaxLines: 2}, "a\n\tb\n\tc\n\td\n\te\nf\n")
	if c := contents(got); fmt.Sprintf("%q", c) != fmt.Sprintf("%q", []string{"a\n\tb", "\tc\n\td", "\te", "f"}) {
		t.Fatalf("MaxLines 2: %q", c)
	}

	// MaxBytes truncates and flags; Size counts everything.
	got = groups(t, MultilineConfig{MaxBytes: 5}, "abc\n\tdef\n\tg\nh\n")
	wantRecs(t, got,
		rec{"abc\n\t", 11, 0, StreamNone, Truncated, "", 0, 12, 12},
		rec{"h", 1, 0, StreamNone, 0, "", 12, 14, 14})

	// A custom start pattern: lines not matching it continue.
	got = groups(t, MultilineConfig{Start: regexp.MustCompile(`^\d{4}-`)}, "2024- one\nmore\nTraceback\n2024- two\n")
	if c := contents(got); fmt.Sprintf("%q", c) != fmt.Sprintf("%q", []string{"2024- one\nmore\nTraceback", "2024- two"}) {
		t.Fatalf("custom start: %q", c)
	}
}

func TestMultilineCRIPerStream(t *testing.T) {
	// A stack trace on stderr, split by CRI pieces, interleaved with stdout.
	l := func(s, tag, c string) string { return ts1 + " " + s + " " + tag + " " + c + "\n" }
	in := l("stderr", "F", "java.lang.Error: x") +
		l("stdout", "F", "request 1") +
		l("stderr", "P", "\tat A.b(") +
		l("stderr", "F", "A.java:1)") +
		l("stdout", "F", "request 2") +
		l("stderr", "F", "next error")
	got := decodeFile(t, DecoderConfig{Multiline: &MultilineConfig{}}, []byte(in), 0, 0)
	n := func(c string) int64 { return int64(len(l("stderr", "F", c))) }
	o1 := n("java.lang.Error: x")
	o2 := o1 + n("request 1")
	o3 := o2 + n("\tat A.b(")
	o4 := o3 + n("A.java:1)")
	o5 := o4 + n("request 2")
	o6 := o5 + n("next error")
	// Each stream's group ends when that stream's next start line arrives;
	// until then the checkpoint stays at the oldest open group.
	wantRecs(t, got,
		rec{"request 1", 9, t1, StreamStdout, 0, "", o1, o2, 0},
		rec{"java.lang.Error: x\n\tat A.b(A.java:1)", 36, t1, StreamStderr, 0, "", 0, o4, o4},
		rec{"request 2", 9, t1, StreamStdout, 0, "", o4, o5, o5},
		rec{"next error", 10, t1, StreamStderr, 0, "", o5, o6, o6})
}

func TestMultilineExpire(t *testing.T) {
	d := NewDecoder(DecoderConfig{Format: FormatPlain, Multiline: &MultilineConfig{Timeout: time.Second}})
	off := int64(0)
	add := func(s string, now time.Duration) (Record, bool) {
		l := Line{Data: []byte(s), Size: len(s), Start: off, End: off + int64(len(s)) + 1}
		off = l.End
		return d.Add(l, int64(now))
	}
	if _, ok := add("boom", 0); ok {
		t.Fatal("first line returned a record")
	}
	add("\tat x", 500*time.Millisecond)
	if since, ok := d.PendingSince(); !ok || since != 0 {
		t.Fatalf("PendingSince = %d, %v", since, ok)
	}
	if rs := d.Expire(int64(900 * time.Millisecond)); len(rs) != 0 {
		t.Fatalf("expired early: %v", rs)
	}
	rs := d.Expire(int64(time.Second))
	if len(rs) != 1 || string(rs[0].Content) != "boom\n\tat x" || rs[0].Commit != off || rs[0].Flags != 0 {
		t.Fatalf("Expire = %+v", rs)
	}
	if _, ok := d.PendingSince(); ok {
		t.Fatal("still pending after Expire")
	}
	// A continuation after the timeout starts a group of its own.
	add("\tat y", 2*time.Second)
	rs = d.Flush()
	if len(rs) != 1 || string(rs[0].Content) != "\tat y" {
		t.Fatalf("Flush = %+v", rs)
	}
}

func TestMultilineStandalone(t *testing.T) {
	m := NewMultiline(MultilineConfig{})
	var out []string
	for i, s := range strings.Split("a\n\tb\nc", "\n") {
		if r, ok := m.Add(Record{Content: []byte(s), Size: len(s), Start: int64(i), End: int64(i + 1)}, 0); ok {
			out = append(out, string(r.Content))
		}
	}
	if !m.Pending() || m.PendingStart() != 2 {
		t.Fatalf("Pending %v at %d", m.Pending(), m.PendingStart())
	}
	r, ok := m.Flush()
	if !ok || m.Pending() {
		t.Fatal("Flush did not end the group")
	}
	out = append(out, string(r.Content))
	if fmt.Sprintf("%q", out) != `["a\n\tb" "c"]` {
		t.Fatalf("got %q", out)
	}
}
