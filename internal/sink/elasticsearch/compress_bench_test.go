package elasticsearch

import (
	"bytes"
	stdgzip "compress/gzip"
	"io"
	"syscall"
	"testing"
	"time"

	kgzip "github.com/klauspost/compress/gzip"

	"shipper/internal/encode"
	"shipper/internal/event"
	"shipper/internal/parse"
	"shipper/internal/testutil/corpus"
)

// realisticBody returns a 4 MiB bulk body of documents made from the
// realistic corpus, with the static fields of a stdin document.
func realisticBody() []byte {
	var raw bytes.Buffer
	corpus.New(1).Write(&raw, 12000, corpus.Raw)
	enc := encode.New(parse.New([]byte(`"input.type":"stdin","agent.type":"shipper","host.name":"node-1","ecs.version":"8.11.0"`)), "logs-generic-default", "default")
	batch := &event.Batch{}
	lines := bytes.Split(raw.Bytes(), []byte("\n"))
	for i := uint64(0); len(batch.Body) < 4<<20; i++ {
		enc.Append(batch, &parse.Line{Data: lines[int(i)%(len(lines)-1)], Time: 1}, 7, i)
	}
	return batch.Body
}

// cpuTime is the process's user+system time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCompress compares the request-body encodings Elasticsearch
// accepts (gzip; none) at their levels on a 4 MiB bulk body of realistic
// documents: the ratio, and the CPU-seconds per GB of body (process CPU
// time, so that a busy machine inflates it less than wall time).
func BenchmarkCompress(b *testing.B) {
	body := realisticBody()
	type impl struct {
		name string
		new  func(io.Writer) io.WriteCloser
	}
	klaus := func(level int) func(io.Writer) io.WriteCloser {
		return func(w io.Writer) io.WriteCloser { z, _ := kgzip.NewWriterLevel(w, level); return z }
	}
	impls := []impl{
		{"klauspost-huffman-only", klaus(kgzip.HuffmanOnly)},
		{"klauspost-1", klaus(1)},
		{"klauspost-2", klaus(2)},
		{"klauspost-3", klaus(3)},
		{"klauspost-5", klaus(5)},
		{"klauspost-9", klaus(9)},
		{"stdlib-huffman-only", func(w io.Writer) io.WriteCloser { z, _ := stdgzip.NewWriterLevel(w, stdgzip.HuffmanOnly); return z }},
		{"stdlib-1", func(w io.Writer) io.WriteCloser { z, _ := stdgzip.NewWriterLevel(w, 1); return z }},
	}
	for _, im := range impls {
		b.Run(im.name, func(b *testing.B) {
			var out bytes.Buffer
			z := im.new(&out)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			c0 := cpuTime()
			for b.Loop() {
				out.Reset()
				if r, ok := z.(interface{ Reset(io.Writer) }); ok {
					r.Reset(&out)
				} else {
					z = im.new(&out)
				}
				z.Write(body)
				z.Close()
			}
			cpu := cpuTime() - c0
			b.ReportMetric(float64(len(body))/float64(out.Len()), "ratio")
			b.ReportMetric(cpu.Seconds()/(float64(b.N)*float64(len(body))/1e9), "cpu-s/GB")
		})
	}
}
