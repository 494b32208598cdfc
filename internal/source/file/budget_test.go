package file

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"shipper/internal/pipeline"
)

func TestBudgetTakeGive(t *testing.T) {
	b := NewBudget(100)
	if !b.TryTake(60) || b.TryTake(50) || !b.TryTake(40) {
		t.Fatalf("take 60, 50, 40 of 100: want yes, no, yes")
	}
	b.Give(100)
	if now, peak := b.Used(); now != 0 || peak != 100 {
		t.Fatalf("used %d peak %d, want 0 and 100", now, peak)
	}
	var held int
	buf := b.grow(nil, 80, 1000, &held)
	if cap(buf) < 80 || held != cap(buf) {
		t.Fatalf("grow: cap %d held %d", cap(buf), held)
	}
	buf = buf[:80]
	more := b.grow(buf, 500, 1000, &held)
	if cap(more) != cap(buf) {
		t.Fatalf("grow past the budget: cap %d, want %d kept (cut)", cap(more), cap(buf))
	}
	var none *Budget
	if !none.TryTake(1 << 40) {
		t.Fatal("nil budget must be unlimited")
	}
}

// memSampler samples the Go heap in use and the resident set size until
// stopped, keeping the peaks.
type memSampler struct {
	stop           chan struct{}
	done           chan struct{}
	heapPeak, rss0 uint64
	rssPeak        atomic.Uint64
}

func rss() uint64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

func startSampler() *memSampler {
	m := &memSampler{stop: make(chan struct{}), done: make(chan struct{}), rss0: rss()}
	go func() {
		defer close(m.done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			m.heapPeak = max(m.heapPeak, ms.HeapInuse)
			if r := rss(); r > m.rssPeak.Load() {
				m.rssPeak.Store(r)
			}
			select {
			case <-m.stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return m
}

func (m *memSampler) end() { close(m.stop); <-m.done }

// Many files with huge lines, all held at once: every file has a complete
// line longer than the record cap and an unterminated one being assembled.
// The file buffers stay within Config.BufferBytes, and the Go heap within
// the documented bound (twice the file and pipeline budgets, GOGC=100, plus
// a fixed allowance for the rest of the process); without the budget, every
// file held its read buffer and the buffer of its long line (over 1 MiB
// each): 137 MB of buffers, 269 MiB of heap.
func TestBufferBudgetManyFilesHugeLines(t *testing.T) {
	const (
		files     = 100
		budget    = 16 << 20
		pipeBytes = 8 << 20
		allowance = 16 << 20 // goroutines, file states, the test's data
	)
	dir, state := t.TempDir(), t.TempDir()
	long := strings.Repeat("x", 1500<<10)
	for i := 0; i < files; i++ {
		appendFile(t, filepath.Join(dir, fmt.Sprintf("f%03d.log", i)), fmt.Sprintf("start %d\n%s\nhalf %d %s", i, long, i, long[:1200<<10]))
	}
	cfg := testConfig(dir, state, "*.log")
	cfg.BufferBytes = budget
	pipe := pipeline.New(pipeline.Config{MaxBytes: pipeBytes, BatchBytes: 2 << 20, FlushInterval: 20 * time.Millisecond})
	src, err := New(cfg, pipe, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	// A sink that keeps nothing: only counts.
	var docs, truncated atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for b := range pipe.Batches() {
			for i := range b.Items {
				docs.Add(1)
				if bytes.Contains(b.Document(i), []byte(`"log.flags":["truncated"]`)) {
					truncated.Add(1)
				}
			}
			b.Done()
		}
	}()
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	m := startSampler()
	ctx, cancel := context.WithCancel(context.Background())
	qctx, qstop := context.WithCancel(context.Background())
	defer qstop()
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, qctx) }()

	// Everything but the unterminated lines: 3 records per file.
	waitFor(t, "the complete lines", func() bool { return docs.Load() >= 2*files })
	for i := 0; i < files; i++ {
		appendFile(t, filepath.Join(dir, fmt.Sprintf("f%03d.log", i)), "\n")
	}
	waitFor(t, "the completed lines", func() bool { return docs.Load() >= 3*files })
	m.end()
	st := src.Stats()
	cancel()
	<-done
	qstop()
	pipe.Close()
	wg.Wait()

	heap := int64(m.heapPeak) - int64(base.HeapInuse)
	// Garbage is collected when the heap has doubled (GOGC=100): the heap
	// holds at most twice what is live.
	bound := int64(2*(budget+pipeBytes) + allowance)
	t.Logf("%d files, %d documents (%d truncated); file buffers peak %d bytes (budget %d), %d reads put off; "+
		"Go heap peak %d MiB over the start (bound %d MiB); RSS %d -> %d MiB (race detector: %v)",
		files, docs.Load(), truncated.Load(), st.BufferPeak, budget, st.BudgetWaits,
		heap>>20, bound>>20, m.rss0>>20, m.rssPeak.Load()>>20, raceEnabled)
	if st.BufferPeak > budget+2<<20 { // json-file unescaping may overshoot by one line
		t.Errorf("file buffers peaked at %d bytes, budget %d", st.BufferPeak, budget)
	}
	if heap > bound {
		t.Errorf("Go heap peaked %d MiB over the start, want at most %d MiB (file budget + pipeline budget + %d MiB)",
			heap>>20, bound>>20, allowance>>20)
	}
	if rssGrowth := int64(m.rssPeak.Load()) - int64(m.rss0); !raceEnabled && rssGrowth > bound+32<<20 {
		t.Errorf("RSS grew by %d MiB, want at most %d MiB (heap bound + 32 MiB runtime overhead)", rssGrowth>>20, (bound+32<<20)>>20)
	}
	if docs.Load() != 3*files {
		t.Errorf("%d documents, want %d", docs.Load(), 3*files)
	}
}

// Read buffers of many busy files cannot take the whole budget: a record
// being assembled (here a CRI record in P pieces) still gets room. With
// every byte of the budget in read buffers, such a record of a hundred
// bytes was cut and flagged truncated, its content lost (the crash-and-
// rotate test with the file input's budget at 8 MiB: hundreds of files
// opened while catching up).
func TestReadBuffersLeaveRoomForRecords(t *testing.T) {
	const budget = 16 * DefaultBufSize
	b := NewBudget(budget)
	var readers []*LineReader
	for i := 0; i < 32; i++ {
		r := NewLineReader(strings.NewReader("a line\n"), DefaultBufSize, 0, 0)
		r.SetBudget(b)
		if _, err := r.Fill(); err == ErrNoBudget {
			break
		}
		readers = append(readers, r)
	}
	if len(readers) != 8 {
		t.Errorf("%d read buffers of %d bytes taken from a budget of %d, want 8 (half the budget)", len(readers), DefaultBufSize, budget)
	}
	j := &joiner{mem: b}
	j.begin(0, 0)
	piece := []byte(`{"seq":1164,"msg":"the first half of a record`)
	j.add(piece, len(piece), DefaultMaxLineBytes)
	if j.flags&Truncated != 0 || !bytes.Equal(j.buf, piece) {
		t.Fatalf("record piece %q kept as %q (flags %v) beside %d busy readers", piece, j.buf, j.flags, len(readers))
	}
	for _, r := range readers {
		r.Release()
	}
	j.release()
	if now, _ := b.Used(); now != 0 {
		t.Errorf("%d bytes still taken after every buffer was given back", now)
	}
}
