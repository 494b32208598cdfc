package pipeline

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"shipper/internal/event"
)

// fill appends n items of size bytes each through pr, with one mark.
func fill(t *testing.T, ctx context.Context, pr *Producer, n, size int, mark uint64) error {
	t.Helper()
	b, err := pr.Begin(ctx)
	if err != nil {
		return err
	}
	defer pr.End()
	for i := 0; i < n; i++ {
		if pr.Full(b) {
			if b, err = pr.Next(ctx); err != nil {
				return err
			}
		}
		start := len(b.Body)
		b.Body = append(b.Body, make([]byte, size)...)
		b.AddItem(start, start)
	}
	b.Marks = append(b.Marks, mark)
	return nil
}

func TestBackpressureBlocksAtBudget(t *testing.T) {
	const batch = 64 << 10
	p := New(Config{MaxBytes: 4 * BatchReserve(batch), BatchBytes: batch, FlushInterval: time.Hour})
	pr := p.NewProducer(nil)
	defer pr.Close()

	// Nobody consumes: the producer must stop once 4 batches hold the budget.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	written := 0
	var err error
	for err == nil && written < 1000 {
		err = fill(t, ctx, pr, 1, batch, 0) // one full batch per call
		if err == nil {
			written++
		}
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("producer did not block on a full budget: err=%v after %d batches", err, written)
	}
	if written != 4 {
		t.Fatalf("batches admitted before blocking: got %d, want 4 (budget 4 batches)", written)
	}
	st := p.Stats()
	if st.UsedBytes > st.MaxBytes+int64(batch) {
		t.Fatalf("budget overrun: used %d of %d", st.UsedBytes, st.MaxBytes)
	}
	if st.Waits == 0 {
		t.Fatalf("no budget wait counted")
	}

	// Consuming one batch frees budget and lets the producer go on.
	b := <-p.Batches()
	b.Done()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	if err := fill(t, ctx2, pr, 1, batch, 0); err != nil {
		t.Fatalf("producer still blocked after a batch was delivered: %v", err)
	}
}

func TestDropNewestRefuses(t *testing.T) {
	const batch = 64 << 10
	p := New(Config{MaxBytes: 2 * BatchReserve(batch), BatchBytes: batch, FullPolicy: DropNewest, FlushInterval: time.Hour})
	pr := p.NewProducer(nil)
	defer pr.Close()
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if err := fill(t, ctx, pr, 1, batch, 0); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	if err := fill(t, ctx, pr, 1, batch, 0); !errors.Is(err, ErrFull) {
		t.Fatalf("third batch: got %v, want ErrFull", err)
	}
}

func TestAcksInSealOrder(t *testing.T) {
	const batch = 64 << 10
	var mu sync.Mutex
	var got []uint64
	p := New(Config{MaxBytes: 64 * BatchReserve(batch), BatchBytes: batch, FlushInterval: time.Hour})
	pr := p.NewProducer(func(marks []uint64, items int) {
		mu.Lock()
		got = append(got, marks...)
		mu.Unlock()
	})
	ctx := context.Background()
	const n = 10
	for i := 0; i < n; i++ {
		if err := fill(t, ctx, pr, 1, batch, uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	var bs []*event.Batch
	for i := 0; i < n; i++ {
		bs = append(bs, <-p.Batches())
	}
	// Deliver in reverse: no ack may pass an undelivered earlier batch.
	for i := n - 1; i >= 1; i-- {
		bs[i].Done()
	}
	mu.Lock()
	if len(got) != 0 {
		t.Fatalf("acks released before batch 0 was delivered: %v", got)
	}
	mu.Unlock()
	bs[0].Done()
	if err := pr.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, m := range got {
		if m != uint64(i) {
			t.Fatalf("acks out of order: got %v", got)
		}
	}
	if len(got) != n {
		t.Fatalf("got %d acks, want %d", len(got), n)
	}
	if st := p.Stats(); st.UsedBytes != 0 {
		t.Fatalf("budget not returned after delivery: %d bytes still used", st.UsedBytes)
	}
}

func TestFlushInterval(t *testing.T) {
	p := New(Config{MaxBytes: 1 << 20, BatchBytes: 256 << 10, FlushInterval: 50 * time.Millisecond})
	pr := p.NewProducer(nil)
	defer pr.Close()
	start := time.Now()
	if err := fill(t, context.Background(), pr, 3, 10, 7); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-p.Batches():
		if len(b.Items) != 3 || len(b.Marks) != 1 || b.Marks[0] != 7 {
			t.Fatalf("flushed batch: %d items, marks %v; want 3 items, marks [7]", len(b.Items), b.Marks)
		}
		if d := time.Since(start); d < 50*time.Millisecond {
			t.Fatalf("batch flushed after %v, before the 50ms flush interval", d)
		}
		b.Done()
	case <-time.After(5 * time.Second):
		t.Fatal("partial batch was not flushed by age")
	}
}

func TestWaitCancelled(t *testing.T) {
	p := New(Config{MaxBytes: 1 << 20, BatchBytes: 64 << 10, FlushInterval: time.Hour})
	pr := p.NewProducer(nil)
	if err := fill(t, context.Background(), pr, 1, 10, 0); err != nil {
		t.Fatal(err)
	}
	if err := pr.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := pr.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with an undelivered batch: got %v, want deadline exceeded", err)
	}
	if n := pr.Pending(); n != 1 {
		t.Fatalf("pending batches: got %d, want 1", n)
	}
}

