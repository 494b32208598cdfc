package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tinylib/msgp/msgp"

	"shipper/internal/testutil/corpus"
)

// The whole-path benchmarks run the built shipper (and the floor program) as
// separate processes over the realistic corpus of internal/testutil/corpus
// and count only those processes' CPU (user+system from rusage). The fake
// Elasticsearch and the Forward client run in the benchmark process, on the
// other core when SHIPPER_BENCH_CPU pins the shipper.
//
// Environment:
//
//	SHIPPER_BENCH_LINES  lines per run (default 1000000)
//	SHIPPER_BENCH_CPU    CPU list the measured process is pinned to with
//	                     taskset (default "0"; "" to not pin)
//	SHIPPER_BENCH_ARGS   extra shipper flags for every run (e.g. to compare
//	                     a setting)
//	SHIPPER_BENCH_BIN    a shipper binary to measure instead of one built
//	                     from this tree (e.g. to compare two commits)
//	SHIPPER_BENCH_OUTAGE a duration (e.g. 10s): the fake Elasticsearch
//	                     answers every bulk request of the shipper with 503
//	                     for that long from the start of each run, so peak
//	                     RSS includes catching up after an outage

const corpusSeed = 1

// benchBinary returns SHIPPER_BENCH_BIN, or the shipper built from this tree.
func benchBinary(b *testing.B) string {
	if bin := os.Getenv("SHIPPER_BENCH_BIN"); bin != "" {
		return bin
	}
	return shipperBinary(b, false)
}

func benchLines() int {
	if n, err := strconv.Atoi(os.Getenv("SHIPPER_BENCH_LINES")); err == nil && n > 0 {
		return n
	}
	return 1000000
}

// fakeES is a fake Elasticsearch that accepts every bulk request and answers
// like Elasticsearch with filter_path and no errors. It counts items, the
// bytes on the wire and the bytes of the bodies before compression. Requests
// to /_floor are the floor program's: raw lines, counted as items.
type fakeES struct {
	items, wire, raw atomic.Int64
	downUntil        atomic.Int64 // unix nanoseconds: bulk requests fail until then
}

