package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tinylib/msgp/msgp"

	"shipper/internal/config"
	"shipper/internal/source/file"
)

// hwmSampler follows the peak RSS (VmHWM) of a running shipper.
type hwmSampler struct {
	peak atomic.Int64 // KiB
	stop chan struct{}
	done chan struct{}
}

func sampleHWM(pid int) *hwmSampler {
	s := &hwmSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			if kib := vmKiB(pid, "VmHWM"); kib > s.peak.Load() {
				s.peak.Store(kib)
			}
			select {
			case <-s.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return s
}

// end stops sampling (after one last sample, the process still running)
// and returns the peak in bytes.
func (s *hwmSampler) end(pid int) int64 {
	if kib := vmKiB(pid, "VmHWM"); kib > s.peak.Load() {
		s.peak.Store(kib)
	}
	close(s.stop)
	<-s.done
	return s.peak.Load() << 10
}

// waitStalled polls the shipper's metrics until reading has stopped with
// the pipeline's budget waited for: counter (what the input has read) has
// not moved for three polls a second apart and the pipeline has waited for
// budget. It returns the last metrics.
func waitStalled(t testing.TB, addr, counter string, logs *logLines) map[string]float64 {
	t.Helper()
	last, still := -1.0, 0
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); {
		time.Sleep(time.Second)
		m := scrape(t, "http://"+addr+"/metrics")
		if m[counter] == last && m["shipper_buffer_waits_total"] > 0 {
			if still++; still == 3 {
				return m
			}
			continue
		}
		still, last = 0, m[counter]
		t.Logf("%s %v, pipeline %v of %v bytes", counter, m[counter], m["shipper_buffer_used_bytes"], m["shipper_buffer_max_bytes"])
	}
	t.Fatalf("reading did not stall within 5 minutes although Elasticsearch answered nothing\n%s", logs)
	return nil
}

// statusAddr waits for the shipper's status address in its logs.
func statusAddr(t testing.TB, logs *logLines) string {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if l := logs.find("serving /healthz, /readyz and /metrics"); l != nil {
			if a, _ := l["address"].(string); a != "" {
				return a
			}
		}
	}
	t.Fatalf("no status address logged\n%s", logs)
	return ""
}

