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

	"shipper/internal/checkpoint"
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

// A line longer than the read buffer is assembled in a buffer of its own,
// cut where the budget runs out. Cut to nothing (the budget spent when it
// began), a CRI line lost its prefix: the first line of a file made the
// format detection guess plain (every "P" piece shipped as a record of its
// own, the whole file as plain lines), and in a file known to be CRI the
// piece became a malformed record beside its sequence, which went on
// without it and let the checkpoint pass its start (a restart left the
// piece out of the record). 20 to 70 documents too many in the whole-
// process worst case with 64 KiB read buffers. The cut keeps the line's
// head: the prefix, so the piece is framed as what it is, only its content
// cut.
func TestBudgetCutLineKeepsItsFraming(t *testing.T) {
	const bufSize = 4 << 10
	long := func(c string) string { return strings.Repeat(c, 3*bufSize) }
	lines := []string{
		ts1 + " stdout P " + long("a"), // the first line, longer than the buffer
		ts1 + " stderr F one",
		ts1 + " stderr F two",
		ts1 + " stdout P " + long("b"),
		ts1 + " stderr F three",
		ts1 + " stdout F end",
		ts1 + " stdout F " + long("c"),
		ts1 + " stderr F four",
	}
	file := strings.Join(lines, "\n") + "\n"
	starts := make([]int64, len(lines)+1) // of each line; the last: the file's end
	for i, l := range lines {
		starts[i+1] = starts[i] + int64(len(l)) + 1
	}
	whole := func(i int, content string, commit int64) rec {
		return rec{Content: content, Size: len(content), Time: t1, Stream: StreamStderr, Start: starts[i], End: starts[i+1], Commit: commit}
	}
	for _, format := range []Format{FormatAuto, FormatCRI} {
		t.Run(format.String(), func(t *testing.T) {
			// The read buffer takes the whole budget: nothing is left for
			// the long lines or the record they join into.
			b := NewBudget(bufSize)
			got := decodeFile(t, DecoderConfig{Format: format, MaxRecordBytes: 64 << 10, Budget: b}, []byte(file), bufSize, 64<<10)
			var cut string // what the budget let the line of "c" keep
			if len(got) == 6 {
				cut = got[4].Content
			}
			wantRecs(t, got,
				whole(1, "one", 0), // the "P" sequence open from offset 0
				whole(2, "two", 0),
				whole(4, "three", 0),
				rec{Size: 2*len(long("a")) + len("end"), Time: t1, Stream: StreamStdout, Flags: Truncated, Start: 0, End: starts[6], Commit: starts[6]},
				rec{Content: cut, Size: len(long("c")), Time: t1, Stream: StreamStdout, Flags: Truncated, Start: starts[6], End: starts[7], Commit: starts[7]},
				whole(7, "four", starts[8]),
			)
			if cut == "" || cut != long("c")[:len(cut)] {
				t.Fatalf("the cut line kept %q, want the start of its content", cut)
			}
			if now, _ := b.Used(); now != 0 {
				t.Errorf("%d bytes still taken after every buffer was given back", now)
			}
		})
	}
}

// The same through the whole source, across a crash and a restart: a CRI
// record whose "P" piece is longer than the read buffer, read with the
// budget spent. The checkpoint moves only past complete, delivered records:
// it stays at the start of the line being read when the process dies in
// the middle of it, and at the start of the open "P" sequence while other
// records after it are delivered. Before, the piece cut to nothing was
// shipped as a malformed record of its own, the checkpoint passed it, and
// the record read after a restart lacked it.
func TestBudgetCutPieceAcrossRestarts(t *testing.T) {
	const readBytes = 4 << 10
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "pod.log")
	cfg := testConfig(dir, state, "*.log")
	cfg.ReadBytes = readBytes
	cfg.BufferBytes = readBytes // the read buffer takes the whole budget
	half := strings.Repeat("a", 3*readBytes/2)
	zero := ts1 + " stderr F zero\n"
	pStart := int64(len(zero))
	checkpointAt := func(what string, want int64) {
		t.Helper()
		st, err := checkpoint.Open(state, testLogger())
		if err != nil {
			t.Fatal(err)
		}
		if e, ok := checkpointOf(st, path); !ok || e.Offset != want {
			t.Fatalf("%s: checkpoint %+v (found %v), want offset %d", what, e, ok, want)
		}
	}

	// Killed in the middle of the piece's line.
	appendFile(t, path, zero+ts1+" stdout P "+half)
	r := startRun(t, cfg, pipeline.Config{})
	r.waitDocs(1)
	waitFor(t, "the file to be read", func() bool { return r.src.Stats().Bytes >= uint64(pStart)+uint64(len(half)) })
	time.Sleep(3 * cfg.CheckpointInterval) // checkpoint written
	r.crash()
	wantMessages(t, messages(r.sink.snapshot(), ""), "zero\n")
	checkpointAt("killed in the middle of a line", pStart)

	// The piece complete, the record not: the lines after it are
	// delivered, the checkpoint stays at the piece.
	appendFile(t, path, half+"\n"+ts1+" stderr F one\n"+ts1+" stderr F two\n")
	r = startRun(t, cfg, pipeline.Config{})
	r.waitDocs(2)
	r.stop()
	first := r.sink.snapshot()
	wantMessages(t, messages(first, ""), "one\ntwo\n")
	checkpointAt("a record open", pStart)

	// Its end: read again from the piece.
	appendFile(t, path, ts1+" stdout F end\n"+ts1+" stderr F three\n")
	r = startRun(t, cfg, pipeline.Config{})
	r.waitDocs(4)
	r.stop()
	docs := r.sink.snapshot()
	content := half + half + "end"
	if len(docs) != 4 {
		t.Fatalf("%d documents, want 4: %v", len(docs), messages(docs, ""))
	}
	wantMessages(t, append(messages(docs[:2], ""), messages(docs[3:], "")...), "one\ntwo\nthree\n")
	for i, d := range first {
		if docs[i].ID != d.ID {
			t.Errorf("%q: id %s, %s when read again", d.M["message"], d.ID, docs[i].ID)
		}
	}
	j := docs[2].M
	if m, _ := j["message"].(string); j["stream"] != "stdout" || j["log.offset"] != float64(pStart) ||
		j["log.original_size"] != float64(len(content)) || fmt.Sprint(j["log.flags"]) != "[truncated]" || m != content[:len(m)] {
		t.Fatalf("joined record %s, want stdout at offset %d, cut from %d bytes of %q", docs[2].Raw, pStart, len(content), content[:8])
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	checkpointAt("everything delivered", fi.Size())
}
