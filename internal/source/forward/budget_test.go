package forward

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"shipper/internal/pipeline"
)

// acquireAsync runs acquire in a goroutine; the channel gets its error.
func acquireAsync(ctx context.Context, b *bufferBudget, dead <-chan struct{}, n int64, gz, high bool) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := b.acquire(ctx, dead, n, gz, high, nil)
		done <- err
	}()
	return done
}

// waitWaiting waits until n acquisitions wait.
func waitWaiting(t *testing.T, b *bufferBudget, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for b.stats().waiting != n {
		if time.Now().After(deadline) {
			t.Fatalf("waiting: got %d, want %d", b.stats().waiting, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func granted(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("acquire: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("acquire still waiting")
	}
}

func stillWaiting(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("acquire returned %v, want it still waiting", err)
	case <-time.After(20 * time.Millisecond):
	}
}

// TestBufferBudgetOrder: readers are served first come first served, even
// when a later one would fit; a decompression waiter goes first, and no
// reader passes it.
func TestBufferBudgetOrder(t *testing.T) {
	ctx := context.Background()
	b := newBufferBudget(100, 40)
	if waited, err := b.acquire(ctx, nil, 70, false, false, nil); err != nil || waited {
		t.Fatalf("first acquire: waited %v, %v", waited, err)
	}
	big := acquireAsync(ctx, b, nil, 50, false, false)
	waitWaiting(t, b, 1)
	small := acquireAsync(ctx, b, nil, 10, false, false) // fits, but big came first
	waitWaiting(t, b, 2)
	stillWaiting(t, small)
	if b.tryAcquire(1, false) {
		t.Fatal("tryAcquire succeeded with waiters")
	}
	b.release(70, false)
	granted(t, big)
	granted(t, small)
	if st := b.stats(); st.used != 60 || st.peak != 70 || st.waits != 2 || st.waiting != 0 {
		t.Fatalf("stats: %+v", st)
	}

	// used 60 (50 + 10): a decompression of 45 waits, then a reader of 30
	// that would fit waits behind it; the reader is served once the
	// decompression was.
	decomp := acquireAsync(ctx, b, nil, 45, false, true)
	waitWaiting(t, b, 1)
	reader := acquireAsync(ctx, b, nil, 30, false, false)
	waitWaiting(t, b, 2)
	stillWaiting(t, reader)
	b.release(10, false) // 50 + 45 fit
	granted(t, decomp)
	stillWaiting(t, reader) // 95 + 30 do not
	b.release(50, false)
	granted(t, reader)
	b.release(45+30, false)
	if st := b.stats(); st.used != 0 || st.peak != 95 {
		t.Fatalf("stats: %+v", st)
	}
}

// TestBufferBudgetGzLimit: reads that may need decompression leave room for
// one decompression; other reads may use it.
func TestBufferBudgetGzLimit(t *testing.T) {
	ctx := context.Background()
	b := newBufferBudget(100, 40)
	if _, err := b.acquire(ctx, nil, 60, true, false, nil); err != nil {
		t.Fatal(err)
	}
	gz := acquireAsync(ctx, b, nil, 1, true, false)
	waitWaiting(t, b, 1)
	if b.tryAcquire(1, true) {
		t.Fatal("gz tryAcquire past gzLimit succeeded")
	}
	b.release(60, true)
	granted(t, gz)
	if !b.tryAcquire(99, false) {
		t.Fatal("a plain read cannot use the whole budget")
	}
	b.release(99, false)
	b.release(1, true)
	if st := b.stats(); st.used != 0 || st.peak != 100 {
		t.Fatalf("stats: %+v", st)
	}
}

func TestBufferBudgetReleasePanics(t *testing.T) {
	b := newBufferBudget(100, 40)
	b.tryAcquire(10, false)
	defer func() {
		if recover() == nil {
			t.Fatal("releasing more than taken did not panic")
		}
	}()
	b.release(10, true)
}

// TestBufferBudgetCancel: a wait ends with its context or the connection's
// close, takes nothing, and lets the waiters behind it go.
func TestBufferBudgetCancel(t *testing.T) {
	b := newBufferBudget(100, 40)
	if _, err := b.acquire(context.Background(), nil, 60, false, false, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	big := acquireAsync(ctx, b, nil, 50, false, false)
	waitWaiting(t, b, 1)
	dead := make(chan struct{})
	closed := acquireAsync(context.Background(), b, dead, 45, false, false)
	waitWaiting(t, b, 2)
	small := acquireAsync(context.Background(), b, nil, 40, false, false)
	waitWaiting(t, b, 3)
	cancel()
	if err := <-big; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: got %v, want context.Canceled", err)
	}
	stillWaiting(t, small) // behind the 45
	close(dead)
	if err := <-closed; !errors.Is(err, errConnClosed) {
		t.Fatalf("closed connection's wait: got %v, want errConnClosed", err)
	}
	granted(t, small)
	if st := b.stats(); st.used != 100 || st.waiting != 0 {
		t.Fatalf("stats: %+v", st)
	}
}

// TestBufferBudgetTooLarge: more than the budget can ever lend fails at once.
func TestBufferBudgetTooLarge(t *testing.T) {
	b := newBufferBudget(100, 40)
	ctx := context.Background()
	if _, err := b.acquire(ctx, nil, 101, false, true, nil); !errors.Is(err, ErrLimit) {
		t.Errorf("101 of 100: got %v, want ErrLimit", err)
	}
	if _, err := b.acquire(ctx, nil, 61, true, false, nil); !errors.Is(err, ErrLimit) {
		t.Errorf("gz 61 of 60: got %v, want ErrLimit", err)
	}
	if st := b.stats(); st.used != 0 || st.waits != 0 {
		t.Errorf("stats: %+v", st)
	}
}

// TestBufferBudgetBeforeWait: what the caller gives back before waiting can
// spare it the wait.
func TestBufferBudgetBeforeWait(t *testing.T) {
	b := newBufferBudget(100, 40)
	b.tryAcquire(80, false)
	waited, err := b.acquire(context.Background(), nil, 50, false, false, func() { b.release(80, false) })
	if err != nil || waited {
		t.Fatalf("got waited %v, %v; want no wait", waited, err)
	}
}

// TestBufferBudgetNoDeadlock plays the connections' protocol with random
// sizes: a read reservation (maybe gz) taken holding nothing, a
// decompression buffer taken holding only a gz read, growth only when free at
// once. Every worker must finish and the budget never be exceeded.
func TestBufferBudgetNoDeadlock(t *testing.T) {
	const maxRead, maxZ = 1000, 3000
	b := newBufferBudget(maxRead+maxZ, maxZ)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range 300 {
				read := 1 + rng.Int64N(maxRead)
				gz := rng.IntN(2) == 0
				if _, err := b.acquire(ctx, nil, read, gz, false, nil); err != nil {
					t.Error(err)
					return
				}
				if gz {
					z := 1 + rng.Int64N(maxZ/2)
					if _, err := b.acquire(ctx, nil, z, false, true, nil); err != nil {
						t.Error(err)
						return
					}
					if more := rng.Int64N(maxZ - z + 1); b.tryAcquire(more, false) {
						z += more
					}
					runtime.Gosched()
					b.release(z, false)
				}
				runtime.Gosched()
				b.release(read, gz)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("workers stuck: %+v", b.stats())
	}
	st := b.stats()
	t.Logf("%d waits", st.waits)
	if st.used != 0 || st.peak > maxRead+maxZ {
		t.Fatalf("stats: %+v, want nothing used, peak at most %d", st, maxRead+maxZ)
	}
}

// waitStats waits until ok holds for the server's stats.
func waitStats(t *testing.T, h *harness, what string, ok func(ServerStats) bool) ServerStats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := h.srv.Stats()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s; stats %+v", what, st)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// hexEntries returns n entries whose log is 1000 random hex digits: they
// compress to about half.
func hexEntries(rng *rand.Rand, n int) menc {
	var e menc
	buf := make([]byte, 500)
	for range n {
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		e = e.arr(2).int(t0).mapStr("log", hex.EncodeToString(buf))
	}
	return e
}

// budgetLimits make a budget of 512 KiB with two Forward mode requests
// of 150 KiB stopped halfway holding all of it: each reserves the largest
// request, its size being unknown before its end.
var budgetLimits = Limits{MaxRequestBytes: 256 << 10, MaxDecompressedBytes: 256 << 10}

const budgetBytes = 512 << 10

func forwardReq(tag string, n int, chunk string) menc {
	return mp().arr(3).str(tag).arr(n).bytes(bigEntries(n)).mapStr("chunk", chunk)
}

// holdBudget starts two such requests and waits until they hold the budget;
// finish sends their rest and reads their acks.
func holdBudget(t *testing.T, h *harness) (finish func(i int)) {
	t.Helper()
	var conns [2]net.Conn
	var reqs [2]menc
	for i := range conns {
		conns[i] = h.dial(t)
		reqs[i] = forwardReq("hold", 150, fmt.Sprint("hold", i))
		write(t, conns[i], reqs[i][:100<<10])
	}
	waitStats(t, h, "budget held", func(st ServerStats) bool { return st.BufferBytes == budgetBytes })
	return func(i int) {
		write(t, conns[i], reqs[i][100<<10:])
		readAck(t, conns[i], fmt.Sprint("hold", i), 10*time.Second)
	}
}

// TestServerBufferBudgetConcurrent: many clients sending large requests at
// once (compressed, packed, Forward mode; several per connection without
// waiting for acks) all get through, and the large buffers never hold more
// than the budget together.
func TestServerBufferBudgetConcurrent(t *testing.T) {
	lim := Limits{MaxRequestBytes: 256 << 10, MaxDecompressedBytes: 512 << 10}
	const budget = 768 << 10
	h := startServer(t, ServerConfig{Limits: lim, BufferBytes: budget}, testPipeline)
	const clients, requests = 12, 4
	var (
		wg      sync.WaitGroup
		records atomic.Int64
		start   = make(chan struct{})
	)
	for cl := range clients {
		c := h.dial(t)
		rng := rand.New(rand.NewPCG(uint64(cl), 2))
		var all menc
		for r := range requests {
			chunk := fmt.Sprintf("c%d-%d", cl, r)
			switch (cl + r) % 3 {
			case 0: // about 350 KiB decompressed, 190 KiB compressed
				all = append(all, mp().arr(3).str("gz").bin(gzipBytes(hexEntries(rng, 350))).mapStr("compressed", "gzip", "chunk", chunk)...)
				records.Add(350)
			case 1:
				all = append(all, mp().arr(3).str("packed").bin(hexEntries(rng, 180)).mapStr("chunk", chunk)...)
				records.Add(180)
			default:
				all = append(all, forwardReq("fwd", 150, chunk)...)
				records.Add(150)
			}
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			_ = c.SetWriteDeadline(time.Now().Add(60 * time.Second))
			if _, err := c.Write(all); err != nil {
				t.Errorf("client %d: write: %v", cl, err)
			}
		}()
		go func() {
			defer wg.Done()
			<-start
			for r := range requests {
				want := AppendAck(nil, []byte(fmt.Sprintf("c%d-%d", cl, r)))
				got := make([]byte, len(want))
				_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
				if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, want) {
					t.Errorf("client %d: ack %d: got %q, %v; want %q", cl, r, got, err, want)
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	h.sink.waitDocs(t, int(records.Load()))
	st := waitStats(t, h, "budget given back", func(st ServerStats) bool { return st.BufferBytes == 0 })
	t.Logf("%d records; budget: peak %d of %d, %d waits", st.Records, st.BufferPeak, budget, st.BufferWaits)
	if st.BufferPeak > budget || st.BufferPeak == 0 || st.BufferWaits == 0 || st.Records != uint64(records.Load()) {
		t.Fatalf("got peak %d, %d waits, %d records; want a peak of at most %d, some waits, %d records",
			st.BufferPeak, st.BufferWaits, st.Records, budget, records.Load())
	}
}

// TestServerBufferBudgetWait: a connection that needs more than is free
// waits without reading, others' small requests go on meanwhile, and it
// proceeds once another gives budget back.
func TestServerBufferBudgetWait(t *testing.T) {
	h := startServer(t, ServerConfig{Limits: budgetLimits, BufferBytes: budgetBytes}, testPipeline)
	finish := holdBudget(t, h)
	b := h.dial(t)
	go func() { _, _ = b.Write(forwardReq("b", 150, "b")) }()
	waitStats(t, h, "one connection waiting", func(st ServerStats) bool { return st.BufferWaiting == 1 })

	small := h.dial(t)
	for i := range 3 {
		write(t, small, msg("small", t0, rec1, mp().mapStr("chunk", fmt.Sprint("s", i))))
		readAck(t, small, fmt.Sprint("s", i), 10*time.Second)
	}
	noAck(t, b, 50*time.Millisecond)

	finish(0)
	readAck(t, b, "b", 10*time.Second)
	finish(1)
	h.sink.waitDocs(t, 3*150+3)
	st := waitStats(t, h, "budget given back", func(st ServerStats) bool { return st.BufferBytes == 0 })
	if st.BufferPeak != budgetBytes || st.BufferWaits != 1 {
		t.Errorf("got peak %d, %d waits; want %d, 1", st.BufferPeak, st.BufferWaits, budgetBytes)
	}
}

// TestServerBufferBudgetCancel: stopping the server ends a wait for budget:
// Run and Drain return, the waiting request is not acknowledged, nothing
// stays held.
func TestServerBufferBudgetCancel(t *testing.T) {
	h := startServer(t, ServerConfig{Limits: budgetLimits, BufferBytes: budgetBytes}, testPipeline)
	holdBudget(t, h)
	b := h.dial(t)
	go func() { _, _ = b.Write(forwardReq("b", 150, "b")) }()
	waitStats(t, h, "one connection waiting", func(st ServerStats) bool { return st.BufferWaiting == 1 })
	stopped := make(chan error, 1)
	go func() { stopped <- h.stop(t) }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Drain: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server not stopped within 10s")
	}
	waitClosed(t, b, 10*time.Second)
	if st := h.srv.Stats(); st.BufferWaiting != 0 || st.BufferBytes != 0 || st.Records != 0 {
		t.Errorf("after stop: %+v", st)
	}
}

// TestServerBufferBudgetOverLimit: a request larger than its share of the
// budget (the limits must fit in it) is refused at once, even with the
// budget all in use: no wait, no deadlock.
func TestServerBufferBudgetOverLimit(t *testing.T) {
	if _, err := NewServer(ServerConfig{Address: "127.0.0.1:0", Limits: budgetLimits, BufferBytes: budgetBytes - 1},
		pipeline.New(testPipeline), testLogger()); err == nil || !strings.Contains(err.Error(), "--forward-buffer-bytes") {
		t.Errorf("budget smaller than the limits: got %v, want an error naming --forward-buffer-bytes", err)
	}
	h := startServer(t, ServerConfig{Limits: budgetLimits, BufferBytes: budgetBytes}, testPipeline)
	finish := holdBudget(t, h)

	c := h.dial(t)
	write(t, c, mp().arr(3).str("big").raw(0xc6).be32(budgetLimits.MaxRequestBytes+1))
	waitClosed(t, c, 10*time.Second)
	h.logs.waitLog(t, `"reason":"over_limit"`, "request size")

	c = h.dial(t)
	bomb := mp().arr(3).str("bomb").bin(gzipBytes(make([]byte, 4<<20))).mapStr("compressed", "gzip")
	write(t, c, bomb)
	waitClosed(t, c, 10*time.Second)
	h.logs.waitLog(t, `"reason":"over_limit"`, "decompressed entries size")

	finish(0)
	finish(1)
	if st := waitStats(t, h, "budget given back", func(st ServerStats) bool { return st.BufferBytes == 0 }); st.Closed[ReasonLimit] != 2 || st.BufferWaits != 0 {
		t.Errorf("stats: %+v", st)
	}
}

// TestServerBufferBudgetJoiner: a long Docker line whose pieces the budget
// has no room to join is shipped in several documents, none of its text
// lost; with room, it is joined whole, and the budget given back.
func TestServerBufferBudgetJoiner(t *testing.T) {
	h := startServer(t, ServerConfig{Limits: budgetLimits, BufferBytes: budgetBytes}, testPipeline)
	finish := holdBudget(t, h)
	c := h.dial(t)
	sendLine := func(id, line string) {
		for i, n := 0, 0; n < len(line); i++ {
			piece := line[n:min(n+16384, len(line))]
			n += len(piece)
			chunk := fmt.Sprint(id, i)
			write(t, c, msg("docker", t0, mp().mapStr("container_id", containerID, "source", "stdout", "log", piece,
				"partial_message", "true", "partial_id", id, "partial_ordinal", fmt.Sprint(i+1), "partial_last", fmt.Sprint(n == len(line))),
				mp().mapStr("chunk", chunk)))
			readAck(t, c, chunk, 10*time.Second)
		}
	}
	var line strings.Builder
	for i := 0; line.Len() < 160<<10; i++ {
		fmt.Fprintf(&line, "%08d ", i)
	}
	sendLine("p1", line.String())
	st := waitStats(t, h, "line shipped", func(st ServerStats) bool { return st.Records > 1 && st.Incomplete > 0 && st.BufferWaiting == 0 })
	docs := h.sink.waitDocs(t, int(st.Records))
	var got strings.Builder
	for _, d := range docs {
		got.WriteString(fmt.Sprint(d.fields["message"]))
	}
	if got.String() != line.String() {
		t.Fatalf("the line in %d documents: got %d bytes, want %d", len(docs), got.Len(), line.Len())
	}

	finish(0)
	finish(1)
	waitStats(t, h, "budget given back", func(st ServerStats) bool { return st.BufferBytes == 0 })
	before := len(docs)
	sendLine("p2", line.String())
	docs = h.sink.waitDocs(t, before+1+2) // + the two held requests
	last := docs[len(docs)-1]
	if fmt.Sprint(last.fields["message"]) != line.String() {
		t.Fatalf("with room: last document has %d bytes of message, want the whole line", len(fmt.Sprint(last.fields["message"])))
	}
	if st := waitStats(t, h, "budget given back", func(st ServerStats) bool { return st.BufferBytes == 0 }); st.BufferPeak > budgetBytes {
		t.Errorf("peak %d over the budget", st.BufferPeak)
	}
}

// TestServerBufferBudgetNothingKept: once a connection has given its large
// buffers back to the budget, nothing of it points into them any more, so
// the memory the budget counts is the memory that stays live. Each of 24
// connections sends one large request (plain or compressed, Docker-shaped
// records) and stays open: with the decoder's entry list, its gzip input,
// the last record's Docker fields and the Joiner's last line still
// pointing into them, every connection kept its last request and
// decompressed entries, about 1 MiB each, beside a budget of 2 MiB.
func TestServerBufferBudgetNothingKept(t *testing.T) {
	lim := Limits{MaxRequestBytes: 1 << 20, MaxDecompressedBytes: 1 << 20}
	const (
		budget = 2 << 20
		conns  = 24
	)
	pcfg := pipeline.Config{MaxBytes: 1 << 20, BatchBytes: 256 << 10, FlushInterval: 10 * time.Millisecond}
	pipe := pipeline.New(pcfg)
	srv, err := NewServer(ServerConfig{Address: "127.0.0.1:0", Dataset: "test", Namespace: "default", RunID: 42, Limits: lim, BufferBytes: budget},
		pipe, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	// A sink that keeps nothing: only counts.
	var docs atomic.Int64
	sunk := make(chan struct{})
	go func() {
		defer close(sunk)
		for b := range pipe.Batches() {
			docs.Add(int64(len(b.Items)))
			b.Done()
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- srv.Run(ctx, context.Background()) }()
	defer func() {
		cancel()
		<-ran
		dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer dcancel()
		_ = srv.Drain(dctx)
		pipe.Close()
		<-sunk
	}()

	rng := rand.New(rand.NewPCG(7, 8))
	const perRequest = 900 // about 900 KiB of entries
	plain := mp().arr(3).str("packed").bin(hexEntries(rng, perRequest)).mapStr("chunk", "plain")
	gz := mp().arr(3).str("gz").bin(gzipBytes(hexEntries(rng, perRequest))).mapStr("compressed", "gzip", "chunk", "gz")
	heap := func() int64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	base := heap()
	open := make([]net.Conn, 0, conns)
	for i := range conns {
		c, err := net.Dial("tcp", srv.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		open = append(open, c)
		req, chunk := plain, "plain"
		if i%2 == 1 {
			req, chunk = gz, "gz"
		}
		_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Write(req); err != nil {
			t.Fatalf("connection %d: write: %v", i, err)
		}
		want := AppendAck(nil, []byte(chunk))
		got := make([]byte, len(want))
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("connection %d: ack: got %q, %v; want %q", i, got, err, want)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for srv.Stats().BufferBytes != 0 || docs.Load() != conns*perRequest {
		if time.Now().After(deadline) {
			t.Fatalf("budget held %d bytes, %d of %d records delivered after 30s", srv.Stats().BufferBytes, docs.Load(), conns*perRequest)
		}
		time.Sleep(2 * time.Millisecond)
	}
	grown := heap() - base
	// What the connections may hold outside the budget, and the
	// pipeline's batches (kept for reuse); the budget holds nothing now.
	bound := conns*MaxConnectionBytes + pcfg.MaxBytes
	t.Logf("%d connections open after one large request each: Go heap grew by %.1f MiB (bound %.1f MiB; budget %d MiB, given back)",
		len(open), float64(grown)/(1<<20), float64(bound)/(1<<20), budget>>20)
	if grown > bound {
		t.Errorf("Go heap grew by %.1f MiB with the budget given back, want at most %.1f MiB (%d connections × MaxConnectionBytes + the pipeline's budget): the connections keep buffers the budget no longer counts",
			float64(grown)/(1<<20), float64(bound)/(1<<20), conns)
	}
}
