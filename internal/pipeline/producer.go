package pipeline

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"shipper/internal/event"
)

// Producer fills batches for one source. A source may share one producer
// between its goroutines: Begin/End hold a mutex, taken once per read chunk or
// request, never per line.
//
// The usage contract:
//
//	b, err := pr.Begin(ctx)       // may block on the budget (policy block)
//	for each record {
//	    if pr.Full(b) { b, err = pr.Next(ctx) }
//	    ... append action line and document to b.Body, then b.AddItem ...
//	}
//	b.Marks = append(b.Marks, token) // optional: what to acknowledge
//	pr.End()
//
// Between Begin and End the caller owns b; after End it must not touch it.
type Producer struct {
	p     *Pipeline
	onAck func(marks []uint64, items int)

	mu       sync.Mutex
	cur      *event.Batch
	curFirst time.Time // when the first item or mark entered cur
	nextSeq  uint64
	sendErr  error

	// open and openFirst mirror the batch being filled (its items, when
	// its first record came, unix nanoseconds) for Undelivered and Oldest,
	// which must not wait for mu: it is held while Begin waits for budget.
	// They are updated at End and when the batch is sealed.
	open, openFirst atomic.Int64

	ackMu     sync.Mutex
	ackNext   uint64                  // the next sequence number to acknowledge
	sealedAt  []time.Time             // per batch from ackNext on: when its first record came
	done      map[uint64]*event.Batch // delivered, waiting for earlier batches
	drained   chan struct{}           // closed and replaced whenever ackNext advances
	stopOnce  sync.Once
	stop      chan struct{}
	kick      chan struct{} // the pipeline became idle (SealWhenIdle)
	flusherWG sync.WaitGroup
}

// NewProducer returns a producer whose partially filled batch is sealed at
// the latest FlushInterval after its first record. onAck, which may be nil, is
// called with the marks and item count of every delivered batch, in the order
// the batches were sealed, from a sink goroutine: it must not block for long.
// Call Close when the source is done.
func (p *Pipeline) NewProducer(onAck func(marks []uint64, items int)) *Producer {
	pr := &Producer{
		p:       p,
		onAck:   onAck,
		done:    make(map[uint64]*event.Batch),
		drained: make(chan struct{}),
		stop:    make(chan struct{}),
		kick:    make(chan struct{}, 1),
	}
	p.prodMu.Lock()
	p.producers = append(p.producers, pr)
	list := slices.Clone(p.producers)
	p.kickList.Store(&list)
	p.prodMu.Unlock()
	pr.flusherWG.Add(1)
	go pr.flusher()
	return pr
}

// Begin locks the producer and returns the batch to append to, creating it
// if needed. Under policy block it waits for budget until ctx is done; under
// drop_newest it fails at once with ErrFull. On error the producer is not
// locked.
func (pr *Producer) Begin(ctx context.Context) (*event.Batch, error) {
	pr.mu.Lock()
	if err := pr.ensure(ctx); err != nil {
		pr.mu.Unlock()
		return nil, err
	}
	return pr.cur, nil
}

// Full reports whether b has reached the batch size and the caller should
// call Next before appending another record. Checking before appending (not
// after) means no empty batch is opened, and budget taken, for a record that
// may never come; End seals a full batch.
func (pr *Producer) Full(b *event.Batch) bool { return len(b.Body) >= pr.p.cfg.BatchBytes }

// Next seals the current batch and returns a new one. It must be called
// between Begin and End. On error the producer stays locked: call End.
func (pr *Producer) Next(ctx context.Context) (*event.Batch, error) {
	if err := pr.sealLocked(); err != nil {
		return nil, err
	}
	if err := pr.ensure(ctx); err != nil {
		return nil, err
	}
	return pr.cur, nil
}

// End unlocks the producer. A batch that is full, or that holds anything
// while the pipeline is idle (Config.SealWhenIdle), is sealed and queued; one
// left empty gives its budget back, as no age flush would ever seal it.
func (pr *Producer) End() {
	if b := pr.cur; b != nil {
		empty := len(b.Items) == 0 && len(b.Marks) == 0
		if empty {
			pr.cur = nil
			pr.p.putBack(b)
		} else if pr.curFirst.IsZero() {
			pr.curFirst = time.Now()
		}
		if !empty && (pr.Full(b) || pr.p.cfg.SealWhenIdle && pr.p.idle()) {
			pr.sendErr = pr.sealLocked()
		}
	}
	pr.mirrorOpen()
	pr.mu.Unlock()
}

// mirrorOpen publishes the batch being filled to open and openFirst. pr.mu
// must be held.
func (pr *Producer) mirrorOpen() {
	if b := pr.cur; b != nil && len(b.Items) > 0 {
		pr.open.Store(int64(len(b.Items)))
		pr.openFirst.Store(pr.curFirst.UnixNano())
		return
	}
	pr.open.Store(0)
	pr.openFirst.Store(0)
}