// TestPeakRSSFileWorstCase pushes the file input to its worst case with the
// default settings: Elasticsearch holds every bulk request (down) while 48
// CRI files each have a record being joined from four "P" pieces, a 1.5 MiB
// line (over --max-line-bytes: assembled up to the cap, then cut), a 1.2 MiB
// unterminated last line, and 1,000 ordinary lines, far more than the
// pipeline's budget. Then Elasticsearch answers and the backlog is caught
// up. The peak RSS of the process, before and after, stays within the
// documented bound, and every record is delivered, once.
//
// The pieces are longer than the read buffer, so that each is assembled
// aside like the long lines, under the pressure of the file budget: a piece
// begun with the budget spent was cut to nothing, its CRI prefix with it,
// and shipped as a record of its own (the first line of a file: the whole
// file taken for plain text), 40 to 100 documents too many in every run.
func TestPeakRSSFileWorstCase(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const (
		files    = 48
		ordinary = 1000
	)
	dir, state := t.TempDir(), t.TempDir()
	piece := strings.Repeat("p", file.DefaultBufSize+16<<10) // the record: over the cap, cut
	huge := strings.Repeat("h", 1536<<10)
	tail := strings.Repeat("t", 1200<<10)
	for i := 0; i < files; i++ {
		var b strings.Builder
		ts := "2026-11-23T10:00:00.000000000Z"
		n := 0
		normal := func(k int) {
			for ; k > 0; k-- {
				fmt.Fprintf(&b, `%s stderr F {"level":"info","msg":"request served","file":%d,"seq":%d,"path":"/api/v1/items/%08x","status":200,"duration_ms":12.5,"user":"u-%06d"}`+"\n", ts, i, n, n*7919, n*31)
				n++
			}
		}
		for p := 0; p < 4; p++ {
			fmt.Fprintf(&b, "%s stdout P %s\n", ts, piece)
			normal(ordinary / 5)
		}
		fmt.Fprintf(&b, "%s stdout F joined end %d\n", ts, i)
		fmt.Fprintf(&b, "%s stdout F %s\n", ts, huge)
		normal(ordinary - n)
		fmt.Fprintf(&b, "%s stdout F %s", ts, tail)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("pod%02d.log", i)), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const want = files * (ordinary + 3) // the joined record, the cut line, the last line

	fake := &blockingES{release: make(chan struct{})}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	released := false
	defer func() {
		if !released {
			close(fake.release)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // against a hang, not a pass criterion
	defer cancel()
	cmd := exec.CommandContext(ctx, shipperBinary(t, false), "run", "--input=file", "--elasticsearch-url="+srv.URL, "--templates=skip",
		"--file-paths="+filepath.Join(dir, "*.log"), "--state-dir="+state, "--http-address=127.0.0.1:0", "--dataset=worstfile")
	logs := logsOf(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	hwm := sampleHWM(cmd.Process.Pid)
	addr := statusAddr(t, logs)

	m := waitStalled(t, addr, "shipper_file_bytes_total", logs)
	down := vmKiB(cmd.Process.Pid, "VmHWM") << 10
	t.Logf("Elasticsearch down: read %v bytes, pipeline %v of %v bytes, %v reads put off for file buffers; peak RSS %.1f MiB",
		m["shipper_file_bytes_total"], m["shipper_buffer_used_bytes"], m["shipper_buffer_max_bytes"], m["shipper_file_buffer_waits_total"], float64(down)/(1<<20))

	close(fake.release)
	released = true
	for i := 0; i < files; i++ {
		appendFile(t, filepath.Join(dir, fmt.Sprintf("pod%02d.log", i)), "\n")
	}
	waitDelivered(t, "documents delivered", &fake.items, want, logs)
	peak := hwm.end(cmd.Process.Pid)
	m = scrape(t, "http://"+addr+"/metrics")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("shipper exited with %v\n%s", err, logs)
	}
	t.Logf("caught up: %d documents (%v truncated), %d bulk requests; peak RSS %.1f MiB (bound %d MiB)",
		fake.items.Load(), m["shipper_file_truncated_total"], fake.bulks.Load(), float64(peak)/(1<<20), rssBound>>20)
	if got := fake.items.Load(); got != want {
		t.Errorf("delivered %d documents, want %d", got, want)
	}
	if peak > rssBound {
		t.Errorf("peak RSS %.1f MiB, above the documented bound of %d MiB", float64(peak)/(1<<20), rssBound>>20)
	}
}

// appendFile appends s to the file at path.
func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// waitDelivered waits until n reaches want, reporting progress.
func waitDelivered(t testing.TB, what string, n *atomic.Int64, want int, logs *logLines) {
	t.Helper()
	last := int64(-1)
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		got := n.Load()
		if got >= int64(want) {
			return
		}
		if got != last && got/10000 != last/10000 {
			t.Logf("%s: %d of %d", what, got, want)
		}
		last = got
	}
	t.Fatalf("%s: %d of %d after 5 minutes\n%s", what, n.Load(), want, logs)
}

// TestPeakRSSForwardWorstCase pushes the Forward input to its worst case
// with the default settings: Elasticsearch holds every bulk request (down)
// while 6 clients send requests of nearly --forward-max-request-bytes on
// their connections, or (half of them) gzip-compressed ones of nearly
// --forward-max-decompressed-bytes, far more than the pipeline's budget.
// Then Elasticsearch answers and the backlog is caught up. The peak RSS of
// the process stays within the documented bound, and every record is
// delivered.
func TestPeakRSSForwardWorstCase(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const (
		conns    = 6
		requests = 3
	)
	def := config.Default().Forward
	// Entries of about 1 KiB with random hex (gzip makes them about 2x
	// smaller), as many as fit the request (plain) or the decompressed
	// limit (gzip), with room for the tag and the option map.
	rng := rand.New(rand.NewPCG(1, 2))
	hex := func(n int) string {
		const digits = "0123456789abcdef"
		b := make([]byte, n)
		for i := range b {
			b[i] = digits[rng.IntN(16)]
		}
		return string(b)
	}
	entries := func(limit int) (b []byte, n int) {
		for ; ; n++ {
			var e []byte
			e = msgp.AppendArrayHeader(e, 2)
			e = msgp.AppendInt64(e, 1795424400+int64(n))
			e = msgp.AppendMapHeader(e, 2)
			e = msgp.AppendString(e, "source")
			e = msgp.AppendString(e, "stdout")
			e = msgp.AppendString(e, "log")
			e = msgp.AppendString(e, fmt.Sprintf(`{"level":"info","msg":"request served","seq":%d,"trace_id":"%s","body":"%s"}`, n, hex(32), hex(900)))
			if len(b)+len(e) > limit {
				return b, n
			}
			b = append(b, e...)
		}
	}
	plainEntries, nPlain := entries(int(def.MaxRequestBytes) - 4<<10)
	plain := msgp.AppendArrayHeader(nil, 2)
	plain = msgp.AppendString(plain, "app.worst")
	plain = msgp.AppendBytes(plain, plainEntries)
	gzEntries, nGz := entries(int(def.MaxDecompressedBytes) - 4<<10)
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(gzEntries)
	zw.Close()
	gz := msgp.AppendArrayHeader(nil, 3)
	gz = msgp.AppendString(gz, "app.worst")
	gz = msgp.AppendBytes(gz, z.Bytes())
	gz = msgp.AppendMapHeader(gz, 1)
	gz = msgp.AppendString(gz, "compressed")
	gz = msgp.AppendString(gz, "gzip")
	want := conns / 2 * requests * (nPlain + nGz)
	t.Logf("requests: %d entries in %d bytes plain; %d entries in %d bytes gzip (%d decompressed); limits %s, %s decompressed, budget %s",
		nPlain, len(plain), nGz, len(gz), len(gzEntries), def.MaxRequestBytes, def.MaxDecompressedBytes, def.BufferBytes)

	fake := &blockingES{release: make(chan struct{})}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	released := false
	defer func() {
		if !released {
			close(fake.release)
		}
	}()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fwdAddr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // against a hang, not a pass criterion
	defer cancel()
	cmd := exec.CommandContext(ctx, shipperBinary(t, false), "run", "--input=forward", "--elasticsearch-url="+srv.URL, "--templates=skip",
		"--forward-address="+fwdAddr, "--http-address=127.0.0.1:0", "--dataset=worstforward")
	logs := logsOf(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	hwm := sampleHWM(cmd.Process.Pid)
	addr := statusAddr(t, logs)
	for deadline := time.Now().Add(2 * time.Minute); logs.find("Fluent Forward input listening") == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the Forward input did not start listening\n%s", logs)
		}
	}

	var wg sync.WaitGroup
	sendErr := make(chan error, conns)
	for c := 0; c < conns; c++ {
		conn, err := net.Dial("tcp", fwdAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		req := plain
		if c%2 == 1 {
			req = gz
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < requests; r++ {
				if _, err := conn.Write(req); err != nil {
					sendErr <- fmt.Errorf("client %d, request %d: %w", c, r, err)
					return
				}
			}
		}()
	}
	m := waitStalled(t, addr, "shipper_forward_records_total", logs)
	down := vmKiB(cmd.Process.Pid, "VmHWM") << 10
	t.Logf("Elasticsearch down: %v records read, pipeline %v of %v bytes, Forward buffers %v of %v bytes, %v connections waiting; peak RSS %.1f MiB",
		m["shipper_forward_records_total"], m["shipper_buffer_used_bytes"], m["shipper_buffer_max_bytes"],
		m["shipper_forward_buffer_used_bytes"], m["shipper_forward_buffer_max_bytes"], m["shipper_forward_buffer_waiting_connections"], float64(down)/(1<<20))

	close(fake.release)
	released = true
	wg.Wait()
	close(sendErr)
	for err := range sendErr {
		t.Fatal(err)
	}
	waitDelivered(t, "documents delivered", &fake.items, want, logs)
	peak := hwm.end(cmd.Process.Pid)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("shipper exited with %v\n%s", err, logs)
	}
	t.Logf("caught up: %d documents, %d bulk requests; peak RSS %.1f MiB (bound %d MiB)",
		fake.items.Load(), fake.bulks.Load(), float64(peak)/(1<<20), rssBound>>20)
	if got := fake.items.Load(); got != int64(want) {
		t.Errorf("delivered %d documents, want %d", got, want)
	}
	if peak > rssBound {
		t.Errorf("peak RSS %.1f MiB, above the documented bound of %d MiB", float64(peak)/(1<<20), rssBound>>20)
	}
}

