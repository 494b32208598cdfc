package encode

import (
	"testing"

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
			enc := New(parse.New([]byte(`"input.type":"stdin","agent.type":"shipper","agent.version":"1.0.0","agent.ephemeral_id":"5f0c2a4e9b1d7c33","host.name":"node-1","ecs.version":"8.11.0"`)), "logs-generic-default", "default")
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
