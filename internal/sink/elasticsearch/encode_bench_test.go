package elasticsearch

import (
	"bytes"
	stdgzip "compress/gzip"
	"fmt"
	"io"
	"testing"

	kgzip "github.com/klauspost/compress/gzip"

	"shipper/internal/event"
	"shipper/internal/parse"
)

// BenchmarkParseEncode is the per-line cost of the hot path between reading
// and sending: parse one line and encode its bulk item (action line with _id,
// document) into a batch body.
func BenchmarkParseEncode(b *testing.B) {
	lines := map[string]string{
		"zerolog": `{"level":"info","service":"demo","method":"GET","path":"/api/orders/42","status":200,"duration_ms":12.5,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","user_agent":"curl/8.5.0","time":"2026-11-23T10:00:00.123456789Z","message":"request handled"}`,
		"plain":   `2026-11-23 10:00:00.123 INFO  [http-nio-8080-exec-1] c.e.d.OrderController : request handled GET /api/orders/42 status=200 duration=12.5ms trace=4bf92f3577b34da6a3ce929d0e0e4736`,
	}
	for _, name := range []string{"zerolog", "plain"} {
		line := []byte(lines[name])
		b.Run(name, func(b *testing.B) {
			enc := NewEncoder(parse.New([]byte(`"input.type":"stdin","agent.type":"shipper","agent.version":"1.0.0","agent.ephemeral_id":"5f0c2a4e9b1d7c33","host.name":"node-1","ecs.version":"8.11.0"`)), "logs-generic-default", "default")
			enc.Parser.SetIngested(1763892000123456789)
			batch := &event.Batch{Body: make([]byte, 0, 8<<20)}
			l := parse.Line{Data: line, Time: 1763892000123456789}
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			var seq uint64
			for b.Loop() {
				if len(batch.Body) > 7<<20 {
					batch.Reset()
				}
				seq++
				enc.Append(batch, &l, 42, seq)
			}
		})
	}
}

// BenchmarkCompress compares gzip implementations at level 1 on a 4 MiB bulk
// body of zerolog request documents; it reports the compression ratio.
func BenchmarkCompress(b *testing.B) {
	enc := NewEncoder(parse.New([]byte(`"input.type":"stdin","agent.type":"shipper","agent.version":"1.0.0","host.name":"node-1"`)), "logs-generic-default", "default")
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
