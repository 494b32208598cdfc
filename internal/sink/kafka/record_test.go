package kafka

import (
	"errors"
	"strings"
	"testing"

	"shipper/internal/encode"
)

func TestParseAction(t *testing.T) {
	f := func(action, def, wantIndex, wantID string, ok bool) {
		t.Helper()
		index, id, err := parseAction([]byte(action), []byte(def))
		if (err == nil) != ok {
			t.Fatalf("parseAction(%q, %q): error %v, want ok=%v", action, def, err, ok)
		}
		if ok && (string(index) != wantIndex || string(id) != wantID) {
			t.Fatalf("parseAction(%q, %q) = %q, %q; want %q, %q", action, def, index, id, wantIndex, wantID)
		}
	}
	id := string(encode.AppendID(nil, 1, 2))
	f(string(encode.AppendCreate(nil, "logs-app-default", []byte(id))), "", "logs-app-default", id, true)
	f(string(encode.AppendCreate(nil, "logs-a.b_c-prod", []byte("x"))), "logs-app-default", "logs-a.b_c-prod", "x", true)
	// A line of a batch whose default target is its stream.
	f(string(encode.AppendCreateIn(nil, "logs-app-default", "logs-app-default", []byte(id))), "logs-app-default", "logs-app-default", id, true)
	f(`{"create":{"_id":"x"}}`+"\n", "", "", "", false)
	f(`{"index":{"_index":"x"}}`+"\n", "", "", "", false)
	f(`{"create":{"_index":"x`, "", "", "", false)
	f(`{"create":{"_index":"x"}}`+"\n", "", "", "", false)
	f(`{"create":{"_index":"x","_id":"abc`, "", "", "", false)
	f("", "d", "", "", false)
}

func FuzzParseAction(f *testing.F) {
	f.Add([]byte(encode.AppendCreate(nil, "logs-app-default", encode.AppendID(nil, 1, 2))), "")
	f.Add([]byte(encode.AppendCreateIn(nil, "logs-app-default", "logs-app-default", encode.AppendID(nil, 1, 2))), "logs-app-default")
	f.Add([]byte(`{"create":{"_index":"","_id":""}}`), "d")
	f.Fuzz(func(t *testing.T, b []byte, def string) {
		index, id, err := parseAction(b, []byte(def))
		if err != nil {
			return
		}
		// What parses is what AppendCreateIn would have written, with or
		// without its '\n'.
		got := string(encode.AppendCreateIn(nil, string(index), def, id))
		if string(b) != got && string(b) != got[:len(got)-1] {
			if named := string(encode.AppendCreate(nil, string(index), id)); string(b) != named && string(b) != named[:len(named)-1] {
				t.Fatalf("parseAction(%q, %q) = %q, %q: neither %q nor %q", b, def, index, id, got, named)
			}
		}
	})
}

func TestSourceKey(t *testing.T) {
	// Ids of the same source (same high number) share the key; another
	// source gets another.
	k1 := string(appendSourceKey(nil, encode.AppendID(nil, 7, 1)))
	k2 := string(appendSourceKey(nil, encode.AppendID(nil, 7, 1<<60)))
	k3 := string(appendSourceKey(nil, encode.AppendID(nil, 8, 1)))
	if k1 != k2 || k1 == k3 || len(k1) != sourceKeyLen {
		t.Fatalf("keys %q %q %q: want the first two equal, the third different, %d bytes", k1, k2, k3, sourceKeyLen)
	}
	if got := string(appendSourceKey(nil, []byte("short"))); got != "short" {
		t.Fatalf("key of a foreign id = %q, want it whole", got)
	}
}

func TestTopic(t *testing.T) {
	f := func(tmpl, index, want string) {
		t.Helper()
		tp, err := ParseTopic(tmpl)
		if err != nil {
			t.Fatalf("ParseTopic(%q): %v", tmpl, err)
		}
		if got := tp.For(index); got != want {
			t.Fatalf("ParseTopic(%q).For(%q) = %q, want %q", tmpl, index, got, want)
		}
		if tp.String() != tmpl {
			t.Fatalf("String() = %q, want %q", tp.String(), tmpl)
		}
	}
	f("logs", "logs-app-default", "logs")
	f("logs-{dataset}", "logs-app-default", "logs-app")
	f("logs-{dataset}", "logs-nginx.access-default", "logs-nginx.access")
	f("{index}", "logs-app-prod", "logs-app-prod")
	f("t.{namespace}.{dataset}", "logs-my_app-prod", "t.prod.my_app")
	f("x-{dataset}", "", "x-")

	bad := func(tmpl string) {
		t.Helper()
		if _, err := ParseTopic(tmpl); !errors.Is(err, ErrTopic) {
			t.Fatalf("ParseTopic(%q): error %v, want ErrTopic", tmpl, err)
		}
	}
	bad("")
	bad("logs-{host}")
	bad("logs-{dataset")
	bad("logs/x")
	bad("a b")
	bad("..")
	bad(strings.Repeat("a", 250))
}

func TestParseKeyMode(t *testing.T) {
	for _, s := range []string{"source", "stream", "none"} {
		if _, err := ParseKeyMode(s); err != nil {
			t.Fatalf("ParseKeyMode(%q): %v", s, err)
		}
	}
	if _, err := ParseKeyMode("file"); err == nil {
		t.Fatal("ParseKeyMode(file): no error")
	}
}

func TestCutUTF8(t *testing.T) {
	s := []byte("aé") // 'é' is 2 bytes
	if got := string(cutUTF8(s, 2)); got != "a" {
		t.Fatalf("cutUTF8 = %q, want %q", got, "a")
	}
	if got := string(cutUTF8(s, 3)); got != "aé" {
		t.Fatalf("cutUTF8 = %q", got)
	}
}
