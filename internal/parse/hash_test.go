package parse

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var updateHashes = flag.Bool("update-hashes", false, "rewrite testdata/append_hashes.txt from the current code")

// hashRand is a fixed pseudo-random sequence (xorshift64*) for the line
// mutations of TestAppendOutputHashes: its values must never change, or the
// recorded hashes would be of other lines.
type hashRand uint64

func (r *hashRand) intn(n int) int {
	x := uint64(*r)
	x ^= x >> 12
	x ^= x << 25
	x ^= x >> 27
	*r = hashRand(x)
	return int((x * 2685821657736338717 >> 33) % uint64(n))
}

// hashLines returns the lines of TestAppendOutputHashes: corpus lines, the
// seed lines of testdata, and corpus lines mutated to reach the paths that
// the corpus alone rarely takes (whitespace, names of ours, repeated names,
// bad names, escapes, invalid UTF-8, a byte-order mark, data_stream.dataset).
func hashLines(t testing.TB, n int) [][]byte {
	lines := corpusLines(n)
	seeds, err := os.ReadFile("testdata/lines.txt")
	if err != nil {
		t.Fatalf("cannot read seeds: %s", err)
	}
	lines = append(lines, bytes.Split(seeds, []byte("\n"))...)
	names := []string{
		`"message"`, `"msg"`, `"host"`, `"host.name"`, `"ecs.version"`, `"_id"`, `"a..b"`, `""`,
		`"time"`, `"@timestamp"`, `"level"`, `"log.level"`, `"env"`, `"env_original"`, `"service.name"`,
		`"trace.id"`, `"stream"`, `"agent.type"`, `"span.id"`, `"event.ingested"`, `"log.offset"`,
		`"\u006dsg"`, `"data_stream.dataset"`, `"service"`, `"version"`, `"version_original"`,
	}
	values := []string{`"x"`, `1`, `true`, `null`, `{"k":1}`, `[1,2]`, `"INFO"`, `30`, `"2026-11-23T10:00:01.5Z"`, `1795428001`, `"ab\u00e9"`}
	r := hashRand(0x9e3779b97f4a7c15)
	corpus := lines[:n]
	for k := 0; k < n/2; k++ {
		line := corpus[r.intn(len(corpus))]
		var sc scanner
		if !sc.scanObject(line, 0) || len(sc.members) == 0 {
			continue
		}
		m := sc.members[r.intn(len(sc.members))]
		var b []byte
		switch r.intn(8) {
		case 0: // another name
			b = append(append(append(b, line[:m.ks]...), names[r.intn(len(names))]...), line[m.ke:]...)
		case 1: // another value
			b = append(append(append(b, line[:m.vs]...), values[r.intn(len(values))]...), line[m.ve:]...)
		case 2: // one more member, maybe of the same name
			name := names[r.intn(len(names))]
			if r.intn(2) == 0 {
				name = string(line[m.ks:m.ke])
			}
			b = append(append(b, line[:len(line)-1]...), ","+name+":"+values[r.intn(len(values))]+"}"...)
		case 3: // whitespace around the member
			b = append(append(append(append(append(b, line[:m.ks]...), " "...), line[m.ks:m.ke]...), " : "...), line[m.vs:]...)
		case 4: // a byte-order mark
			b = append(append(b, utf8BOM...), line...)
		case 5: // invalid UTF-8 in a value
			b = append(append(append(b, line[:m.vs]...), "\"a\xffb\""...), line[m.ve:]...)
		case 6: // a member removed
			end := m.ve
			if int(end) < len(line)-1 {
				end++
			}
			b = append(append(b, line[:m.ks]...), line[end:]...)
		case 7: // data_stream.dataset
			b = append(append(b, `{"data_stream.dataset":"d",`...), line[1:]...)
		}
		lines = append(lines, b)
	}
	return lines
}

// hashSetting is one parser setting of TestAppendOutputHashes.
type hashSetting struct {
	static string
	fields []string // Line.Fields, cycled line by line
	order  OrderKind
	cut    bool // every 7th line is truncated
	noTime bool // Line.Time is 0: the ingested time is used
}

func (s hashSetting) String() string {
	return fmt.Sprintf("static=%q fields=%q order=%d cut=%t notime=%t", s.static, s.fields, s.order, s.cut, s.noTime)
}

