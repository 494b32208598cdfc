package pipeline

import (
	"context"
	"errors"
	"testing"
	"time"
)

// within runs f and fails the test when it has not returned after d: the
// bugs these tests guard against are hangs.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}

// TestQueueHoldsTheWholeBudget: while the sink takes nothing, producers must
// stop on the byte budget, where the wait honours ctx, and never on the queue
// channel, where it does not (and where a send would hold the producer's
// mutex and the pipeline's close lock). A budget of more batches than the
// channel had room for used to hang the producer, and then Close.
func TestQueueHoldsTheWholeBudget(t *testing.T) {
	const batch = 1024
	const batches = 2000
	p := New(Config{MaxBytes: batches * BatchReserve(batch), BatchBytes: batch, FlushInterval: time.Hour})
	pr := p.NewProducer(nil)
	written := 0
	within(t, 10*time.Second, "filling the budget with full batches", func() {
		for ; written < batches; written++ {
			if err := fill(t, context.Background(), pr, 1, batch, 0); err != nil {
				t.Errorf("batch %d: %v", written, err)
				return
			}
		}
	})
	if written != batches {
		t.Fatalf("batches queued: got %d, want %d", written, batches)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	within(t, 5*time.Second, "Begin on a spent budget", func() {
		if _, err := pr.Begin(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Begin on a spent budget: got %v, want deadline exceeded", err)
		}
	})
	within(t, 5*time.Second, "Producer.Close", func() { _ = pr.Close() })
	within(t, 5*time.Second, "Pipeline.Close", p.Close)
	n := 0
	for range p.Batches() {
		n++
	}
	if n != batches {
		t.Fatalf("batches in the queue: got %d, want %d", n, batches)
	}
}

// TestSealAfterCloseStrandsNothing: a batch that cannot be queued because
// the pipeline is closed must not count as pending: Wait would wait for an
// acknowledgement that never comes (and every later batch of the producer
// with it), and its budget would never come back.
func TestSealAfterCloseStrandsNothing(t *testing.T) {
	p := New(Config{MaxBytes: 1 << 20, BatchBytes: 64 << 10, FlushInterval: time.Hour})
	pr := p.NewProducer(nil)
	p.Close()
	if err := fill(t, context.Background(), pr, 2, 10, 1); err != nil {
		t.Fatalf("fill: %v", err)
	}
	if err := pr.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Close of a producer after the pipeline's: got %v, want ErrClosed", err)
	}
	if n := pr.Pending(); n != 0 {
		t.Fatalf("pending batches: got %d, want 0 (nothing was queued)", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := pr.Wait(ctx); err != nil {
		t.Fatalf("Wait with nothing queued: got %v, want nil", err)
	}
	if st := p.Stats(); st.UsedBytes != 0 {
		t.Fatalf("budget held after the batch was refused: %d bytes, want 0", st.UsedBytes)
	}
}

// TestEmptyBatchGivesBudgetBack: a producer whose Begin..End appended
// nothing (every record held back by the source: a CRI or Docker partial
// line, a multiline group) must not keep a batch, and its share of the
// budget, that no age flush will ever seal; other producers would wait for
// it until the source appends something. The budget is the smallest the
// configuration allows, twice the batch size: room for one batch.
func TestEmptyBatchGivesBudgetBack(t *testing.T) {
	const batch = 64 << 10
	p := New(Config{MaxBytes: 2 * batch, BatchBytes: batch, FlushInterval: 10 * time.Millisecond})
	idle := p.NewProducer(nil)
	defer idle.Close()
	busy := p.NewProducer(nil)
	defer busy.Close()
	if _, err := idle.Begin(context.Background()); err != nil {
		t.Fatal(err)
	}
	idle.End() // nothing appended
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := busy.Begin(ctx); err != nil {
		t.Fatalf("Begin of a second producer while the first holds an empty batch: %v", err)
	}
	busy.End()
}
