package tailcompare

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nxadm/tail"

	"shipper/internal/source/file"
)

// benchData writes about 64 MiB of CRI lines carrying JSON objects (~230
// bytes a line) and returns the path and the line count.
func benchData(b *testing.B) (string, int) {
	var sb strings.Builder
	n := 0
	for sb.Len() < 64<<20 {
		fmt.Fprintf(&sb, `2024-05-01T10:00:00.%09dZ stdout F {"level":"info","time":"2024-05-01T10:00:00.%06dZ","service":"checkout","request_id":"%016x","status":200,"message":"request handled for user %d"}`+"\n",
			n, n%1000000, n*7919, n%10007)
		n++
	}
	path := filepath.Join(b.TempDir(), "bench.log")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return path, n
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs read b.N times and reports lines/s, lines per CPU-second and
// allocations per line.
func measure(b *testing.B, path string, lines int, read func() int) {
	fi, _ := os.Stat(path)
	b.SetBytes(fi.Size())
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := cpuTime()
	for b.Loop() {
		if got := read(); got != lines {
			b.Fatalf("read %d lines, want %d", got, lines)
		}
	}
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&ms1)
	total := float64(lines) * float64(b.N)
	b.ReportMetric(total/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(total/cpu.Seconds(), "lines/cpu-s")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/total, "allocs/line")
}

// BenchmarkFraming compares only the framing of a file into lines: nxadm/tail
// (a string per line, sent on a channel) and file.LineReader (views into a
// pooled buffer). Neither decodes or parses.
func BenchmarkFraming(b *testing.B) {
	path, lines := benchData(b)
	b.Run("nxadm-tail", func(b *testing.B) {
		measure(b, path, lines, func() int {
			t, err := tail.TailFile(path, tail.Config{MustExist: true, Logger: tail.DiscardingLogger})
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for l := range t.Lines {
				if l.Err == nil {
					n++
				}
			}
			return n
		})
	})
	b.Run("nxadm-tail-follow-reopen-completelines", func(b *testing.B) {
		// The configuration that avoids its known data-loss bugs:
		// Follow+ReOpen+CompleteLines.
		measure(b, path, lines, func() int {
			t, err := tail.TailFile(path, tail.Config{MustExist: true, Follow: true, ReOpen: true, CompleteLines: true, Logger: tail.DiscardingLogger})
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for l := range t.Lines {
				if l.Err == nil {
					n++
				}
				if n == lines {
					break
				}
			}
			t.Stop()
			t.Cleanup()
			return n
		})
	})
	b.Run("LineReader", func(b *testing.B) {
		measure(b, path, lines, func() int {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			r := file.NewLineReader(f, 0, 0, 0)
			defer r.Release()
			n := 0
			for {
				if _, _, _, err := r.Next(); err == io.EOF {
					return n
				} else if err != nil {
					b.Fatal(err)
				}
				n++
			}
		})
	})
}
