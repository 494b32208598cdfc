package forward

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

const (
	t0  = 1700000000 // 2023-11-14T22:13:20Z
	t0n = t0 * 1_000_000_000
)

// want describes a decoded request; entries are "time|json members".
type want struct {
	mode      Mode
	tag       string
	chunk     *string
	entries   []string
	invalid   int
	badTime   int
	heartbeat bool
	ignored   bool
	err       error  // errors.Is class
	errText   string // substring of the error
}

func sp(s string) *string { return &s }

func (w want) check(t *testing.T, req Request, err error) {
	t.Helper()
	if w.err != nil || err != nil {
		if w.err == nil || !errors.Is(err, w.err) {
			t.Fatalf("error: got %v, want class %v", err, w.err)
		}
		if !strings.Contains(err.Error(), w.errText) {
			t.Fatalf("error: got %q, want it to contain %q", err, w.errText)
		}
		return
	}
	if req.Heartbeat != w.heartbeat || req.Ignored != w.ignored {
		t.Fatalf("heartbeat, ignored: got %v, %v, want %v, %v", req.Heartbeat, req.Ignored, w.heartbeat, w.ignored)
	}
	if req.Mode != w.mode {
		t.Fatalf("mode: got %v, want %v", req.Mode, w.mode)
	}
	if string(req.Tag) != w.tag {
		t.Fatalf("tag: got %q, want %q", req.Tag, w.tag)
	}
	switch {
	case w.chunk == nil && req.Chunk != nil:
		t.Fatalf("chunk: got %q, want none", req.Chunk)
	case w.chunk != nil && (req.Chunk == nil || string(req.Chunk) != *w.chunk):
		t.Fatalf("chunk: got %q (nil: %v), want %q", req.Chunk, req.Chunk == nil, *w.chunk)
	}
	if req.Invalid != w.invalid || req.BadTime != w.badTime {
		t.Fatalf("invalid, badTime: got %d, %d, want %d, %d", req.Invalid, req.BadTime, w.invalid, w.badTime)
	}
	var got []string
	for _, e := range req.Entries {
		var js []byte
		if req.Format == JSONRecord {
			js = JSONObjectMembers(e.Record)
		} else {
			var err error
			if js, err = AppendRecordJSON(nil, e.Record); err != nil {
				t.Fatalf("AppendRecordJSON(%x): %v", e.Record, err)
			}
		}
		s := fmt.Sprintf("%d|%s", e.Time, js)
		if e.Meta != nil {
			m, err := AppendRecordJSON(nil, e.Meta)
			if err != nil {
				t.Fatalf("meta: %v", err)
			}
			s += "|meta:" + string(m)
		}
		got = append(got, s)
	}
	if fmt.Sprint(got) != fmt.Sprint(w.entries) {
		t.Fatalf("entries:\ngot  %q\nwant %q", got, w.entries)
	}
}

type decodeCase struct {
	name string
	in   []byte
	want want
}

// record {"log":"hi"}
var rec1 = mp().mapStr("log", "hi")

func entriesOf(n int) menc {
	var e menc
	for i := 0; i < n; i++ {
		e = e.arr(2).int(t0 + int64(i)).mapH(1).str("i").int(int64(i))
	}
	return e
}

