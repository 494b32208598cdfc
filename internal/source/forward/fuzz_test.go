package forward

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

var fuzzLimits = Limits{MaxRequestBytes: 1 << 20, MaxDecompressedBytes: 1 << 20, MaxRecordsPerRequest: 1 << 12}

// FuzzDecodeRequest: decoding a stream never panics, never claims more bytes
// than it has, classifies every error, bounds its memory, returns records that
// render or fail cleanly, and the resumable scan agrees with a one-shot scan.
func FuzzDecodeRequest(f *testing.F) {
	for _, c := range decodeCases() {
		f.Add([]byte(c.in))
	}
	f.Add([]byte(mp().arr(3).str("gz").bin(gzipBytes(entriesOf(3))).mapStr("compressed", "gzip")))
	f.Fuzz(checkDecodeStream)
}

func checkDecodeStream(t *testing.T, data []byte) {
	d := NewDecoder(fuzzLimits)
	buf := data
	for steps := 0; len(buf) > 0 && steps < 100; steps++ {
		req, n, err := d.Decode(buf)
		if n < 0 || n > len(buf) {
			t.Fatalf("n=%d with %d bytes", n, len(buf))
		}
		if err == ErrShortBuffer {
			if n != 0 || d.Need() <= len(buf) {
				t.Fatalf("short: n=%d Need=%d len=%d", n, d.Need(), len(buf))
			}
			break
		}
		if cap(d.zbuf) > fuzzLimits.MaxDecompressedBytes+1 || len(req.Entries) > fuzzLimits.MaxRecordsPerRequest {
			t.Fatalf("memory: zbuf cap %d, %d entries", cap(d.zbuf), len(req.Entries))
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrLimit) {
				t.Fatalf("unclassified error %v", err)
			}
			break
		}
		if n == 0 {
			t.Fatalf("no progress and no error")
		}
		checkBatched(t, buf[:n], false, &req)
		for _, e := range req.Entries {
			if out, err := AppendRecordJSON(nil, e.Record); err == nil && !json.Valid([]byte("{"+string(out)+"}")) {
				t.Fatalf("invalid JSON {%s} from %x", out, e.Record)
			}
			var df DockerFields
			ScanDocker(e.Record, &df)
		}
		// The resumable scan, fed one byte at a time, frames the
		// same value.
		if n <= 4096 {
			inc := NewDecoder(fuzzLimits)
			for i := 0; i < n; i++ {
				if _, k, err := inc.Decode(buf[:i]); err != ErrShortBuffer {
					t.Fatalf("incremental: prefix %d of %d: n=%d err=%v", i, n, k, err)
				}
			}
			if _, k, err := inc.Decode(buf[:n]); k != n || err != nil {
				t.Fatalf("incremental: got n=%d err=%v, want %d, nil", k, err, n)
			}
		}
		buf = buf[n:]
	}
}

// FuzzAppendRecordJSON: rendering never panics, leaves dst alone on error,
// and produces members that make a valid JSON object.
func FuzzAppendRecordJSON(f *testing.F) {
	f.Add([]byte(mp().mapStr("log", "hi", "container_id", "x")))
	f.Add([]byte(mp().mapH(3).int(1).f64(1.5).str("t").eventTime(t0, 5).bin([]byte{1}).ext(5, make([]byte, 12))))
	f.Add([]byte(mp().mapH(1).mapH(1).arr(1).nil().ext(-1, []byte{1, 2, 3, 4})))
	f.Add([]byte(mp().map32(1).str("a\xff").arr(2).f32(1e-9).u64(1 << 63)))
	f.Fuzz(func(t *testing.T, rec []byte) {
		out, err := AppendRecordJSON([]byte("x"), rec)
		if err != nil {
			if string(out) != "x" {
				t.Fatalf("dst changed on error: %q", out)
			}
		} else if !json.Valid([]byte("{" + string(out[1:]) + "}")) {
			t.Fatalf("invalid JSON {%s} from %x", out[1:], rec)
		}
		other, err2 := AppendOtherMembers(nil, rec, DockerKey)
		if err2 == nil && !json.Valid([]byte("{"+string(other)+"}")) {
			t.Fatalf("invalid JSON {%s} from %x", other, rec)
		}
		var df DockerFields
		if err := ScanDocker(rec, &df); err == nil && err2 != nil {
			// ScanDocker accepts a superset only in depth: both
			// must agree on well-formedness otherwise.
			if !errors.Is(err2, errRecordDepth) {
				t.Fatalf("ScanDocker ok but AppendOtherMembers: %v", err2)
			}
		}
	})
}

