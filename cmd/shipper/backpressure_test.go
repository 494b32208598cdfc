package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// blockingES is a fake Elasticsearch whose bulk endpoint holds every request
// until release is closed, then indexes everything.
type blockingES struct {
	release chan struct{}
	items   atomic.Int64
	bulks   atomic.Int64
}

func (f *blockingES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/_cluster/health":
		io.WriteString(w, `{"status":"green"}`)
	case strings.HasSuffix(r.URL.Path, "/_bulk"):
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		f.bulks.Add(1)
		select {
		case <-f.release:
		case <-r.Context().Done():
			return
		}
		n := bytes.Count(body, []byte{'\n'}) / 2
		var resp bytes.Buffer
		resp.WriteString(`{"errors":false,"items":[`)
		for i := 0; i < n; i++ {
			if i > 0 {
				resp.WriteByte(',')
			}
			resp.WriteString(`{"create":{"status":201}}`)
		}
		resp.WriteString(`]}`)
		f.items.Add(int64(n))
		w.Write(resp.Bytes())
	default:
		http.NotFound(w, r)
	}
}

// TestBackpressureBoundsMemory runs the shipper against an Elasticsearch that
// does not answer: reading must stop once the byte budget is full, memory
// must stay bounded, and once Elasticsearch answers everything is delivered.
func TestBackpressureBoundsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := shipperBinary(t, false) // no race detector: it multiplies memory
	fake := &blockingES{release: make(chan struct{})}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	released := false
	defer func() {
		if !released {
			close(fake.release)
		}
	}()

	const budget = 4 << 20
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--elasticsearch-url="+srv.URL, "--templates=skip", "--compression=none",
		"--buffer-bytes="+strconv.Itoa(budget), "--batch-bytes=256KiB", "--flush-interval=100ms",
		"--http-address=127.0.0.1:0", "--dataset=backpressure")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := logsOf(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := stderr

	// Write as fast as the shipper reads: 200,000 lines of ~190 bytes (38 MB),
	// far more than the budget.
	const total = 200000
	var written, linesWritten atomic.Int64
	writeErr := make(chan error, 1)
	go func() {
		w := bufio.NewWriterSize(stdin, 64<<10)
		for i := 0; i < total; i++ {
			n, err := fmt.Fprintf(w, `{"time":"2026-11-23T10:00:00.000Z","level":"info","msg":"request served","seq":%d,"path":"/api/v1/items","status":200,"duration_ms":12.5}`+"\n", i)
			if err != nil {
				writeErr <- err
				return
			}
			written.Add(int64(n))
			linesWritten.Add(1)
		}
		if err := w.Flush(); err != nil {
			writeErr <- err
			return
		}
		writeErr <- stdin.Close()
	}()

	// Wait until reading has stalled: no progress for a full second.
	var last int64 = -1
	stalled := false
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		time.Sleep(time.Second)
		n := written.Load()
		if n == last {
			stalled = true
			break
		}
		last = n
	}
	if !stalled {
		t.Fatalf("the shipper kept reading (%d bytes) although Elasticsearch answered nothing\n%s", written.Load(), logs)
	}
	// What the shipper took in is bounded by the budget (encoded documents
	// are larger than the lines), its read buffer (1 MiB line limit + 256 KiB)
	// and the pipe and writer buffers.
	if n := written.Load(); n > budget+3<<20 || n < 512<<10 {
		t.Fatalf("read %d bytes before stalling; want between 512 KiB and budget+3 MiB (%d)", n, budget+3<<20)
	}
	addr := ""
	if l := logs.find("serving /healthz, /readyz and /metrics"); l != nil {
		addr, _ = l["address"].(string)
	}
	if addr == "" {
		t.Fatalf("no status address logged\n%s", logs)
	}
	m := scrape(t, "http://"+addr+"/metrics")
	if m["shipper_buffer_used_bytes"] > m["shipper_buffer_max_bytes"] || m["shipper_buffer_max_bytes"] != budget {
		t.Fatalf("budget overrun: used %v of %v", m["shipper_buffer_used_bytes"], m["shipper_buffer_max_bytes"])
	}
	if lines := m["shipper_stdin_lines_total"]; lines == 0 || int64(lines) > linesWritten.Load() {
		t.Fatalf("shipper_stdin_lines_total %v: want the lines read so far (at most the %d written)", lines, linesWritten.Load())
	}
	if m["shipper_buffer_waits_total"] == 0 {
		t.Fatalf("no backpressure wait counted: %v", m)
	}
	hwm := vmKiB(cmd.Process.Pid, "VmHWM")
	t.Logf("stalled after reading %d bytes (%d lines); buffer used %v of %v; peak RSS %d KiB; %d bulk requests held",
		written.Load(), int64(m["shipper_stdin_lines_total"]), m["shipper_buffer_used_bytes"], budget, hwm, fake.bulks.Load())
	if hwm <= 0 || hwm > 48<<10 {
		t.Fatalf("peak RSS %d KiB while blocked; want under 48 MiB", hwm)
	}

	// Elasticsearch answers: everything is delivered and the shipper exits 0.
	close(fake.release)
	released = true
	if err := <-writeErr; err != nil {
		t.Fatalf("writing lines: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("shipper exited with %v\n%s", err, logs)
	}
	<-logs.done
	if got := fake.items.Load(); got != total {
		t.Fatalf("delivered %d documents, want %d\n%s", got, total, logs)
	}
	if hwm := num(logs.find("shipper stopped"), "stdin.lines"); hwm != total {
		t.Fatalf("summary: %d lines read, want %d", hwm, total)
	}
}

// scrape reads a Prometheus text page into name -> value.
func scrape(t testing.TB, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		if f := strings.Fields(line); len(f) == 2 {
			v, _ := strconv.ParseFloat(f[1], 64)
			out[f[0]] = v
		}
	}
	return out
}