func decodeCases() []decodeCase {
	e1 := fmt.Sprintf("%d|\"log\":\"hi\"", t0n)
	packed := entriesOf(2)
	packedWant := []string{fmt.Sprintf("%d|\"i\":0", t0n), fmt.Sprintf("%d|\"i\":1", t0n+1_000_000_000)}
	twoMembers := append(gzipBytes(packed[:len(packed)/2]), gzipBytes(packed[len(packed)/2:])...)
	bomb := gzipBytes(make([]byte, 2<<20)) // 2 MiB of zeros, ~2 KiB compressed
	return []decodeCase{
		// Message mode.
		{"message 3 elements (python)", mp().arr(3).str("app").int(t0).bytes(rec1),
			want{mode: ModeMessage, tag: "app", entries: []string{e1}}},
		{"message 4 elements empty option (fluent-logger-golang)", mp().arr(4).str("app").int(t0).bytes(rec1).mapH(0),
			want{mode: ModeMessage, tag: "app", entries: []string{e1}}},
		{"message with chunk", mp().arr(4).str("app").int(t0).bytes(rec1).mapStr("chunk", "p8n9gmxTQVC8/nh2wlKKeQ=="),
			want{mode: ModeMessage, tag: "app", chunk: sp("p8n9gmxTQVC8/nh2wlKKeQ=="), entries: []string{e1}}},
		{"message empty chunk still wants an ack", mp().arr(4).str("app").int(t0).bytes(rec1).mapStr("chunk", ""),
			want{mode: ModeMessage, tag: "app", chunk: sp(""), entries: []string{e1}}},
		{"message nil option (old Docker)", mp().arr(4).str("app").int(t0).bytes(rec1).nil(),
			want{mode: ModeMessage, tag: "app", entries: []string{e1}}},
		{"EventTime fixext8", mp().arr(4).str("app").eventTime(t0, 123456789).bytes(rec1).mapH(0),
			want{mode: ModeMessage, tag: "app", entries: []string{fmt.Sprintf("%d|\"log\":\"hi\"", t0n+123456789)}}},
		{"EventTime ext8", mp().arr(4).str("app").eventTimeExt8(t0, 5).bytes(rec1).mapH(0),
			want{mode: ModeMessage, tag: "app", entries: []string{fmt.Sprintf("%d|\"log\":\"hi\"", t0n+5)}}},
		{"EventTime after 2038 (int32 wrap in fluent-logger-golang)", mp().arr(3).str("app").eventTime(0x90000000, 0).bytes(rec1),
			want{mode: ModeMessage, tag: "app", entries: []string{fmt.Sprintf("%d|\"log\":\"hi\"", int64(0x90000000)*1e9)}}},
		{"time uint32 and int64 encodings", mp().arr(3).str("app").u32(t0).bytes(rec1),
			want{mode: ModeMessage, tag: "app", entries: []string{e1}}},
		{"time int64 encoding", mp().arr(3).str("app").i64(t0).bytes(rec1),
			want{mode: ModeMessage, tag: "app", entries: []string{e1}}},
		{"time 0 means now", mp().arr(3).str("app").int(0).bytes(rec1),
			want{mode: ModeMessage, tag: "app", entries: []string{"0|\"log\":\"hi\""}}},
		{"time nil means now", mp().arr(3).str("app").nil().bytes(rec1),
			want{mode: ModeMessage, tag: "app", entries: []string{"0|\"log\":\"hi\""}}},
		{"time float", mp().arr(3).str("app").f64(t0 + 0.25).bytes(rec1),
			want{mode: ModeMessage, tag: "app", entries: []string{fmt.Sprintf("%d|\"log\":\"hi\"", t0n+250000000)}}},
		{"time msgpack timestamp ext -1", mp().arr(3).str("app").ext(-1, []byte{0x65, 0x53, 0xf1, 0x00}).bytes(rec1),
			want{mode: ModeMessage, tag: "app", entries: []string{e1}}},
		{"time uint64 too large", mp().arr(3).str("app").u64(1<<63 + 5).bytes(rec1),
			want{mode: ModeMessage, tag: "app", badTime: 1, entries: []string{"0|\"log\":\"hi\""}}},
		{"time unknown ext", mp().arr(3).str("app").ext(9, []byte{1, 2, 3, 4, 5, 6, 7, 8}).bytes(rec1),
			want{mode: ModeMessage, tag: "app", badTime: 1, entries: []string{"0|\"log\":\"hi\""}}},
		{"time bool", mp().arr(3).str("app").boolean(true).bytes(rec1),
			want{mode: ModeMessage, tag: "app", badTime: 1, entries: []string{"0|\"log\":\"hi\""}}},
		{"nil record skipped", mp().arr(4).str("app").int(t0).nil().mapH(0),
			want{mode: ModeMessage, tag: "app"}},
		{"record not a map", mp().arr(3).str("app").int(t0).str("text"),
			want{mode: ModeMessage, tag: "app", invalid: 1}},
		{"tag as str8 and record map32", mp().arr(3).str8("app").int(t0).map32(1).str16("log").str32("hi"),
			want{mode: ModeMessage, tag: "app", entries: []string{e1}}},
		{"array16 request header", mp().arr16(3).str("app").int(t0).bytes(rec1),
			want{mode: ModeMessage, tag: "app", entries: []string{e1}}},

		// Option map encodings (Fluent Bit: map32 header).
		{"option map32 with str8/str16/str32 keys", mp().arr(4).str("app").int(t0).bytes(rec1).
			map32(4).str8("size").int(1).str16("chunk").str8("abc").str32("compressed").str("text").str("fluent_signal").int(0),
			want{mode: ModeMessage, tag: "app", chunk: sp("abc"), entries: []string{e1}}},
		{"option map16 with unknown and non-string keys", mp().arr(4).str("app").int(t0).bytes(rec1).
			map16(3).int(7).str("x").str("metadata").mapStr("k", "v").str("chunk").bin([]byte("bin-chunk")),
			want{mode: ModeMessage, tag: "app", chunk: sp("bin-chunk"), entries: []string{e1}}},
		{"fluent_signal 0 ok", mp().arr(3).str("app").arr(1).arr(2).int(t0).bytes(rec1).mapH(1).str("fluent_signal").int(0),
			want{mode: ModeForward, tag: "app", entries: []string{e1}}},
		{"fluent_signal 1 (metrics) rejected", mp().arr(3).str("app").arr(1).arr(2).int(t0).bytes(rec1).map32(2).str("size").int(1).str("fluent_signal").int(1),
			want{err: ErrUnsupported, errText: "only log signals"}},
		{"fluent_signal 2 (traces) rejected", mp().arr(3).str("app").bin(packed).mapH(1).str("fluent_signal").u32(2),
			want{err: ErrUnsupported, errText: "fluent_signal=2"}},
		{"option not a map", mp().arr(4).str("app").int(t0).bytes(rec1).str("x"),
			want{err: ErrMalformed, errText: "option"}},

		// Forward mode.
		{"forward", mp().arr(3).str("fwd").arr(2).bytes(entriesOf(2)).mapStr("chunk", "c1"),
			want{mode: ModeForward, tag: "fwd", chunk: sp("c1"), entries: packedWant}},
		{"forward no option", mp().arr(2).str("fwd").arr(2).bytes(entriesOf(2)),
			want{mode: ModeForward, tag: "fwd", entries: packedWant}},
		{"forward empty", mp().arr(2).str("fwd").arr(0),
			want{mode: ModeForward, tag: "fwd"}},
		{"forward [EventTime, meta] time form (Fluent Bit)", mp().arr(2).str("fb").arr(2).
			arr(2).arr(2).eventTime(t0, 7).mapStr("otel", "x").bytes(rec1).
			arr(2).arr(1).int(t0).bytes(rec1),
			want{mode: ModeForward, tag: "fb", entries: []string{
				fmt.Sprintf("%d|\"log\":\"hi\"|meta:\"otel\":\"x\"", t0n+7), e1}}},
		{"forward [time, nil meta] and [] time", mp().arr(2).str("fb").arr(2).
			arr(2).arr(2).int(t0).nil().bytes(rec1).
			arr(2).arr(0).bytes(rec1),
			want{mode: ModeForward, tag: "fb", badTime: 1, entries: []string{e1, "0|\"log\":\"hi\""}}},
		{"forward bad entries", mp().arr(2).str("fwd").arr(4).
			str("not an entry").arr(1).int(t0).arr(2).int(t0).nil().arr(2).int(t0).int(5),
			want{mode: ModeForward, tag: "fwd", invalid: 3}},
		{"forward entry with extra element", mp().arr(2).str("fwd").arr(1).arr(3).int(t0).bytes(rec1).str("extra"),
			want{mode: ModeForward, tag: "fwd", entries: []string{e1}}},

		// PackedForward.
		{"packed bin", mp().arr(3).str("pk").bin(packed).mapStr("size", "2"),
			want{mode: ModePackedForward, tag: "pk", entries: packedWant}},
		{"packed str (Fluentd out_forward)", mp().arr(3).str("pk").str(string(packed)).mapH(1).str("size").int(2),
			want{mode: ModePackedForward, tag: "pk", entries: packedWant}},
		{"packed empty", mp().arr(2).str("pk").bin(nil),
			want{mode: ModePackedForward, tag: "pk"}},
		{"packed compressed=text is plain", mp().arr(3).str("pk").bin(packed).mapStr("compressed", "text"),
			want{mode: ModePackedForward, tag: "pk", entries: packedWant}},
		{"packed truncated stream", mp().arr(2).str("pk").bin(packed[:len(packed)-1]),
			want{err: ErrMalformed, errText: "entry at offset"}},
		{"packed garbage byte 0xc1", mp().arr(2).str("pk").bin([]byte{0xc1}),
			want{err: ErrMalformed, errText: "0xc1"}},
		{"packed with nil and bad entries", mp().arr(2).str("pk").bin(mp().nil().arr(2).int(t0).nil().bytes(packed)),
			want{mode: ModePackedForward, tag: "pk", invalid: 1, entries: packedWant}},

		// CompressedPackedForward.
		{"gzip", mp().arr(3).str("gz").bin(gzipBytes(packed)).mapStr("compressed", "gzip", "chunk", "k"),
			want{mode: ModeCompressedPackedForward, tag: "gz", chunk: sp("k"), entries: packedWant}},
		{"gzip several members", mp().arr(3).str("gz").bin(twoMembers).map32(1).str("compressed").str("gzip"),
			want{mode: ModeCompressedPackedForward, tag: "gz", entries: packedWant}},
		{"gzip empty entries", mp().arr(3).str("gz").bin(nil).mapStr("compressed", "gzip"),
			want{mode: ModeCompressedPackedForward, tag: "gz"}},
		{"gzip bomb", mp().arr(3).str("gz").bin(bomb).mapStr("compressed", "gzip"),
			want{err: ErrLimit, errText: "decompressed entries size"}},
		{"gzip corrupt", mp().arr(3).str("gz").bin([]byte("not gzip at all")).mapStr("compressed", "gzip"),
			want{err: ErrMalformed, errText: "gzip"}},
		{"gzip truncated", mp().arr(3).str("gz").bin(gzipBytes(packed)[:20]).mapStr("compressed", "gzip"),
			want{err: ErrMalformed, errText: "gzip"}},
		{"compressed=zstd", mp().arr(3).str("gz").bin(packed).mapStr("compressed", "zstd"),
			want{err: ErrUnsupported, errText: `compressed="zstd"`}},
		{"message with compressed=gzip", mp().arr(4).str("app").int(t0).bytes(rec1).mapStr("compressed", "gzip"),
			want{err: ErrMalformed, errText: "compressed"}},

		// Other top-level values.
		{"heartbeat", mp().nil(), want{heartbeat: true}},
		{"map ignored", mp().mapStr("a", "b"), want{ignored: true}},
		{"int ignored", mp().int(5), want{ignored: true}},
		{"str ignored", mp().str("hello"), want{ignored: true}},
		{"bool ignored", mp().boolean(true), want{ignored: true}},

		// Malformed.
		{"array of 1", mp().arr(1).str("t"), want{err: ErrMalformed, errText: "1 elements"}},
		{"array of 5", mp().arr(5).str("t").int(t0).bytes(rec1).mapH(0).nil(), want{err: ErrMalformed, errText: "5 elements"}},
		{"empty array", mp().arr(0), want{err: ErrMalformed, errText: "0 elements"}},
		{"tag not a string", mp().arr(3).int(1).int(t0).bytes(rec1), want{err: ErrMalformed, errText: "tag"}},
		{"message of 2 elements", mp().arr(2).str("t").int(t0), want{err: ErrMalformed, errText: "want 3 or 4"}},
		{"forward of 4 elements", mp().arr(4).str("t").arr(0).mapH(0).mapH(0), want{err: ErrMalformed, errText: "want 2 or 3"}},
		{"never-used byte", mp().raw(0xc1), want{err: ErrMalformed, errText: "0xc1"}},
		{"never-used byte inside", mp().arr(3).str("t").raw(0xc1).bytes(rec1), want{err: ErrMalformed, errText: "0xc1"}},
	}
}

