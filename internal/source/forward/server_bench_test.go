package forward

import (
	"context"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"

	"shipper/internal/pipeline"
)

// BenchmarkServerToBulk measures the server's work per record from the bytes
// of a request in the read buffer to the bulk item in a batch body: decode,
// Docker fields, log line parsing, document id, encoding, batching, and (with
// ack) the ack bookkeeping. The sink is a goroutine that calls Done. One op is
// one request of one record (Docker's fluentd driver), or of 1000 records for
// the compressed case.
func BenchmarkServerToBulk(b *testing.B) {
	docker := func(ack bool) []byte {
		rec := map[string]any{
			"container_id":   containerID,
			"container_name": "/orders-api-1",
			"source":         "stdout",
			"log": `{"@timestamp":"2024-05-06T07:08:09.123Z","level":"info","logger":"http","msg":"request served",` +
				`"method":"GET","path":"/api/v1/orders/12345","status":200,"duration_ms":12.5,"trace_id":"4bf92f3577b34da6"}`,
		}
		opt := map[string]string{}
		if ack {
			opt["chunk"] = "p8n9gmxTQVC8/nh2wlKKeQ=="
		}
		m := fluent.MessageExt{Tag: "docker.orders", Time: fluent.EventTime(time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)),
			Record: rec, Option: opt}
		out, err := m.MarshalMsg(nil)
		if err != nil {
			b.Fatal(err)
		}
		return out
	}
	var entries menc
	for i := 0; i < 1000; i++ {
		entries = entries.arr(2).eventTime(t0, uint32(i)).mapStr("container_id", containerID, "source", "stdout",
			"log", `{"level":"info","msg":"request served","path":"/api/v1/orders/12345","status":200,"pad":"`+strings.Repeat("x", 100)+`"}`)
	}
	compressed := mp().arr(3).str("docker").bin(gzipBytes(entries)).mapStr("compressed", "gzip", "chunk", "abc")
	for _, bc := range []struct {
		name    string
		req     []byte
		records int
	}{
		{"docker", docker(false), 1},
		{"docker+ack", docker(true), 1},
		{"compressed-1000+ack", compressed, 1000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			pipe := pipeline.New(pipeline.Config{MaxBytes: 64 << 20, BatchBytes: 5 << 20, FlushInterval: time.Second})
			var bulk atomic.Int64
			consumed := make(chan struct{})
			go func() {
				defer close(consumed)
				for bt := range pipe.Batches() {
					bulk.Add(int64(len(bt.Body)))
					bt.Done()
				}
			}()
			srv, err := NewServer(ServerConfig{Address: "127.0.0.1:0", Dataset: "bench", Namespace: "default", RunID: 1}, pipe, testLogger())
			if err != nil {
				b.Fatal(err)
			}
			ours, theirs := net.Pipe()
			go func() { _, _ = io.Copy(io.Discard, theirs) }() // the acks
			c := srv.newConn(ours)
			c.queueCtx = context.Background()
			srv.register(c)
			srv.serving.Add(1)
			b.SetBytes(int64(len(bc.req)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// As the read loop: no more requests while the
				// connection's pending acks are full.
				if full, _ := c.acks.full(); full {
					if err := c.waitAckRoom(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
				c.buf, c.r, c.w = bc.req, 0, len(bc.req)
				if err := c.process(); err != nil {
					b.Fatal(err)
				}
				if c.r != c.w {
					b.Fatalf("request %d not processed", i)
				}
			}
			_ = srv.pr.Flush()
			b.StopTimer()
			records := float64(b.N) * float64(bc.records)
			b.ReportMetric(records/b.Elapsed().Seconds(), "records/s")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.pr.Wait(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(bulk.Load())/records, "bulk-B/record")
			c.buf = c.small[:]
			c.acks.finish()
			if c.writerOn {
				<-c.writerDone
			}
			c.close()
			theirs.Close()
			srv.serving.Done()
			srv.Close()
			pipe.Close()
			<-consumed
		})
	}
}
