// Package jsonvalid measures what validating a line of the realistic corpus
// costs with the fastest JSON libraries for Go, beside what the shipper's
// parser costs to validate, normalise and encode it. It answers one
// question of docs/benchmarks.md ("What 1.3x the floor would leave"): how
// much of the per-line budget above the floor any JSON parser needs.
//
// It is a module of its own so that the libraries it compares never become
// dependencies of the shipper. Run it with `make bench-jsonvalid`, or:
//
//	cd bench/jsonvalid && go test -run '^$' -bench . -count=3
package jsonvalid

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/bytedance/sonic"
	gojson "github.com/goccy/go-json"

	"shipper/internal/parse"
	"shipper/internal/testutil/corpus"
)

// lines returns the first 10,000 lines of the realistic corpus (seed 1, the
// lines of BenchmarkWholePath and internal/parse's corpus benchmarks).
func lines(b *testing.B) [][]byte {
	var buf bytes.Buffer
	corpus.New(1).Write(&buf, 10000, corpus.Raw)
	return bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
}

// run calls f on each line in turn; f must accept every line.
func run(b *testing.B, f func([]byte) bool) {
	ls := lines(b)
	size := 0
	for _, l := range ls {
		size += len(l)
	}
	b.SetBytes(int64(size / len(ls)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if !f(ls[i]) {
			b.Fatalf("line %d refused: %s", i, ls[i])
		}
		if i++; i == len(ls) {
			i = 0
		}
	}
}

// Validation alone: the least any parser that refuses invalid JSON does.
func BenchmarkValidStdlib(b *testing.B) { run(b, json.Valid) }
func BenchmarkValidGoccy(b *testing.B)  { run(b, gojson.Valid) }
func BenchmarkValidSonic(b *testing.B)  { run(b, sonic.Valid) }

// BenchmarkShipperParse is the shipper's parser on the same lines, as the
// stdin input runs it: validated, normalised to ECS names, the timestamp
// and level read, and the document with its static members written.
func BenchmarkShipperParse(b *testing.B) {
	p := parse.New([]byte(`"input.type":"stdin","agent.type":"shipper","agent.name":"h","host.name":"h"`))
	p.SetIngested(1795428005000000000)
	l := &parse.Line{Time: 1795428005000000000, OrderKind: parse.OrderSequence}
	dst := make([]byte, 0, 64<<10)
	run(b, func(line []byte) bool {
		l.Data = line
		l.Order++
		var info parse.Info
		dst, info = p.Append(dst[:0], l)
		return info.Flags&parse.JSON != 0
	})
}