func TestDecode(t *testing.T) {
	for _, c := range decodeCases() {
		t.Run(c.name, func(t *testing.T) {
			d := NewDecoder(Limits{MaxDecompressedBytes: 1 << 20})
			req, n, err := d.Decode(c.in)
			c.want.check(t, req, err)
			if err == nil && n != len(c.in) {
				t.Fatalf("n: got %d, want %d", n, len(c.in))
			}
		})
	}
}

// TestDecodeTruncated cuts every case at every offset: a prefix must give
// ErrShortBuffer with n == 0 and a Need within the real size, never a panic
// or a request. Feeding the prefixes in order to one Decoder (the resumable
// scan) must then give the same result as decoding the whole at once.
func TestDecodeTruncated(t *testing.T) {
	for _, c := range decodeCases() {
		t.Run(c.name, func(t *testing.T) {
			inc := NewDecoder(Limits{MaxDecompressedBytes: 1 << 20})
			for i := 0; i < len(c.in); i++ {
				fresh := NewDecoder(Limits{})
				for _, d := range []*Decoder{fresh, inc} {
					req, n, err := d.Decode(c.in[:i])
					if err != ErrShortBuffer && c.want.err != nil && errors.Is(err, c.want.err) {
						// A malformed prefix is malformed already.
						d.Reset()
						continue
					}
					if err != ErrShortBuffer || n != 0 {
						t.Fatalf("prefix of %d of %d bytes: got n=%d err=%v req=%+v, want ErrShortBuffer", i, len(c.in), n, err, req)
					}
					if need := d.Need(); need <= i || need > len(c.in) {
						t.Fatalf("prefix of %d of %d bytes: Need()=%d, want in (%d, %d]", i, len(c.in), need, i, len(c.in))
					}
				}
			}
			req, n, err := inc.Decode(c.in)
			c.want.check(t, req, err)
			if err == nil && n != len(c.in) {
				t.Fatalf("n: got %d, want %d", n, len(c.in))
			}
		})
	}
}