func hashSettings() []hashSetting {
	statics := []string{
		"",
		benchStatic,
		`"input.type":"stdin","agent.type":"shipper","agent.name":"h","host.name":"h","ecs.version":"8.11.0"`,
		`"agent.type":"shipper","host.name":"h","span.id":"x"`,
		`"env":"x","version":"1","agent.type":"shipper"`,
	}
	fields := [][]string{
		{""},
		{fuzzFields},
		{`"service.name":"s","trace.id":"t","env":"x"`},
		{fuzzFields, `"log.file.path":"/var/log/b.log","stream":"stderr","user_id":"u"`, ""},
	}
	var ss []hashSetting
	for i, static := range statics {
		for j, f := range fields {
			ss = append(ss, hashSetting{
				static: static, fields: f,
				order:  OrderKind((i + j) % 3),
				cut:    (i+j)%2 == 1,
				noTime: (i*4+j)%5 == 2,
			})
		}
	}
	return ss
}

// TestAppendOutputHashes writes the documents of about 30,000 lines (corpus,
// seeds, mutated corpus lines) under 20 parser settings (static, Fields,
// OrderKind, truncation, no line time) and compares the SHA-256 of each
// setting's documents, Info.Flags and Info.Dataset with the hashes recorded
// in testdata/append_hashes.txt: any change of any byte of any document
// shows. It also compares every document with a Parser that classifies each
// line (byte for byte) and with the general path (equal JSON).
//
// After a deliberate change of the documents, rewrite the hashes with
// go test -run TestAppendOutputHashes -update-hashes ./internal/parse/
func TestAppendOutputHashes(t *testing.T) {
	n := 20000
	if testing.Short() || raceEnabled {
		n = 2000
	}
	const path = "testdata/append_hashes.txt"
	if *updateHashes {
		var b strings.Builder
		b.WriteString("# SHA-256 of the documents of TestAppendOutputHashes, per setting: corpus lines, hash, setting.\n")
		for _, n := range []int{2000, 20000} {
			for _, g := range appendHashes(t, n) {
				b.WriteString(g + "\n")
			}
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("cannot open recorded hashes: %s", err)
	}
	defer f.Close()
	want := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		want[sc.Text()] = true
	}
	for _, g := range appendHashes(t, n) {
		if !want[g] {
			t.Errorf("documents changed: got hash line\n%s\nwhich %s does not have", g, path)
		}
	}
}

// appendHashes returns the hash lines of TestAppendOutputHashes for n
// corpus lines.
func appendHashes(t *testing.T, n int) []string {
	lines := hashLines(t, n)
	var got []string
	for _, s := range hashSettings() {
		p, classified, general := newTestParser(s.static), newTestParser(s.static), newTestParser(s.static)
		classified.noShapes, general.general = true, true
		h := sha256.New()
		var num [8]byte
		var out, want, wantG []byte
		for k, line := range lines {
			if k%1000 == 999 {
				for _, q := range []*Parser{p, classified, general} {
					q.SetIngested(ingestedTime + int64(k)*1_000_123)
				}
			}
			l := &Line{Data: line, Time: lineTime + int64(k)*7_654_321, Fields: []byte(s.fields[k%len(s.fields)]),
				Order: int64(k) * 397, OrderKind: s.order}
			if s.order == OrderSequence {
				l.Order = int64(k) + 95 // consecutive, across carries
			}
			if s.noTime {
				l.Time = 0
			}
			if s.cut && k%7 == 3 && len(line) > 8 {
				l.Data, l.Size = line[:len(line)*2/3], len(line)
			}
			var info, wi Info
			out, info = p.Append(out[:0], l)
			if want, wi = classified.Append(want[:0], l); !bytes.Equal(out, want) || info.Flags != wi.Flags || !bytes.Equal(info.Dataset, wi.Dataset) {
				t.Fatalf("%s: kept shape and classification differ\nin:     %q\nshape:  %s (%b)\nclassy: %s (%b)", s, l.Data, out, info.Flags, want, wi.Flags)
			}
			if wantG, wi = general.Append(wantG[:0], l); !sameJSON(out, wantG) || info.Flags != wi.Flags || !bytes.Equal(info.Dataset, wi.Dataset) {
				t.Fatalf("%s: fast path and general path differ\nin:      %q\nfast:    %s (%b)\ngeneral: %s (%b)", s, l.Data, out, info.Flags, wantG, wi.Flags)
			}
			h.Write(out)
			binary.LittleEndian.PutUint64(num[:], uint64(info.Flags))
			h.Write(num[:])
			h.Write(info.Dataset)
			h.Write([]byte{'\n'})
		}
		got = append(got, fmt.Sprintf("%d %s %s", n, hex.EncodeToString(h.Sum(nil)), s))
	}
	return got
}