// BenchmarkFileCatchUp measures catching up after an outage with many files:
// 300 CRI files of 2,000 lines each are read while Elasticsearch holds every
// bulk request, until reading stalls; then it answers and the time to
// deliver every line is measured, with the process's CPU and peak RSS. More
// files than the file budget has read buffers for are read in turn (a file
// without a buffer waits a poll interval or more), which is what a smaller
// --file-buffer-bytes costs. SHIPPER_BENCH_BIN and SHIPPER_BENCH_ARGS as
// for BenchmarkWholePath.
func BenchmarkFileCatchUp(b *testing.B) {
	const files, lines = 300, 2000
	bin := benchBinary(b)
	dir := b.TempDir()
	for i := 0; i < files; i++ {
		var sb strings.Builder
		for n := 0; n < lines; n++ {
			fmt.Fprintf(&sb, `2026-11-23T10:00:00.000000000Z stdout F {"level":"info","msg":"request served","file":%d,"seq":%d,"path":"/api/v1/items/%08x","status":200,"duration_ms":12.5,"user":"u-%06d"}`+"\n", i, n, n*7919, n*31)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("pod%03d.log", i)), []byte(sb.String()), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	var catchUp, cpu time.Duration
	var peak int64
	var waits float64
	for range b.N {
		fake := &blockingES{release: make(chan struct{})}
		srv := httptest.NewServer(fake)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // against a hang
		cmd := exec.CommandContext(ctx, bin, append([]string{"run", "--input=file", "--elasticsearch-url=" + srv.URL, "--templates=skip",
			"--file-paths=" + filepath.Join(dir, "*.log"), "--state-dir=" + b.TempDir(), "--http-address=127.0.0.1:0", "--dataset=catchup"},
			splitArgs(os.Getenv("SHIPPER_BENCH_ARGS"))...)...)
		logs := logsOf(cmd)
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		hwm := sampleHWM(cmd.Process.Pid)
		addr := statusAddr(b, logs)
		waitStalled(b, addr, "shipper_file_bytes_total", logs)
		t0 := time.Now()
		close(fake.release)
		waitDelivered(b, "documents delivered", &fake.items, files*lines, logs)
		catchUp += time.Since(t0)
		waits += scrape(b, "http://"+addr+"/metrics")["shipper_file_buffer_waits_total"]
		peak = max(peak, hwm.end(cmd.Process.Pid))
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		cpu += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		cancel()
		srv.Close()
	}
	n := float64(b.N)
	b.ReportMetric(catchUp.Seconds()/n, "catch-up-s")
	b.ReportMetric(files*lines*n/catchUp.Seconds(), "lines/s")
	b.ReportMetric(cpu.Seconds()/n, "cpu-s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-rss-MiB")
	b.ReportMetric(waits/n, "buffer-waits")
}