// TestDecodeStream decodes all cases concatenated, in one buffer and in
// chunks of every size up to 64 bytes, the way a server reads a connection.
func TestDecodeStream(t *testing.T) {
	var stream []byte
	var cases []decodeCase
	for _, c := range decodeCases() {
		if c.want.err == nil {
			stream = append(stream, c.in...)
			cases = append(cases, c)
		}
	}
	for chunk := 1; chunk <= 64; chunk++ {
		d := NewDecoder(Limits{MaxDecompressedBytes: 1 << 20})
		var buf []byte
		next := 0
		k := 0
		for k < len(cases) {
			req, n, err := d.Decode(buf)
			if err == ErrShortBuffer {
				if next >= len(stream) {
					t.Fatalf("chunk %d: stream ended with %d requests left", chunk, len(cases)-k)
				}
				end := min(next+chunk, len(stream))
				buf = append(buf, stream[next:end]...)
				next = end
				continue
			}
			t.Run(fmt.Sprintf("chunk%d/%s", chunk, cases[k].name), func(t *testing.T) {
				cases[k].want.check(t, req, err)
			})
			if n != len(cases[k].in) {
				t.Fatalf("chunk %d, %s: n=%d, want %d", chunk, cases[k].name, n, len(cases[k].in))
			}
			buf = append(buf[:0], buf[n:]...)
			k++
		}
	}
}

