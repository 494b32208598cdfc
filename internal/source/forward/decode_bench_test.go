package forward

import (
	"strings"
	"testing"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"

	"shipper/internal/parse"
)

// dockerMessage is what Docker's fluentd driver writes for one line, through
// fluent-logger-golang: a 4-element Message with a map[string]string record
// and an empty option map.
func dockerMessage(b testing.TB, subSecond bool) []byte {
	line := `{"@timestamp":"2024-05-06T07:08:09.123Z","level":"info","logger":"http","msg":"request served",` +
		`"method":"GET","path":"/api/v1/orders/12345","status":200,"duration_ms":12.5,"trace_id":"4bf92f3577b34da6"}`
	rec := map[string]any{
		"container_id":   strings.Repeat("3f4e5d6c", 8),
		"container_name": "/orders-api-1",
		"source":         "stdout",
		"log":            line,
	}
	tm := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	var out []byte
	var err error
	if subSecond {
		m := fluent.MessageExt{Tag: "docker.3f4e5d6c3f4e", Time: fluent.EventTime(tm), Record: rec, Option: map[string]string{}}
		out, err = m.MarshalMsg(nil)
	} else {
		m := fluent.Message{Tag: "docker.3f4e5d6c3f4e", Time: tm.Unix(), Record: rec, Option: map[string]string{}}
		out, err = m.MarshalMsg(nil)
	}
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// BenchmarkDecodeMessage decodes Docker-shaped Message requests: "decode" is
// Decode alone; "decode+docker" adds what a server does per record: ScanDocker,
// escaping the log line and rendering the other members.
func BenchmarkDecodeMessage(b *testing.B) {
	for _, sub := range []struct {
		name      string
		subSecond bool
		render    bool
	}{
		{"decode/int-time", false, false},
		{"decode/event-time", true, false},
		{"decode+docker/event-time", true, true},
	} {
		b.Run(sub.name, func(b *testing.B) {
			msg := dockerMessage(b, sub.subSecond)
			// 256 requests per buffer, as a server reading 64 KiB would see.
			var buf []byte
			const perBuf = 256
			for i := 0; i < perBuf; i++ {
				buf = append(buf, msg...)
			}
			d := NewDecoder(Limits{})
			var f DockerFields
			dst := make([]byte, 0, 4096)
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; {
				for p := buf; len(p) > 0 && i < b.N; i++ {
					req, n, err := d.Decode(p)
					if err != nil || len(req.Entries) != 1 {
						b.Fatalf("%v, %d entries", err, len(req.Entries))
					}
					if sub.render {
						rec := req.Entries[0].Record
						if err := ScanDocker(rec, &f); err != nil || !f.IsDocker {
							b.Fatal(err)
						}
						dst, _ = parse.AppendString(dst[:0], f.Log)
						dst, _ = AppendOtherMembers(dst, rec, DockerKey)
					}
					p = p[n:]
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkDecodeCompressed decodes a CompressedPackedForward request of 1000
// Docker-shaped entries (Fluentd out_forward with compress gzip).
func BenchmarkDecodeCompressed(b *testing.B) {
	var entries menc
	for i := 0; i < 1000; i++ {
		entries = entries.arr(2).eventTime(t0, uint32(i)).mapStr("container_id", strings.Repeat("3f4e5d6c", 8),
			"source", "stdout", "log", strings.Repeat("x", 200))
	}
	req := mp().arr(3).str("docker").bin(gzipBytes(entries)).mapStr("compressed", "gzip", "chunk", "abc")
	d := NewDecoder(Limits{})
	b.SetBytes(int64(len(entries)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		r, _, err := d.Decode(req)
		if err != nil || len(r.Entries) != 1000 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkAppendRecordJSON renders a Docker-shaped record whole.
func BenchmarkAppendRecordJSON(b *testing.B) {
	msg := dockerMessage(b, true)
	req, _, err := NewDecoder(Limits{}).Decode(msg)
	if err != nil {
		b.Fatal(err)
	}
	rec := req.Entries[0].Record
	dst := make([]byte, 0, 4096)
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		dst, _ = AppendRecordJSON(dst[:0], rec)
	}
}
