package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// discardES is a fake Elasticsearch that accepts every bulk request and
// answers like Elasticsearch with filter_path and no errors. It counts items.
type discardES struct{ items atomic.Int64 }

func (f *discardES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path != "/_bulk" {
		io.WriteString(w, `{"status":"green"}`)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		body = zr
	}
	n := 0
	br := bufio.NewReaderSize(body, 1<<20)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 && bytes.HasPrefix(line, []byte(`{"create"`)) {
			n++
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			break
		}
	}
	f.items.Add(int64(n))
	// filter_path=errors,... on a fully successful request: Elasticsearch
	// still lists the items' statuses; the sink's fast path reads "errors".
	w.Write([]byte(`{"errors":false}`))
}

// benchCorpus writes n demo-app-like request log lines (~250 bytes) to a file.
func benchCorpus(b *testing.B, n int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "lines.ndjson")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	methods := []string{"GET", "POST", "GET", "PUT"}
	levels := []string{"info", "info", "info", "warn", "info", "error", "info", "debug"}
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		fmt.Fprintf(w, `{"level":"%s","service":"demo","method":"%s","path":"/api/orders/%d","status":%d,"duration_ms":%d.%d,"trace_id":"4bf92f3577b34da6a3ce929d0e%06x","span_id":"00f067aa0ba902b7","time":"%s","message":"request handled"}`+"\n",
			levels[i%len(levels)], methods[i%4], i%1000, 200+(i%7)/6*300, i%50, i%10, i, t0.Add(time.Duration(i)*time.Microsecond).Format(time.RFC3339Nano))
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	return path
}

// BenchmarkWholePath runs the built shipper over a file of 1,000,000 lines into
// a fake Elasticsearch that discards, and reports the shipper's own CPU time
// per line (user+system of the process), lines per CPU-second and peak RSS.
// The fake runs in the benchmark process, so its cost is not counted.
func BenchmarkWholePath(b *testing.B) {
	const lines = 1000000
	bin := shipperBinary(b, false)
	corpus := benchCorpus(b, lines)
	for _, tc := range []struct{ name, compression string }{{"gzip1", "gzip"}, {"none", "none"}} {
		b.Run(tc.name, func(b *testing.B) {
			fake := &discardES{}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			var cpu time.Duration
			var maxRSS int64
			for i := 0; i < b.N; i++ {
				in, err := os.Open(corpus)
				if err != nil {
					b.Fatal(err)
				}
				cmd := exec.Command(bin, "--elasticsearch-url="+srv.URL, "--templates=skip", "--compression="+tc.compression, "--log-level=warn")
				cmd.Stdin = in
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				if err := cmd.Run(); err != nil {
					b.Fatalf("shipper: %v\n%s", err, stderr.String())
				}
				in.Close()
				ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
				cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
				maxRSS = max(maxRSS, ru.Maxrss)
			}
			if got := fake.items.Load(); got != int64(lines*b.N) {
				b.Fatalf("delivered %d documents, want %d", got, lines*b.N)
			}
			perLine := cpu.Seconds() / float64(lines*b.N)
			b.ReportMetric(perLine*1e9, "cpu-ns/line")
			b.ReportMetric(1/perLine, "lines/cpu-s")
			b.ReportMetric(float64(maxRSS)/1024, "peak-rss-MiB")
		})
	}
}