func TestDecodeLimits(t *testing.T) {
	f := func(name string, lim Limits, in []byte, wantErr error, wantText string) {
		t.Helper()
		d := NewDecoder(lim)
		_, _, err := d.Decode(in)
		if !errors.Is(err, wantErr) || !strings.Contains(fmt.Sprint(err), wantText) {
			t.Errorf("%s: got %v, want %v containing %q", name, err, wantErr, wantText)
		}
	}
	// A declared length over the limit fails on the header, before the
	// bytes are buffered.
	f("str32 header of 1 GiB", Limits{MaxRequestBytes: 1 << 20}, mp().arr(3).str("t").raw(0xdb).be32(1<<30), ErrLimit, "request size")
	f("array32 count beyond the limit", Limits{MaxRequestBytes: 1 << 20}, mp().arr32(1<<30), ErrLimit, "request size")
	f("map32 count beyond the limit", Limits{MaxRequestBytes: 1 << 20}, mp().arr(3).str("t").int(0).map32(1<<20), ErrLimit, "request size")
	f("nested arrays beyond the limit", Limits{MaxRequestBytes: 100}, bytes.Repeat([]byte{0x91}, 101), ErrLimit, "request size")
	f("array32 count of 4 Gi", Limits{}, mp().arr32(0xffffffff), ErrMalformed, "2 GiB")
	f("str32 of 2 GiB", Limits{}, mp().raw(0xdb, 0x80, 0, 0, 0), ErrMalformed, "2 GiB")
	f("forward over record limit", Limits{MaxRecordsPerRequest: 2}, mp().arr(2).str("t").arr(3).bytes(entriesOf(3)), ErrLimit, "entries per request")
	f("packed over record limit", Limits{MaxRecordsPerRequest: 2}, mp().arr(2).str("t").bin(entriesOf(3)), ErrLimit, "entries per request")
	f("packed nils over record limit", Limits{MaxRecordsPerRequest: 2}, mp().arr(2).str("t").bin([]byte{0xc0, 0xc0, 0xc0}), ErrLimit, "entries per request")

	// Exactly at the limits is fine.
	d := NewDecoder(Limits{MaxRecordsPerRequest: 3, MaxDecompressedBytes: len(entriesOf(3))})
	in := mp().arr(3).str("t").bin(gzipBytes(entriesOf(3))).mapStr("compressed", "gzip")
	if req, _, err := d.Decode(in); err != nil || len(req.Entries) != 3 {
		t.Errorf("at the limits: got %d entries, %v; want 3, nil", len(req.Entries), err)
	}
	d = NewDecoder(Limits{MaxRequestBytes: len(in)})
	if _, _, err := d.Decode(in); err != nil {
		t.Errorf("request of exactly MaxRequestBytes: %v", err)
	}
	d = NewDecoder(Limits{MaxRequestBytes: len(in) - 1})
	if _, _, err := d.Decode(in); !errors.Is(err, ErrLimit) {
		t.Errorf("request of MaxRequestBytes+1: got %v, want ErrLimit", err)
	}
}

