package elasticsearch

import (
	"bytes"
	stdgzip "compress/gzip"
	"fmt"
	"io"
	"testing"

	kgzip "github.com/klauspost/compress/gzip"

	"shipper/internal/encode"
	"shipper/internal/event"
	"shipper/internal/parse"
)

// BenchmarkCompress compares gzip implementations at level 1 on a 4 MiB bulk
// body of zerolog request documents; it reports the compression ratio.
func BenchmarkCompress(b *testing.B) {
	enc := encode.New(parse.New([]byte(`"input.type":"stdin","agent.type":"shipper","agent.version":"1.0.0","host.name":"node-1"`)), "logs-generic-default", "default")
	batch := &event.Batch{}
	for i := uint64(0); len(batch.Body) < 4<<20; i++ {
		line := fmt.Sprintf(`{"level":"info","service":"demo","method":"GET","path":"/api/orders/%d","status":200,"duration_ms":%d.5,"trace_id":"4bf92f3577b34da6a3ce929d0e%06x","time":"2026-11-23T10:00:00.%06dZ","message":"request handled"}`, i%1000, i%50, i, i)
		enc.Append(batch, &parse.Line{Data: []byte(line), Time: 1}, 7, i)
	}
	body := batch.Body
	for _, impl := range []struct {
		name string
		new  func(io.Writer) io.WriteCloser
	}{
		{"klauspost", func(w io.Writer) io.WriteCloser { z, _ := kgzip.NewWriterLevel(w, 1); return z }},
		{"stdlib", func(w io.Writer) io.WriteCloser { z, _ := stdgzip.NewWriterLevel(w, 1); return z }},
	} {
		b.Run(impl.name, func(b *testing.B) {
			var out bytes.Buffer
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				out.Reset()
				z := impl.new(&out)
				z.Write(body)
				z.Close()
			}
			b.ReportMetric(float64(len(body))/float64(out.Len()), "ratio")
		})
	}
}
