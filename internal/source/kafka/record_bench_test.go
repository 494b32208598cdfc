package kafka

import (
	"testing"

	"shipper/internal/encode"
	"shipper/internal/event"
	"shipper/internal/testutil/corpus"
)

// BenchmarkRecordEncoder encodes the realistic corpus as Kafka records: as
// plain lines (parsed) and as a shipper's documents (validated and copied),
// the latter made by encoding the same lines first. 0 allocations per record
// is the aim.
func BenchmarkRecordEncoder(b *testing.B) {
	const n = 4096
	g := corpus.New(1)
	lines := make([][]byte, n)
	var size int64
	for i := range lines {
		lines[i] = g.AppendLine(nil)
		size += int64(len(lines[i]))
	}
	// The documents: the bulk items of the same lines, minus action lines.
	e := newTestEncoder(nil)
	var src event.Batch
	for i, l := range lines {
		e.append(&src, &record{Value: l, Offset: int64(i), IDHi: 1, Fields: partFields("t", 0)})
	}
	docs := make([][]byte, src.Len())
	ids := make([][]byte, src.Len())
	for i := range docs {
		d := src.Document(i)
		docs[i] = append([]byte(nil), d[:len(d)-1]...)
		ids[i] = encode.AppendID(nil, 7, uint64(i))
	}
	index := []byte("logs-app-default")
	fields := partFields("logs", 3)
	run := func(b *testing.B, docMode bool) {
		e := newTestEncoder(encode.NewStreams(nil, 50))
		var batch event.Batch
		b.ReportAllocs()
		b.SetBytes(size / n)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			j := i % n
			if j == 0 {
				batch.Reset()
			}
			r := record{Value: lines[j], Offset: int64(i), IDHi: 5, Fields: fields}
			if docMode && j < len(docs) {
				r = record{Value: docs[j], Offset: int64(i), ID: ids[j], Index: index}
			}
			e.append(&batch, &r)
		}
	}
	b.Run("plain", func(b *testing.B) { run(b, false) })
	b.Run("documents", func(b *testing.B) { run(b, true) })
}
