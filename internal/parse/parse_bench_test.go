package parse

import "testing"

// benchLine is a typical zerolog request log line (~250 bytes).
const benchLine = `{"level":"info","service":"demo","method":"GET","path":"/api/orders/42","status":200,"duration_ms":12.5,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","user_agent":"curl/8.5.0","time":"2026-11-23T10:00:00.123456789Z","message":"request handled"}`

// benchLineECS is benchLine with the names the parser renames to.
const benchLineECS = `{"level":"info","service.name":"demo","method":"GET","path":"/api/orders/42","status":200,"duration_ms":12.5,"trace.id":"4bf92f3577b34da6a3ce929d0e0e4736","span.id":"00f067aa0ba902b7","user_agent.original":"curl/8.5.0","time":"2026-11-23T10:00:00.123456789Z","message":"request handled"}`

const benchStatic = `"agent.type":"shipper","agent.version":"1.0","host.name":"h","input.type":"stdin"`

func benchmarkAppend(b *testing.B, line, fields string) {
	p := New([]byte(benchStatic))
	p.SetIngested(ingestedTime)
	l := &Line{Data: []byte(line), Time: lineTime, Fields: []byte(fields)}
	dst := make([]byte, 0, 4096)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		dst, _ = p.Append(dst[:0], l)
	}
}

func BenchmarkAppend(b *testing.B) {
	b.Run("zerolog", func(b *testing.B) { benchmarkAppend(b, benchLine, "") })
	b.Run("zerolog-fields", func(b *testing.B) {
		benchmarkAppend(b, benchLine, `"log.file.path":"/var/log/app.log","stream":"stdout"`)
	})
	// The same line with ECS names: nothing to rename (the fast path); the
	// difference to "zerolog" is the cost of the normalisation.
	b.Run("zerolog-ecs-names", func(b *testing.B) { benchmarkAppend(b, benchLineECS, "") })
	b.Run("repeated-names", func(b *testing.B) {
		benchmarkAppend(b, `{"level":"info","user":"ann","method":"GET","path":"/api/orders/42","status":200,"user":"bob","time":"2026-11-23T10:00:00.123456789Z","message":"request handled"}`, "")
	})
	b.Run("plain", func(b *testing.B) {
		benchmarkAppend(b, `2026-11-23 10:00:00.123 INFO  [http-nio-8080-exec-1] c.e.d.OrderController : request handled GET /api/orders/42 status=200 duration=12.5ms trace=4bf92f3577b34da6a3ce929d0e0e4736`, "")
	})
	b.Run("invalid-utf8", func(b *testing.B) {
		benchmarkAppend(b, "{\"level\":\"info\",\"service\":\"demo\",\"method\":\"GET\",\"path\":\"/api/orders/42\",\"status\":200,\"user\":\"Jos\xe9 M\xfcller\",\"time\":\"2026-11-23T10:00:00.123456789Z\",\"message\":\"request handled\"}", "")
	})
	b.Run("invalid-utf8-plain", func(b *testing.B) {
		benchmarkAppend(b, "2026-11-23 10:00:00.123 INFO  [main] c.e.d.UserService : user Jos\xe9 M\xfcller logged in from 10.0.0.7 session=4bf92f3577b34da6", "")
	})
	b.Run("malformed", func(b *testing.B) {
		benchmarkAppend(b, benchLine[:len(benchLine)-20], "")
	})
}

func BenchmarkAppendString(b *testing.B) {
	s := []byte(`request handled GET /api/orders/42 status=200 duration=12.5ms trace=4bf92f3577b34da6a3ce929d0e0e4736 "quoted"`)
	dst := make([]byte, 0, 256)
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		dst, _ = AppendString(dst[:0], s)
	}
}

func BenchmarkParseTime(b *testing.B) {
	s := []byte("2026-11-23T10:00:00.123456789Z")
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := ParseTime(s); !ok {
			b.Fatal("no parse")
		}
	}
}

func BenchmarkAppendTime(b *testing.B) {
	dst := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendTime(dst[:0], 1795428000123456789)
	}
}

// BenchmarkAppendOrder writes the order field of a file's lines (log.offset
// growing by a line's length) and of stdin's (event.sequence counting up).
func BenchmarkAppendOrder(b *testing.B) {
	for _, c := range []struct {
		name string
		kind OrderKind
		step func(i int) int64
	}{
		{"offset", OrderOffset, func(i int) int64 { return int64(330 + i*7919%700) }},
		{"sequence", OrderSequence, func(int) int64 { return 1 }},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := newTestParser("")
			dst := make([]byte, 0, 64)
			v := int64(300_000_000)
			for i := 0; i < b.N; i++ {
				v += c.step(i)
				dst = p.appendOrder(dst[:0], c.kind, v)
			}
		})
	}
}