// FuzzDecodeJSON: the JSON framer and decoder never panic, and what they
// frame encoding/json accepts.
func FuzzDecodeJSON(f *testing.F) {
	for _, c := range jsonCases() {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewDecoder(fuzzLimits)
		req, n, err := d.DecodeJSON(data)
		if n < 0 || n > len(data) {
			t.Fatalf("n=%d with %d bytes", n, len(data))
		}
		if n == 0 {
			return // short, or not JSON
		}
		if start := jsonWS(data, 0); !json.Valid(data[start:n]) {
			t.Fatalf("framed %q (err %v), which encoding/json rejects", data[start:n], err)
		}
		for _, e := range req.Entries {
			if !json.Valid(e.Record) || e.Record[0] != '{' {
				t.Fatalf("record %q", e.Record)
			}
		}
		if err == nil {
			checkBatched(t, data, true, &req) // whole: a number ends only at what follows it
		}
	})
}

// checkBatched decodes one request that a Decoder without maxBatch decoded
// into want with a Decoder handing out 2 entries at a time: Decode must
// succeed too, and the batches add up to the same entries and counts.
func checkBatched(t *testing.T, b []byte, isJSON bool, want *Request) {
	t.Helper()
	d := NewDecoder(fuzzLimits)
	d.maxBatch = 2
	var (
		req Request
		err error
	)
	if isJSON {
		req, _, err = d.DecodeJSON(b)
	} else {
		req, _, err = d.Decode(b)
	}
	if err != nil {
		t.Fatalf("batched: %v, unbatched: no error", err)
	}
	var got []Entry
	invalid, badTime := 0, 0
	for more := true; more; more, err = d.More(&req) {
		if err != nil {
			t.Fatalf("batched: More: %v", err)
		}
		if len(req.Entries) > 2 {
			t.Fatalf("batched: %d entries in a batch of 2", len(req.Entries))
		}
		got = append(got, req.Entries...)
		invalid, badTime = invalid+req.Invalid, badTime+req.BadTime
	}
	if len(got) != len(want.Entries) || invalid != want.Invalid || badTime != want.BadTime {
		t.Fatalf("batched: %d entries, %d invalid, %d bad time; unbatched %d, %d, %d", len(got), invalid, badTime, len(want.Entries), want.Invalid, want.BadTime)
	}
	for i := range got {
		if got[i].Time != want.Entries[i].Time || string(got[i].Record) != string(want.Entries[i].Record) {
			t.Fatalf("batched: entry %d differs", i)
		}
	}
}