// TestDecodeNeed shows the point of Need: a large bin announces its size on
// the header, so a reader can grow its buffer once.
func TestDecodeNeed(t *testing.T) {
	in := mp().arr(2).str("t").bin(entriesOf(1000))
	d := NewDecoder(Limits{})
	if _, _, err := d.Decode(in[:12]); err != ErrShortBuffer {
		t.Fatalf("got %v, want ErrShortBuffer", err)
	}
	if d.Need() != len(in) {
		t.Fatalf("Need: got %d, want %d", d.Need(), len(in))
	}
}

func TestDecodeReusesMemory(t *testing.T) {
	in := append(mp().arr(3).str("gz").bin(gzipBytes(entriesOf(50))).mapStr("compressed", "gzip"),
		mp().arr(4).str("app").eventTime(t0, 1).bytes(rec1).mapStr("chunk", "abc")...)
	in = append(in, mp().arr(2).str("fwd").arr(5).bytes(entriesOf(5))...)
	d := NewDecoder(Limits{})
	run := func() {
		for b := in; len(b) > 0; {
			_, n, err := d.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			b = b[n:]
		}
	}
	run()
	if allocs := testing.AllocsPerRun(100, run); allocs != 0 {
		t.Errorf("allocations per run in steady state: got %v, want 0", allocs)
	}
}

