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
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// latencyES is a fake Elasticsearch that notes when each document, numbered
// by its "seq" member, arrived; the answer follows at once, so arrival is
// acknowledgement.
type latencyES struct {
	mu      sync.Mutex
	arrived []time.Time // by seq
	n       int
}

func (f *latencyES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	if !strings.HasSuffix(r.URL.Path, "/_bulk") {
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
	now := time.Now()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	f.mu.Lock()
	for sc.Scan() {
		line := sc.Bytes()
		i := bytes.Index(line, []byte(`"seq":`))
		if i < 0 {
			continue
		}
		j := i + 6
		for j < len(line) && line[j] >= '0' && line[j] <= '9' {
			j++
		}
		if seq, err := strconv.Atoi(string(line[i+6 : j])); err == nil && seq < len(f.arrived) && f.arrived[seq].IsZero() {
			f.arrived[seq] = now
			f.n++
		}
	}
	f.mu.Unlock()
	w.Write([]byte(`{"errors":false}`))
}

// BenchmarkLatency runs the built shipper with the default settings on a
// pipe and writes numbered lines at 10,000 lines per second for 10 seconds
// (SHIPPER_BENCH_RATE, SHIPPER_BENCH_SECONDS). It reports the time from
// starting the process to the first document acknowledged (the first line
// is written as soon as the process starts), and the 50th and 99th
// percentile and the maximum of the time from writing a line to its
// document being acknowledged.
func BenchmarkLatency(b *testing.B) {
	rate, secs := 10000, 10
	if n, err := strconv.Atoi(os.Getenv("SHIPPER_BENCH_RATE")); err == nil && n > 0 {
		rate = n
	}
	if n, err := strconv.Atoi(os.Getenv("SHIPPER_BENCH_SECONDS")); err == nil && n > 0 {
		secs = n
	}
	bin := benchBinary(b)
	for i := 0; i < b.N; i++ {
		total := rate * secs
		fake := &latencyES{arrived: make([]time.Time, total)}
		srv := httptest.NewServer(fake)
		cmd := pinned(append([]string{bin}, shipperArgs(srv.URL, "")...)...)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			b.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		written := make([]time.Time, total)
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		w := bufio.NewWriterSize(stdin, 64<<10)
		var line []byte
		perTick := rate / 1000 // lines per millisecond
		if perTick == 0 {
			perTick = 1
		}
		tick := time.Duration(perTick) * time.Second / time.Duration(rate)
		next := time.Now()
		for seq := 0; seq < total; {
			for k := 0; k < perTick && seq < total; k++ {
				line = fmt.Appendf(line[:0], `{"level":"info","seq":%d,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","message":"request handled"}`+"\n", seq)
				w.Write(line)
				written[seq] = time.Now()
				seq++
			}
			w.Flush()
			next = next.Add(tick)
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
		}
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			b.Fatalf("shipper: %v\n%s", err, stderr.String())
		}
		srv.Close()
		fake.mu.Lock()
		if fake.n != total {
			b.Fatalf("acknowledged %d of %d documents", fake.n, total)
		}
		// Only lines written before stdin closed at a steady rate count:
		// the end of input flushes at once.
		lat := make([]time.Duration, 0, total)
		for seq := range total {
			lat = append(lat, fake.arrived[seq].Sub(written[seq]))
		}
		first := fake.arrived[0].Sub(start)
		fake.mu.Unlock()
		slices.Sort(lat)
		b.ReportMetric(float64(first.Milliseconds()), "start-to-first-doc-ms")
		b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Milliseconds()), "p99-ms")
		b.ReportMetric(float64(lat[len(lat)-1].Milliseconds()), "max-ms")
	}
}