// FuzzDecodeMessage: the one-pass decoding of Docker-shaped Message requests
// (decodeMessage), and of the usual entries of batched requests (entry),
// give what the general path gives, for every input:
// the same length, error class, request and entries, and the Docker fields
// ScanDocker finds in the record.
func FuzzDecodeMessage(f *testing.F) {
	rec := mp().mapStr("container_id", "7f3a9c2e", "container_name", "/web-1", "source", "stdout", "log", `{"level":"info"}`)
	f.Add([]byte(mp().arr(3).str("docker.web").int(t0).bytes(rec)))
	f.Add([]byte(mp().arr(4).str("docker.web").eventTime(t0, 5).bytes(rec).mapH(0)))
	f.Add([]byte(mp().arr(4).str("docker.web").u32(t0).bytes(rec).nil()))
	f.Add([]byte(mp().arr(4).str("docker.web").i64(t0).bytes(rec).mapStr("chunk", "p8n9gmxTQVC8/nh2wlKKeQ==")))
	f.Add([]byte(mp().arr(4).str("docker.web").eventTimeExt8(t0, 5).bytes(rec).mapStr("chunk", "")))
	f.Add([]byte(mp().arr(3).str("t").f64(1.5).map16(1).str8("log").str16("x")))
	f.Add([]byte(mp().arr(3).str("t").boolean(true).mapStr("log", "x", "partial_message", "true")))
	f.Add([]byte(mp().arr(3).str("t").int(t0).mapH(2).str("log").int(1).str("a").str("b")))
	// Batched requests, whose entries have a path of their own.
	docker := func(e menc, t menc) menc { return e.arr(2).bytes(t).bytes(rec) }
	packed := docker(docker(docker(docker(nil, mp().int(t0)), mp().eventTime(t0, 5)), mp().f64(1.5)), mp().arr(2).int(t0).mapStr("k", "v"))
	f.Add([]byte(mp().arr(2).str("docker.web").bin(packed)))
	f.Add([]byte(mp().arr(3).str("docker.web").str(string(packed)).mapH(0)))
	f.Add([]byte(mp().arr(2).str("t").arr(3).bytes(docker(docker(nil, mp().u32(t0)), mp().i64(t0))).arr(3).int(t0).bytes(rec).int(1)))
	f.Add([]byte(mp().arr(2).str("t").bin(mp().arr(2).int(t0).mapH(2).str("log").int(1).str("a").str("b"))))
	for _, c := range decodeCases() {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, max := range []int{fuzzLimits.MaxRequestBytes, 40} {
			lim := fuzzLimits
			lim.MaxRequestBytes = max
			fast, slow := NewDecoder(lim), NewDecoder(lim)
			slow.noFast = true
			got, gn, gerr := fast.Decode(data)
			want, wn, werr := slow.Decode(data)
			if gn != wn || errClass(gerr) != errClass(werr) {
				t.Fatalf("max %d: n=%d err=%v, general path n=%d err=%v", max, gn, gerr, wn, werr)
			}
			if gerr != nil {
				continue
			}
			if got.Mode != want.Mode || string(got.Tag) != string(want.Tag) || (got.Chunk == nil) != (want.Chunk == nil) ||
				string(got.Chunk) != string(want.Chunk) || got.Invalid != want.Invalid || got.BadTime != want.BadTime ||
				got.Heartbeat != want.Heartbeat || got.Ignored != want.Ignored || len(got.Entries) != len(want.Entries) {
				t.Fatalf("max %d: got %+v, general path %+v", max, got, want)
			}
			for i := range got.Entries {
				g, w := got.Entries[i], want.Entries[i]
				if g.Time != w.Time || string(g.Record) != string(w.Record) || string(g.Meta) != string(w.Meta) || (g.Meta == nil) != (w.Meta == nil) {
					t.Fatalf("max %d: entry %d: got %+v, general path %+v", max, i, g, w)
				}
			}
			if got.docker != nil {
				var df DockerFields
				if err := ScanDocker(got.Entries[0].Record, &df); err != nil || !reflect.DeepEqual(df, *got.docker) {
					t.Fatalf("max %d: Docker fields %+v, ScanDocker %+v (%v)", max, *got.docker, df, err)
				}
			}
		}
	})
}

// errClass names the class of a Decode error, for comparisons.
func errClass(err error) string {
	for _, c := range []error{ErrShortBuffer, ErrMalformed, ErrUnsupported, ErrLimit} {
		if errors.Is(err, c) {
			return c.Error()
		}
	}
	if err != nil {
		return "unclassified: " + err.Error()
	}
	return ""
}

// FuzzRecordEnd: the path of recordEnd for maps of str members ends where
// the general walk ends, and fails where it fails.
func FuzzRecordEnd(f *testing.F) {
	f.Add([]byte(dockerRec("stdout", "hello")))
	f.Add([]byte(mp().mapStr("log", "x", "source", "stdout")))
	f.Add([]byte(mp().mapH(2).str("log").str("x").bin([]byte("team")).str("pay")))
	f.Add([]byte(mp().map32(1).str("log").str("y")))
	f.Add([]byte{0x82, 0xa3, 'l', 'o', 'g', 0xd9})
	f.Fuzz(func(t *testing.T, b []byte) {
		end, err := recordEnd(b, 0)
		want, werr := skip(b, 0)
		if (err == nil) != (werr == nil) || err == nil && end != want {
			t.Fatalf("%x: recordEnd %d, %v; skip %d, %v", b, end, err, want, werr)
		}
	})
}