func TestBlockedBeginCancels(t *testing.T) {
	const batch = 64 << 10
	p := New(Config{MaxBytes: batch, BatchBytes: batch, FlushInterval: time.Hour})
	pr := p.NewProducer(nil)
	defer pr.Close()
	if err := fill(t, context.Background(), pr, 1, batch, 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := pr.Begin(ctx); done <- err }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("blocked Begin: got %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Begin blocked on the budget did not return on cancel")
	}
}

// TestFlushMarksOnly: a batch that holds only marks (records a source settled
// without shipping) is sealed by age too, so their acknowledgements come.
func TestFlushMarksOnly(t *testing.T) {
	var acked []uint64
	var mu sync.Mutex
	p := New(Config{MaxBytes: 1 << 20, BatchBytes: 64 << 10, FlushInterval: 20 * time.Millisecond})
	pr := p.NewProducer(func(marks []uint64, items int) {
		mu.Lock()
		acked = append(acked, marks...)
		mu.Unlock()
	})
	defer pr.Close()
	if err := fill(t, context.Background(), pr, 0, 0, 9); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-p.Batches():
		if len(b.Items) != 0 || len(b.Marks) != 1 {
			t.Fatalf("flushed %d items, marks %v", len(b.Items), b.Marks)
		}
		b.Done()
	case <-time.After(5 * time.Second):
		t.Fatal("a batch of marks only was never flushed")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(acked) != 1 || acked[0] != 9 {
		t.Fatalf("acked %v, want [9]", acked)
	}
}

// Undelivered counts every item taken in and not delivered, wherever it is:
// in the batch being filled, sealed and queued, and abandoned when the
// pipeline closed under a batch. Oldest follows the oldest of them.
func TestUndeliveredAndOldest(t *testing.T) {
	const batch = 1 << 10
	p := New(Config{MaxBytes: 64 * BatchReserve(batch), BatchBytes: batch, FlushInterval: time.Hour})
	pr := p.NewProducer(nil)
	ctx := context.Background()
	check := func(what string, want uint64, oldest bool) {
		t.Helper()
		if got := p.Stats().Undelivered(); got != want {
			t.Fatalf("%s: undelivered %d, want %d (stats %+v)", what, got, want, p.Stats())
		}
		if got := p.Oldest(); got.IsZero() == oldest {
			t.Fatalf("%s: oldest undelivered %v, want zero: %v", what, got, !oldest)
		}
	}
	check("empty", 0, false)
	before := time.Now()
	if err := fill(t, ctx, pr, 3, 10, 0); err != nil { // stays in the open batch
		t.Fatal(err)
	}
	check("open batch", 3, true)
	if o := p.Oldest(); o.Before(before) {
		t.Fatalf("oldest %v is before the first record came (%v)", o, before)
	}
	first := p.Oldest()
	if err := pr.Flush(); err != nil {
		t.Fatal(err)
	}
	check("sealed", 3, true)
	if err := fill(t, ctx, pr, 200, 10, 0); err != nil { // two sealed, one open
		t.Fatal(err)
	}
	check("more", 203, true)
	if got := p.Oldest(); !got.Equal(first) {
		t.Fatalf("oldest %v, want the first batch's %v", got, first)
	}
	if !p.LastDelivery().IsZero() {
		t.Fatal("a delivery before any ack")
	}
	(<-p.Batches()).Done()
	check("first delivered", 200, true)
	if got := p.Oldest(); !got.After(first) && !got.Equal(first) {
		t.Fatalf("oldest after the first delivery: %v, not after %v", got, first)
	}
	if p.LastDelivery().IsZero() {
		t.Fatal("no last delivery after an ack")
	}
	// Close with a batch being filled: its records are abandoned.
	b, err := pr.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	pr.End()
	if err := pr.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Close after the pipeline closed: %v, want ErrClosed", err)
	}
	_ = b
	st := p.Stats()
	if st.Abandoned == 0 || st.Open != 0 {
		t.Fatalf("after closing under an open batch: %+v, want abandoned items and none open", st)
	}
	check("closed", 200, true)
	for b := range p.Batches() {
		b.Done()
	}
	check("all queued delivered", st.Abandoned, false)
}

