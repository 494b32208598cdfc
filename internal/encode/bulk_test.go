package encode

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

func TestAppendID(t *testing.T) {
	f := func(hi, lo uint64, want string) {
		t.Helper()
		prefix := []byte("prefix:")
		got := AppendID(bytes.Clone(prefix), hi, lo)
		if !bytes.HasPrefix(got, prefix) {
			t.Fatalf("AppendID(%d, %d) overwrote dst: %q", hi, lo, got)
		}
		id := got[len(prefix):]
		if len(id) != IDLen {
			t.Fatalf("AppendID(%d, %d): got %d characters, want %d", hi, lo, len(id), IDLen)
		}
		if want != "" && string(id) != want {
			t.Fatalf("AppendID(%d, %d): got %q, want %q", hi, lo, id, want)
		}
		for _, c := range id {
			if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				t.Fatalf("AppendID(%d, %d) = %q: %q is not base64url", hi, lo, id, c)
			}
		}
		raw, err := base64.RawURLEncoding.DecodeString(string(id))
		if err != nil || len(raw) != 16 {
			t.Fatalf("AppendID(%d, %d) = %q does not decode to 16 bytes: %v", hi, lo, id, err)
		}
		if gh, gl := binary.BigEndian.Uint64(raw[:8]), binary.BigEndian.Uint64(raw[8:]); gh != hi || gl != lo {
			t.Fatalf("AppendID(%d, %d) decodes to (%d, %d)", hi, lo, gh, gl)
		}
		if again := AppendID(nil, hi, lo); !bytes.Equal(again, id) {
			t.Fatalf("AppendID(%d, %d) is not deterministic: %q then %q", hi, lo, id, again)
		}
	}
	f(0, 0, "AAAAAAAAAAAAAAAAAAAAAA")
	f(math.MaxUint64, math.MaxUint64, "_____________________w")
	f(0, 1, "AAAAAAAAAAAAAAAAAAAAAQ")
	f(1, 0, "AAAAAAAAAAEAAAAAAAAAAA")
	f(0xfbff_ffff_ffff_ffff, 0xf8, "-_________8AAAAAAAAA-A") // both URL-safe characters
	f(12345, 67890, "")
	// Every bit in every position, and random values.
	for i := 0; i < 64; i++ {
		f(1<<i, 0, "")
		f(0, 1<<i, "")
		f(^uint64(1<<i), 1<<i, "")
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		f(r.Uint64(), r.Uint64(), "")
	}

	// Different inputs give different ids, also when hi and lo swap.
	seen := map[string][2]uint64{}
	for hi := uint64(0); hi < 30; hi++ {
		for lo := uint64(0); lo < 30; lo++ {
			id := string(AppendID(nil, hi, lo))
			if prev, ok := seen[id]; ok {
				t.Fatalf("AppendID(%d, %d) = AppendID(%d, %d) = %q", hi, lo, prev[0], prev[1], id)
			}
			seen[id] = [2]uint64{hi, lo}
		}
	}
}

func TestAppendIDAllocs(t *testing.T) {
	dst := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { dst = AppendID(dst[:0], 1, 2) }); n != 0 {
		t.Errorf("AppendID into a large enough buffer: %v allocations, want 0", n)
	}
}

func TestAppendCreate(t *testing.T) {
	f := func(dst, index, id, want string) {
		t.Helper()
		got := AppendCreate([]byte(dst), index, []byte(id))
		if string(got) != want {
			t.Fatalf("AppendCreate(%q, %q, %q)\ngot  %q\nwant %q", dst, index, id, got, want)
		}
		line := got[len(dst):]
		var a struct {
			Create struct {
				Index string `json:"_index"`
				ID    string `json:"_id"`
			} `json:"create"`
		}
		if err := json.Unmarshal(line, &a); err != nil {
			t.Fatalf("AppendCreate output %q is not JSON: %v", line, err)
		}
		if a.Create.Index != index || a.Create.ID != id {
			t.Fatalf("AppendCreate output %q decodes to %+v", line, a)
		}
	}
	f("", "logs-app-default", "AAAAAAAAAAAAAAAAAAAAAQ", `{"create":{"_index":"logs-app-default","_id":"AAAAAAAAAAAAAAAAAAAAAQ"}}`+"\n")
	f("{}\n", "logs-shipper.deadletter-default", "x_-1", "{}\n"+`{"create":{"_index":"logs-shipper.deadletter-default","_id":"x_-1"}}`+"\n")
	f("", "i", "", `{"create":{"_index":"i","_id":""}}`+"\n")
}