// oldest returns when the oldest record of the producer that is not yet
// acknowledged came (zero: none waits).
func (pr *Producer) oldest() time.Time {
	pr.ackMu.Lock()
	defer pr.ackMu.Unlock()
	if len(pr.sealedAt) > 0 {
		return pr.sealedAt[0]
	}
	if pr.open.Load() > 0 {
		if ns := pr.openFirst.Load(); ns != 0 {
			return time.Unix(0, ns)
		}
	}
	return time.Time{}
}

// Flush seals the current batch now if it holds anything.
func (pr *Producer) Flush() error {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.sealLocked()
}

// Pending returns how many sealed batches are not yet acknowledged.
func (pr *Producer) Pending() uint64 {
	// Acknowledged first: it only grows, and never past the sealed count
	// read afterwards, so the difference cannot underflow.
	pr.ackMu.Lock()
	acked := pr.ackNext
	pr.ackMu.Unlock()
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.nextSeq - acked
}

// Wait blocks until every batch sealed so far is acknowledged, or ctx is done.
// Call Flush first to include the batch being filled.
func (pr *Producer) Wait(ctx context.Context) error {
	pr.mu.Lock()
	target := pr.nextSeq
	pr.mu.Unlock()
	for {
		pr.ackMu.Lock()
		if pr.ackNext >= target {
			pr.ackMu.Unlock()
			return nil
		}
		ch := pr.drained
		pr.ackMu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close stops the age flusher and seals what is left. The producer must not
// be used afterwards; acknowledgements keep arriving.
func (pr *Producer) Close() error {
	pr.stopOnce.Do(func() { close(pr.stop) })
	pr.flusherWG.Wait()
	return pr.Flush()
}

func (pr *Producer) ensure(ctx context.Context) error {
	if pr.sendErr != nil {
		err := pr.sendErr
		pr.sendErr = nil
		return err
	}
	if pr.cur != nil {
		return nil
	}
	b, err := pr.p.getBatch(ctx)
	if err != nil {
		return err
	}
	pr.cur = b
	pr.curFirst = time.Time{}
	return nil
}

// sealLocked queues the current batch if it has items. pr.mu must be held.
func (pr *Producer) sealLocked() error {
	b := pr.cur
	if b == nil || len(b.Items) == 0 && len(b.Marks) == 0 {
		return nil
	}
	pr.cur = nil
	b.Seq = pr.nextSeq
	b.SetDone(pr.delivered)
	first := pr.curFirst
	if first.IsZero() {
		first = time.Now()
	}
	// Before send: once queued, the batch may be acknowledged at once.
	pr.ackMu.Lock()
	pr.sealedAt = append(pr.sealedAt, first)
	pr.ackMu.Unlock()
	defer pr.mirrorOpen()
	if err := pr.p.send(b); err != nil {
		// Not queued: no acknowledgement will come, so the sequence number
		// must not be waited for, and the budget comes back now. Its
		// records are given up: counted as abandoned.
		pr.ackMu.Lock()
		pr.sealedAt = pr.sealedAt[:len(pr.sealedAt)-1]
		pr.ackMu.Unlock()
		pr.p.abandoned.Add(uint64(len(b.Items)))
		pr.p.putBack(b)
		return err
	}
	pr.nextSeq++
	return nil
}

// delivered is the batch's Done callback: it releases acknowledgements in
// sequence order.
func (pr *Producer) delivered(b *event.Batch) {
	pr.ackMu.Lock()
	defer pr.ackMu.Unlock()
	pr.done[b.Seq] = b
	advanced := false
	for {
		d, ok := pr.done[pr.ackNext]
		if !ok {
			break
		}
		delete(pr.done, pr.ackNext)
		pr.ackNext++
		pr.sealedAt[0] = time.Time{}
		pr.sealedAt = pr.sealedAt[1:]
		advanced = true
		if pr.onAck != nil {
			pr.onAck(d.Marks, len(d.Items))
		}
		pr.p.recycle(d)
	}
	if advanced {
		close(pr.drained)
		pr.drained = make(chan struct{})
	}
}

// flusher seals a partially filled batch once its first record is
// FlushInterval old, or when kicked while the pipeline is idle
// (Config.SealWhenIdle).
func (pr *Producer) flusher() {
	defer pr.flusherWG.Done()
	iv := pr.p.cfg.FlushInterval
	tick := iv / 4
	if tick < time.Millisecond {
		tick = time.Millisecond
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-pr.stop:
			return
		case <-pr.p.closed:
			return
		case <-pr.kick:
			pr.mu.Lock()
			if b := pr.cur; b != nil && len(b.Items)+len(b.Marks) > 0 && pr.p.idle() {
				if err := pr.sealLocked(); err != nil {
					pr.sendErr = err
				}
			}
			pr.mu.Unlock()
		case now := <-t.C:
			pr.mu.Lock()
			if b := pr.cur; b != nil && !pr.curFirst.IsZero() && now.Sub(pr.curFirst) >= iv {
				if err := pr.sealLocked(); err != nil {
					pr.sendErr = err
				}
			}
			pr.mu.Unlock()
		}
	}
}