// TestSealWhenIdle: with SealWhenIdle a batch is sealed at End when nothing
// is outstanding, gathers records while a batch is out, and is sealed as
// soon as the outstanding one is acknowledged, long before FlushInterval.
func TestSealWhenIdle(t *testing.T) {
	const batch = 64 << 10
	p := New(Config{MaxBytes: 8 * BatchReserve(batch), BatchBytes: batch, FlushInterval: time.Hour, SealWhenIdle: true})
	pr := p.NewProducer(nil)
	defer pr.Close()
	ctx := context.Background()

	// Idle: one small record is sealed by End itself.
	if err := fill(t, ctx, pr, 1, 10, 1); err != nil {
		t.Fatal(err)
	}
	if got := p.Stats().Batches; got != 1 {
		t.Fatalf("batches sealed after the first End on an idle pipeline: %d, want 1", got)
	}
	first := <-p.Batches()

	// One batch out: the next records wait in the batch being filled.
	for i := 0; i < 3; i++ {
		if err := fill(t, ctx, pr, 1, 10, uint64(2+i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := p.Stats().Batches; got != 1 {
		t.Fatalf("batches sealed while one was out: %d, want 1", got)
	}

	// Acknowledging it seals the gathered records into one batch.
	first.Done()
	select {
	case b := <-p.Batches():
		if len(b.Items) != 3 {
			t.Fatalf("second batch has %d items, want the 3 gathered while the first was out", len(b.Items))
		}
		b.Done()
	case <-time.After(time.Minute):
		t.Fatalf("no batch sealed within a minute of the pipeline becoming idle (flush interval 1h)")
	}
}

// TestNoSealWhenIdleByDefault: without SealWhenIdle a small batch waits for
// FlushInterval (or a full batch) as before.
func TestNoSealWhenIdleByDefault(t *testing.T) {
	p := New(Config{MaxBytes: 8 * BatchReserve(64<<10), BatchBytes: 64 << 10, FlushInterval: time.Hour})
	pr := p.NewProducer(nil)
	defer pr.Close()
	if err := fill(t, context.Background(), pr, 1, 10, 1); err != nil {
		t.Fatal(err)
	}
	if got := p.Stats().Batches; got != 0 {
		t.Fatalf("batches sealed without SealWhenIdle: %d, want 0", got)
	}
}

// TestSealWhenIdleOldestNoDeadlock: acknowledging the last outstanding batch
// wakes the producers while Oldest and Stats (readiness, progress) run;
// neither may wait on the other's locks.
func TestSealWhenIdleOldestNoDeadlock(t *testing.T) {
	p := New(Config{MaxBytes: 8 * BatchReserve(64<<10), BatchBytes: 64 << 10, FlushInterval: time.Hour, SealWhenIdle: true})
	prs := []*Producer{p.NewProducer(nil), p.NewProducer(nil)}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				p.Oldest()
				p.Stats()
			}
		}
	}()
	go func() { // the sink: acknowledge whatever is sealed
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case b := <-p.Batches():
				b.Done()
			}
		}
	}()
	done := make(chan error, 1)
	go func() {
		for i := 0; i < 20000; i++ {
			if err := fill(t, context.Background(), prs[i%2], 1, 10, uint64(i)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("20000 small batches not filled within 2 minutes: Oldest and the acknowledgement deadlocked?")
	}
	close(stop)
	wg.Wait()
	for _, pr := range prs {
		pr.Close()
	}
}