func (f *fakeES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	if !strings.HasSuffix(r.URL.Path, "/_bulk") && r.URL.Path != "/_floor" {
		io.WriteString(w, `{"status":"green"}`)
		return
	}
	if strings.HasSuffix(r.URL.Path, "/_bulk") && time.Now().UnixNano() < f.downUntil.Load() {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"error":{"type":"unavailable_shards_exception"},"status":503}`)
		return
	}
	wire := &countingReader{r: r.Body}
	var body io.Reader = wire
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(wire)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		body = zr
	}
	n, raw := 0, 0
	floor := r.URL.Path == "/_floor"
	br := bufio.NewReaderSize(body, 1<<20)
	for {
		line, err := br.ReadSlice('\n')
		raw += len(line)
		if floor && len(line) > 0 && line[len(line)-1] == '\n' || !floor && bytes.HasPrefix(line, []byte(`{"create"`)) {
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
	f.wire.Add(wire.n)
	f.raw.Add(int64(raw))
	w.Write([]byte(`{"errors":false}`))
}

func (f *fakeES) reset() {
	f.items.Store(0)
	f.wire.Store(0)
	f.raw.Store(0)
	f.downUntil.Store(0)
	if d, err := time.ParseDuration(os.Getenv("SHIPPER_BENCH_OUTAGE")); err == nil && d > 0 {
		f.downUntil.Store(time.Now().Add(d).UnixNano())
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// corpusFiles writes the corpus once per benchmark binary, in each format,
// into a temporary directory removed at the end, or into
// SHIPPER_BENCH_CORPUS (kept, and reused by the next invocations: writing
// the 1.3 GB of a 1,000,000-line corpus takes about a minute).
var corpusFiles struct {
	once sync.Once
	dir  string
	kept string
	err  error
}

func corpusFile(b *testing.B, f corpus.Format) string {
	b.Helper()
	name := [...]string{corpus.Raw: "raw.ndjson", corpus.CRI: "cri.log", corpus.DockerJSON: "docker-json.log"}[f]
	corpusFiles.once.Do(func() {
		if dir := os.Getenv("SHIPPER_BENCH_CORPUS"); dir != "" {
			corpusFiles.kept, corpusFiles.dir = dir, dir
			return
		}
		corpusFiles.dir, corpusFiles.err = os.MkdirTemp("", "shipper-corpus-")
	})
	if corpusFiles.err != nil {
		b.Fatal(corpusFiles.err)
	}
	path := filepath.Join(corpusFiles.dir, strconv.Itoa(benchLines()), name)
	if _, err := os.Stat(path); err == nil {
		return path
	}
	os.MkdirAll(filepath.Dir(path), 0o755)
	// Written aside and renamed, so that an interrupted run leaves no
	// partial corpus for the next one to reuse.
	if err := corpus.WriteFile(path+".part", corpusSeed, benchLines(), f); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(path+".part", path); err != nil {
		b.Fatal(err)
	}
	return path
}

// pinned returns the command line for running argv pinned to
// SHIPPER_BENCH_CPU.
func pinned(argv ...string) *exec.Cmd {
	cpu, ok := os.LookupEnv("SHIPPER_BENCH_CPU")
	if !ok {
		cpu = "0"
	}
	if cpu != "" {
		if tp, err := exec.LookPath("taskset"); err == nil {
			return exec.Command(tp, append([]string{"-c", cpu}, argv...)...)
		}
	}
	return exec.Command(argv[0], argv[1:]...)
}

// wholeResult is one run: the process's CPU and peak RSS, what the fake got.
type wholeResult struct {
	cpu         time.Duration
	rssKiB      int64
	items       int64
	wire, raw   int64
	firstDocDur time.Duration
}

// report publishes the metrics of runs and returns CPU per line.
func (r *wholeResult) report(b *testing.B, lines int, floorPerLine float64) {
	perLine := r.cpu.Seconds() / float64(lines)
	b.ReportMetric(perLine*1e6, "cpu-s/1M-lines")
	b.ReportMetric(1/perLine, "lines/cpu-s")
	b.ReportMetric(float64(r.raw)/float64(r.items), "bytes/doc")
	b.ReportMetric(float64(r.wire)/float64(r.items), "wire-bytes/doc")
	b.ReportMetric(float64(r.raw)/float64(r.wire), "ratio")
	b.ReportMetric(float64(r.rssKiB)/1024, "peak-rss-MiB")
	if floorPerLine > 0 {
		b.ReportMetric(perLine/floorPerLine, "x-floor")
	}
}

// floorCPU is the floor's CPU per line measured in this run, for x-floor.
var floorCPU struct {
	sync.Mutex
	perLine float64
}

// runProcess runs cmd to completion (or, with until, until the fake has n
// items, then stops it with SIGTERM) and collects the result.
func runProcess(b *testing.B, cmd *exec.Cmd, fake *fakeES, n int, until bool) wholeResult {
	b.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	fake.reset()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	if until {
		deadline := time.Now().Add(10 * time.Minute)
		for fake.items.Load() < int64(n) {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				b.Fatalf("after 10 minutes the fake has %d of %d documents\n%s", fake.items.Load(), n, stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGTERM)
	}
	if err := cmd.Wait(); err != nil {
		b.Fatalf("%v: %v\n%s", cmd.Args, err, stderr.String())
	}
	if got := fake.items.Load(); got != int64(n) {
		b.Fatalf("delivered %d documents, want %d\n%s", got, n, stderr.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return wholeResult{
		cpu:    cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(),
		rssKiB: ru.Maxrss, items: fake.items.Load(), wire: fake.wire.Load(), raw: fake.raw.Load(),
	}
}

// wholeCases are the shipper settings compared by each input's benchmark.
var wholeCases = []struct{ name, args string }{
	{"default", ""}, // no compression
	{"gzip1", "--compression=gzip"},
}

func shipperArgs(esURL, extra string) []string {
	args := []string{"--elasticsearch-url=" + esURL, "--templates=skip", "--log-level=warn"}
	if extra != "" {
		args = append(args, extra)
	}
	if e := os.Getenv("SHIPPER_BENCH_ARGS"); e != "" {
		args = append(args, splitArgs(e)...)
	}
	return args
}

func splitArgs(s string) []string {
	var out []string
	for _, f := range bytes.Fields([]byte(s)) {
		out = append(out, string(f))
	}
	return out
}

// BenchmarkWholePath is the headline: the floor (read, frame and POST the
// raw lines: no parsing, no bulk items) and the shipper reading the same
// lines on stdin, from CRI and json-file log files, and over Fluent Forward,
// each with the default settings (no compression) and with gzip level 1. Per run it reports
// CPU-seconds per million lines, lines per CPU-second, bulk bytes per
// document before compression and on the wire, the compression ratio (an
// unrealistically repetitive corpus shows here), peak RSS and x-floor: CPU
// per line over the floor's in the same benchmark run.
func BenchmarkWholePath(b *testing.B) {
	lines := benchLines()
	bin := benchBinary(b)
	fake := &fakeES{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	raw := corpusFile(b, corpus.Raw)

	b.Run("floor", func(b *testing.B) {
		var sum wholeResult
		for i := 0; i < b.N; i++ {
			in, _ := os.Open(raw)
			cmd := pinned(self, "-test.run=^$")
			cmd.Env = append(os.Environ(), "SHIPPER_BENCH_FLOOR_URL="+srv.URL+"/_floor")
			cmd.Stdin = in
			r := runProcess(b, cmd, fake, lines, false)
			in.Close()
			sum.add(r)
		}
		sum.report(b, lines*b.N, 0)
		floorCPU.Lock()
		floorCPU.perLine = sum.cpu.Seconds() / float64(lines*b.N)
		floorCPU.Unlock()
	})
	floor := func() float64 { floorCPU.Lock(); defer floorCPU.Unlock(); return floorCPU.perLine }

	for _, tc := range wholeCases {
		b.Run("stdin/"+tc.name, func(b *testing.B) {
			var sum wholeResult
			for i := 0; i < b.N; i++ {
				in, _ := os.Open(raw)
				cmd := pinned(append([]string{bin}, shipperArgs(srv.URL, tc.args)...)...)
				cmd.Stdin = in
				sum.add(runProcess(b, cmd, fake, lines, false))
				in.Close()
			}
			sum.report(b, lines*b.N, floor())
		})
	}
	for _, f := range []struct {
		name   string
		format corpus.Format
	}{{"file-cri", corpus.CRI}, {"file-docker", corpus.DockerJSON}} {
		src := corpusFile(b, f.format)
		for _, tc := range wholeCases {
			b.Run(f.name+"/"+tc.name, func(b *testing.B) {
				var sum wholeResult
				for i := 0; i < b.N; i++ {
					// The file as the kubelet names it, read through
					// its /var/log/containers link as the DaemonSet
					// does, so that the path fields are those of a
					// real node.
					root := b.TempDir()
					dir := filepath.Join(root, "pods", "shop_checkout-7d9f8b6c5d-x2k4q_0b5c1d2e-3f4a-5b6c-7d8e-9f0a1b2c3d4e", "checkout")
					os.MkdirAll(dir, 0o755)
					os.MkdirAll(filepath.Join(root, "containers"), 0o755)
					target := filepath.Join(dir, "0.log")
					path := filepath.Join(root, "containers", "checkout-7d9f8b6c5d-x2k4q_shop_checkout-7f3a9c2e5b8d1f4a6c0e2b9d7f5a3c1e8b6d4f2a0c9e7b5d3f1a8c6e4b2d0f9a.log")
					if err := os.Symlink(src, target); err != nil {
						b.Fatal(err)
					}
					if err := os.Symlink(target, path); err != nil {
						b.Fatal(err)
					}
					args := append([]string{bin, "--input=file", "--file-paths=" + path, "--file-start-at=beginning",
						"--state-dir=" + b.TempDir(), "--node-name=node-1"}, shipperArgs(srv.URL, tc.args)...)
					sum.add(runProcess(b, pinned(args...), fake, lines, true))
				}
				sum.report(b, lines*b.N, floor())
			})
		}
	}
	for _, fw := range []struct {
		name  string
		batch int
	}{{"forward-docker", 1}, {"forward-batched", 1000}} {
		for _, tc := range wholeCases {
			b.Run(fw.name+"/"+tc.name, func(b *testing.B) {
				var sum wholeResult
				for i := 0; i < b.N; i++ {
					sum.add(runForward(b, bin, srv.URL, tc.args, fake, raw, lines, fw.batch))
				}
				sum.report(b, lines*b.N, floor())
			})
		}
	}
}

func (r *wholeResult) add(o wholeResult) {
	r.cpu += o.cpu
	r.rssKiB = max(r.rssKiB, o.rssKiB)
	r.items += o.items
	r.wire += o.wire
	r.raw += o.raw
}

// runForward starts the shipper's Forward input and sends it the corpus
// lines as Docker's fluentd driver records them ({container_id,
// container_name, source, log}): one record per Message-mode request when
// batch is 1 (what the driver does), else PackedForward requests of batch
// entries. The client runs in the benchmark process.
func runForward(b *testing.B, bin, esURL, extra string, fake *fakeES, raw string, lines, batch int) wholeResult {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	args := append([]string{bin, "--input=forward", "--forward-address=" + addr}, shipperArgs(esURL, extra)...)
	cmd := pinned(args...)
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		if err := sendForward(addr, raw, batch); err != nil {
			b.Error(err)
		}
	}()
	res := runProcess(b, cmd, fake, lines, true)
	<-sent
	return res
}

// sendForward connects to addr (retrying while the shipper starts) and
// sends the lines of the file raw.
func sendForward(addr, raw string, batch int) error {
	var conn net.Conn
	var err error
	for deadline := time.Now().Add(time.Minute); ; {
		if conn, err = net.Dial("tcp", addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("shipper does not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer conn.Close()
	in, err := os.Open(raw)
	if err != nil {
		return err
	}
	defer in.Close()
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	w := bufio.NewWriterSize(conn, 256<<10)
	var req, entries []byte
	n := 0
	t0 := corpus.Start.Unix()
	record := func(dst, line []byte) []byte {
		dst = msgp.AppendMapHeader(dst, 4)
		dst = msgp.AppendString(dst, "container_id")
		dst = msgp.AppendString(dst, "7f3a9c2e5b8d1f4a6c0e2b9d7f5a3c1e8b6d4f2a0c9e7b5d3f1a8c6e4b2d0f9a")
		dst = msgp.AppendString(dst, "container_name")
		dst = msgp.AppendString(dst, "/shop-checkout-1")
		dst = msgp.AppendString(dst, "source")
		dst = msgp.AppendString(dst, "stdout")
		dst = msgp.AppendString(dst, "log")
		return msgp.AppendStringFromBytes(dst, line)
	}
	flush := func() {
		req = msgp.AppendArrayHeader(req[:0], 2)
		req = msgp.AppendString(req, "docker.checkout")
		req = msgp.AppendBytes(req, entries)
		w.Write(req)
		entries = entries[:0]
	}
	for sc.Scan() {
		if batch == 1 {
			req = msgp.AppendArrayHeader(req[:0], 3)
			req = msgp.AppendString(req, "docker.checkout")
			req = msgp.AppendInt64(req, t0+int64(n/1000))
			req = record(req, sc.Bytes())
			w.Write(req)
		} else {
			entries = msgp.AppendArrayHeader(entries, 2)
			entries = msgp.AppendInt64(entries, t0+int64(n/1000))
			entries = record(entries, sc.Bytes())
			if (n+1)%batch == 0 {
				flush()
			}
		}
		n++
	}
	if len(entries) > 0 {
		flush()
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("cannot send Forward requests: %w", err)
	}
	// Keep the connection open until the shipper is stopped: closing it
	// early is fine for the shipper, but the benchmark measures delivery.
	io.Copy(io.Discard, conn)
	return nil
}

// runFloor is the floor program, run by BenchmarkWholePath as a child
// process of the test binary: it reads stdin in 256 KiB chunks, frames the
// lines, copies them into 4 MiB bodies and POSTs each to url. That is the
// least a shipper must do; the shipper's CPU over the floor's is the price
// of parsing, enrichment, bulk encoding and compression.
func runFloor(url string) error {
	buf := make([]byte, 256<<10)
	body := make([]byte, 0, 5<<20)
	post := func() error {
		res, err := http.Post(url, "application/x-ndjson", bytes.NewReader(body))
		if err != nil {
			return err
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		body = body[:0]
		return nil
	}
	carry := 0
	for {
		n, err := os.Stdin.Read(buf[carry:])
		data := buf[:carry+n]
		for {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				break
			}
			body = append(body, data[:i+1]...)
			data = data[i+1:]
			if len(body) >= 4<<20 {
				if err := post(); err != nil {
					return err
				}
			}
		}
		carry = copy(buf, data)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if len(body) > 0 {
		return post()
	}
	return nil
}

// floorMain runs the floor program instead of the tests when the test binary
// is started by BenchmarkWholePath for it.
func floorMain() {
	if url := os.Getenv("SHIPPER_BENCH_FLOOR_URL"); url != "" {
		if err := runFloor(url); err != nil {
			fmt.Fprintln(os.Stderr, "floor:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}