func BenchmarkAppendCreate(b *testing.B) {
	dst := make([]byte, 0, 256)
	id := make([]byte, 0, IDLen)
	b.ReportAllocs()
	b.SetBytes(int64(len(AppendCreate(nil, "logs-app-default", AppendID(nil, 1, 2)))))
	for i := 0; b.Loop(); i++ {
		id = AppendID(id[:0], 1, uint64(i))
		dst = AppendCreate(dst[:0], "logs-app-default", id)
	}
}

func BenchmarkAppendID(b *testing.B) {
	b.ReportAllocs()
	dst := make([]byte, 0, 64)
	for i := 0; i < b.N; i++ {
		dst = AppendID(dst[:0], 0x1234_5678_9abc_def0, uint64(i))
	}
}

func TestAppendCreateIn(t *testing.T) {
	f := func(index, def, want string) {
		t.Helper()
		got := AppendCreateIn([]byte("x"), index, def, []byte("ID"))
		if string(got) != "x"+want {
			t.Fatalf("AppendCreateIn(%q, %q)\ngot  %q\nwant %q", index, def, got[1:], want)
		}
		gi, gid, ok := ParseCreate(got[1:])
		wantIndex := index
		if index == def && def != "" {
			wantIndex = ""
		}
		if !ok || string(gi) != wantIndex || string(gid) != "ID" {
			t.Fatalf("ParseCreate(%q) = %q, %q, %v; want %q, ID", got[1:], gi, gid, ok, wantIndex)
		}
	}
	f("logs-app-default", "logs-app-default", `{"create":{"_id":"ID"}}`+"\n")
	f("logs-app-default", "logs-other-default", `{"create":{"_index":"logs-app-default","_id":"ID"}}`+"\n")
	f("logs-app-default", "", `{"create":{"_index":"logs-app-default","_id":"ID"}}`+"\n")
	f("", "", `{"create":{"_index":"","_id":"ID"}}`+"\n")
}

func TestParseCreate(t *testing.T) {
	f := func(action, index, id string, ok bool) {
		t.Helper()
		gi, gid, gok := ParseCreate([]byte(action))
		if gok != ok || string(gi) != index || string(gid) != id || gok && index == "" && gi != nil {
			t.Fatalf("ParseCreate(%q) = %q, %q, %v; want %q, %q, %v", action, gi, gid, gok, index, id, ok)
		}
	}
	f(`{"create":{"_index":"i","_id":"d"}}`+"\n", "i", "d", true)
	f(`{"create":{"_index":"i","_id":"d"}}`, "i", "d", true)
	f(`{"create":{"_id":"d"}}`+"\n", "", "d", true)
	f(`{"create":{"_id":""}}`+"\n", "", "", true)
	f(`{"index":{"_index":"i","_id":"d"}}`+"\n", "", "", false)
	f(`{"create":{"_index":"i"}}`+"\n", "", "", false)
	f(`{"create":{"_index":"i","_id":"d","pipeline":"p"}}`+"\n", "", "", false)
	f(`{"create":{"_id":"d`, "", "", false)
	f(`{"create":{"_index":"i`, "", "", false)
	f(``, "", "", false)
}

// FuzzParseCreate: what ParseCreate accepts is a line AppendCreate or
// AppendCreateIn writes (with or without its '\n'), and it reads back what
// they wrote.
func FuzzParseCreate(f *testing.F) {
	f.Add([]byte(AppendCreate(nil, "logs-app-default", AppendID(nil, 1, 2))))
	f.Add([]byte(AppendCreateIn(nil, "logs-app-default", "logs-app-default", AppendID(nil, 1, 2))))
	f.Add([]byte(`{"create":{"_index":"","_id":""}}`))
	f.Add([]byte(`{"create":{"_id":"a"}}` + "\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		index, id, ok := ParseCreate(b)
		if !ok {
			return
		}
		var again []byte
		if index == nil {
			again = AppendCreateIn(nil, "d", "d", id)
		} else {
			again = AppendCreate(nil, string(index), id)
		}
		if string(b) != string(again) && string(b) != string(again[:len(again)-1]) {
			t.Fatalf("ParseCreate(%q) = %q, %q: written again %q", b, index, id, again)
		}
	})
}
