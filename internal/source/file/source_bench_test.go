package file

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"shipper/internal/pipeline"
	"shipper/internal/testutil/corpus"
)

// benchLines returns about size bytes of log lines: CRI lines carrying a
// zerolog-style JSON object (the common case on Kubernetes), or plain text.
func benchLines(size int, format string) ([]byte, int) {
	if f, ok := strings.CutPrefix(format, "corpus-"); ok {
		// The realistic corpus (internal/testutil/corpus) in CRI or
		// json-file framing.
		cf := map[string]corpus.Format{"cri": corpus.CRI, "docker": corpus.DockerJSON}[f]
		var buf bytes.Buffer
		n := 0
		for g := corpus.New(1); buf.Len() < size; n++ {
			buf.Write(g.AppendRecord(nil, cf))
		}
		return buf.Bytes(), n
	}
	var b strings.Builder
	n := 0
	for b.Len() < size {
		payload := fmt.Sprintf(`{"level":"info","time":"2024-05-01T10:00:00.%06dZ","service":"checkout","request_id":"%016x","status":200,"duration_ms":%d,"message":"request handled for user %d"}`,
			n%1000000, n*7919, n%997, n%10007)
		switch format {
		case "cri":
			fmt.Fprintf(&b, "2024-05-01T10:00:00.%09dZ stdout F %s\n", n, payload)
		case "plain":
			fmt.Fprintf(&b, "2024-05-01 10:00:00.%06d INFO checkout request %016x handled for user %d in %d ms\n", n%1000000, n*7919, n%10007, n%997)
		}
		n++
	}
	return []byte(b.String()), n
}

// BenchmarkSourceFileToBulk measures the file input end to end: a file on
// disk read by a Source, framed, decoded, parsed and encoded into bulk
// request bodies, the batches acknowledged at once (no network). It reports
// the input rate (MB/s), lines per second of wall time and per second of
// process CPU time, and allocations per line.
func BenchmarkSourceFileToBulk(b *testing.B) {
	for _, format := range []string{"cri", "plain", "corpus-cri", "corpus-docker"} {
		b.Run(format, func(b *testing.B) {
			dir := b.TempDir()
			data, lines := benchLines(64<<20, format)
			path := filepath.Join(dir, "bench.log")
			if err := os.WriteFile(path, data, 0o644); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			var cpu time.Duration
			var mallocs uint64
			for b.Loop() {
				b.StopTimer()
				state := b.TempDir()
				pipe := pipeline.New(pipeline.Config{MaxBytes: 64 << 20, BatchBytes: 4 << 20, FlushInterval: 50 * time.Millisecond})
				done := make(chan struct{})
				bodies := 0
				go func() {
					defer close(done)
					for batch := range pipe.Batches() {
						bodies += len(batch.Body)
						batch.Done()
					}
				}()
				src, err := New(Config{Paths: []string{path}, StateDir: state, Dataset: "bench", Namespace: "default",
					PollInterval: 5 * time.Millisecond, CheckpointInterval: time.Hour}, pipe, zerolog.Nop())
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				var ms0, ms1 runtime.MemStats
				runtime.ReadMemStats(&ms0)
				cpu0 := cpuTime()
				b.StartTimer()
				runDone := make(chan struct{})
				go func() { src.Run(ctx, context.Background()); close(runDone) }()
				for src.Stats().Acked < uint64(lines) {
					time.Sleep(time.Millisecond)
				}
				b.StopTimer()
				cpu += cpuTime() - cpu0
				runtime.ReadMemStats(&ms1)
				mallocs += ms1.Mallocs - ms0.Mallocs
				cancel()
				<-runDone
				src.Drain(context.Background())
				pipe.Close()
				<-done
				if bodies == 0 {
					b.Fatal("no bulk bodies")
				}
				b.StartTimer()
			}
			total := float64(lines) * float64(b.N)
			b.ReportMetric(total/b.Elapsed().Seconds(), "lines/s")
			b.ReportMetric(total/cpu.Seconds(), "lines/cpu-s")
			b.ReportMetric(float64(mallocs)/total, "allocs/line")
		})
	}
}

// cpuTime returns the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