func TestAppendAck(t *testing.T) {
	for _, n := range []int{0, 24, 31, 32, 255, 256, 70000} {
		chunk := bytes.Repeat([]byte{'x'}, n)
		ack := AppendAck(nil, chunk)
		want := mp().mapStr("ack", string(chunk))
		if !bytes.Equal(ack, want) {
			t.Errorf("AppendAck of %d bytes: got %x, want %x", n, ack[:min(len(ack), 16)], want[:min(len(want), 16)])
		}
	}
	if got := string(AppendJSONAck(nil, []byte("p8n9gmxTQVC8/nh2wlKKeQ=="))); got != `{"ack":"p8n9gmxTQVC8/nh2wlKKeQ=="}` {
		t.Errorf("AppendJSONAck: got %s", got)
	}
}

// fakeScratch is a scratchBudget that records what it lends; tryScratch
// fails when tight is set, as under contention.
type fakeScratch struct {
	held, peak int
	acquired   []int
	tight      bool
}

func (f *fakeScratch) acquireScratch(n int) error {
	f.acquired = append(f.acquired, n)
	f.held += n
	f.peak = max(f.peak, f.held)
	return nil
}

func (f *fakeScratch) tryScratch(n int) bool {
	if f.tight {
		return false
	}
	f.held += n
	f.peak = max(f.peak, f.held)
	return true
}

func (f *fakeScratch) releaseScratch(n int) { f.held -= n }

// bigEntries returns n entries of about 1 KiB each.
func bigEntries(n int) menc {
	var e menc
	for i := range n {
		e = e.arr(2).int(t0).mapStr("log", fmt.Sprintf("%04d", i)+strings.Repeat("x", 1000))
	}
	return e
}

// TestDecodeScratchBudget: decompressed entries beyond keepZBytes are lent
// by the budget for one request: a single-member stream gets one buffer of
// its exact size, a multi-member one grows while the budget has room, and
// decompresses again into an exact buffer when it has none.
func TestDecodeScratchBudget(t *testing.T) {
	one, two := bigEntries(200), bigEntries(150)
	whole := append(append(menc{}, one...), two...)
	single := mp().arr(3).str("t").bin(gzipBytes(whole)).mapStr("compressed", "gzip")
	multi := mp().arr(3).str("t").bin(append(gzipBytes(one), gzipBytes(two)...)).mapStr("compressed", "gzip")
	f := func(name string, in []byte, tight bool, wantAcquired []int) {
		t.Helper()
		mem := &fakeScratch{tight: tight}
		d := NewDecoder(Limits{})
		d.mem = mem
		req, _, err := d.Decode(in)
		if err != nil || len(req.Entries) != 350 {
			t.Fatalf("%s: got %d entries, %v", name, len(req.Entries), err)
		}
		if !bytes.Equal(req.Entries[349].Record, []byte(mp().mapStr("log", "0149"+strings.Repeat("x", 1000)))) {
			t.Fatalf("%s: last record %q", name, req.Entries[349].Record[:16])
		}
		if fmt.Sprint(mem.acquired) != fmt.Sprint(wantAcquired) || mem.held != cap(d.zbuf) {
			t.Errorf("%s: acquired %v holding %d for a buffer of %d, want acquired %v", name, mem.acquired, mem.held, cap(d.zbuf), wantAcquired)
		}
		d.release()
		if mem.held != 0 || cap(d.zbuf) > keepZBytes {
			t.Errorf("%s: after release: holding %d, buffer of %d", name, mem.held, cap(d.zbuf))
		}
	}
	f("single member", single, false, []int{len(whole)})
	f("single member, tight", single, true, []int{len(whole)})
	f("multi member", multi, false, []int{len(two)})
	f("multi member, tight", multi, true, []int{len(two), len(whole)})

	// A gzip bomb fails at the limit either way, giving back what it held.
	bomb := make([]byte, 8<<20)
	for _, tight := range []bool{false, true} {
		mem := &fakeScratch{tight: tight}
		d := NewDecoder(Limits{MaxDecompressedBytes: 1 << 20})
		d.mem = mem
		in := mp().arr(3).str("t").bin(append(gzipBytes(bomb), gzipBytes([]byte{1})...)).mapStr("compressed", "gzip")
		if _, _, err := d.Decode(in); !errors.Is(err, ErrLimit) {
			t.Errorf("bomb, tight %v: got %v, want ErrLimit", tight, err)
		}
		d.release()
		if mem.held != 0 || mem.peak > 1<<20 {
			t.Errorf("bomb, tight %v: holding %d, peak %d", tight, mem.held, mem.peak)
		}
	}
}

// TestDecodePending: how the reader classifies an unfinished request for the
// buffer budget.
func TestDecodePending(t *testing.T) {
	entries := bigEntries(100)
	gz := gzipBytes(entries)
	f := func(name string, in []byte, wantExact, wantGz bool) {
		t.Helper()
		d := NewDecoder(Limits{})
		if _, _, err := d.Decode(in); err != ErrShortBuffer {
			t.Fatalf("%s: got %v, want ErrShortBuffer", name, err)
		}
		if exact, gz := d.pending(in); exact != wantExact || gz != wantGz {
			t.Errorf("%s: got exact %v, gz %v; want %v, %v", name, exact, gz, wantExact, wantGz)
		}
	}
	packed := mp().arr(3).str("t").bin(entries).mapStr("chunk", "c")
	compressed := mp().arr(3).str("t").bin(gz).mapStr("compressed", "gzip")
	f("packed entries", packed[:len(packed)/2], true, false)
	f("compressed entries", compressed[:len(compressed)/2], true, true)
	f("packed, entries not there yet", packed[:9], true, true)
	f("packed, in the option", packed[:len(packed)-2], false, false)
	f("compressed, in the option", compressed[:len(compressed)-2], false, true)
	f("in the tag", mp().arr(3).str(strings.Repeat("t", 1000))[:100], false, true)
	f("forward mode", mp().arr(2).str("t").arr(100).bytes(entries)[:5000], false, false)
	f("message mode", msg("t", t0, mp().mapStr("log", strings.Repeat("x", 1000)), nil)[:500], false, false)
	f("not a request", mp().mapStr("log", strings.Repeat("x", 1000))[:500], false, false)
}

// TestDecodeMessageOnePass: the requests of Docker's driver (and of
// fluent-logger clients with string records) take the one-pass path, which
// also hands over the Docker fields; other shapes, and incomplete requests,
// take the general one.
func TestDecodeMessageOnePass(t *testing.T) {
	rec := mp().mapStr("container_id", "7f3a", "container_name", "/web-1", "source", "stdout", "log", "hello")
	f := func(name string, in []byte, onePass bool) {
		t.Helper()
		d := NewDecoder(Limits{})
		req, n, err := d.Decode(in)
		if err != nil || n != len(in) || len(req.Entries) != 1 {
			t.Fatalf("%s: n=%d of %d, %d entries, err %v", name, n, len(in), len(req.Entries), err)
		}
		if got := req.docker != nil; got != onePass {
			t.Fatalf("%s: one pass %v, want %v", name, got, onePass)
		}
		if onePass && (string(req.docker.Log) != "hello" || string(req.docker.Source) != "stdout" || !req.docker.IsDocker) {
			t.Fatalf("%s: Docker fields %+v", name, *req.docker)
		}
		// Cut short, it is left to the general path, which asks for more.
		if _, n, err := NewDecoder(Limits{}).Decode(in[:len(in)-1]); err != ErrShortBuffer || n != 0 {
			t.Fatalf("%s: cut short: n=%d err=%v", name, n, err)
		}
	}
	f("3 elements, integer time", mp().arr(3).str("docker.web").int(t0).bytes(rec), true)
	f("empty option, EventTime", mp().arr(4).str("docker.web").eventTime(t0, 5).bytes(rec).mapH(0), true)
	f("nil option", mp().arr(4).str("docker.web").u32(t0).bytes(rec).nil(), true)
	f("chunk", mp().arr(4).str("docker.web").i64(t0).bytes(rec).mapStr("chunk", "abc"), true)
	f("map32 record", mp().arr(3).str("t").int(t0).map32(1).str("log").str("hello"), false)
	f("record with a number", mp().arr(3).str("t").int(t0).mapH(2).str("log").str("hello").str("n").int(1), false)
	f("other option", mp().arr(4).str("t").int(t0).bytes(rec).mapStr("size", "1"), false)
	f("bin tag", mp().arr(3).bin([]byte("t")).int(t0).bytes(rec), false)
}
