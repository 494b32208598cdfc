// Package pipeline is the bounded queue between sources and the sink.
//
// Sources fill batches through a Producer: the bytes of a record are encoded
// once, straight into the batch body that becomes the bulk request. Every batch
// holds a share of one byte budget; when the budget is spent the pipeline
// applies its full-policy: "block" (the default) makes the producing source
// wait, which is the backpressure that slows reading down when Elasticsearch
// is slow; "drop_newest" refuses new batches so the source can count and
// discard what it read.
//
// Acknowledgements travel back per batch: when the sink calls Batch.Done the
// batch's marks are handed to its producer's ack callback, in batch order.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"shipper/internal/event"
)

// FullPolicy names what a producer does when the byte budget is spent.
type FullPolicy string

const (
	// Block waits until the sink frees budget (backpressure). The default.
	Block FullPolicy = "block"
	// DropNewest refuses new batches with ErrFull; the source discards and
	// counts what it could not queue.
	DropNewest FullPolicy = "drop_newest"
)

// ParseFullPolicy validates a policy name.
func ParseFullPolicy(s string) (FullPolicy, error) {
	switch FullPolicy(s) {
	case Block, DropNewest:
		return FullPolicy(s), nil
	}
	return "", fmt.Errorf("unknown buffer full policy %q: want %q or %q", s, Block, DropNewest)
}

// ErrFull is returned by Producer.Begin and Producer.Next under DropNewest
// when the budget is spent.
var ErrFull = errors.New("pipeline buffer is full")

// ErrClosed is returned when the pipeline no longer accepts batches.
var ErrClosed = errors.New("pipeline is closed")

// Config sizes the pipeline.
type Config struct {
	// MaxBytes is the byte budget shared by every batch being filled, queued
	// or in flight.
	MaxBytes int64
	// FullPolicy says what happens when MaxBytes is reached.
	FullPolicy FullPolicy
	// BatchBytes is the body size at which a batch is sealed and queued.
	BatchBytes int
	// FlushInterval is the longest a record waits in a batch being filled.
	FlushInterval time.Duration
	// SealWhenIdle seals a batch being filled as soon as no sealed batch is
	// queued or being sent, whatever its size: at the end of the read
	// chunk or request that filled it (Producer.End), and when the last
	// outstanding batch is acknowledged. The first records of a quiet
	// start or after a lull then go out at once instead of after
	// FlushInterval; while a batch is out, records gather into the next
	// one, up to BatchBytes or FlushInterval, so batches grow with the
	// load and the number of requests stays bounded by the round trips.
	SealWhenIdle bool
}

// Stats are cumulative counters; read them with Pipeline.Stats.
type Stats struct {
	Batches   uint64 // batches sealed
	Items     uint64 // items sealed
	Acked     uint64 // items acknowledged
	UsedBytes int64  // budget in use now
	MaxBytes  int64
	Waits     uint64 // times a producer had to wait for budget
	// Open counts the items in batches being filled (published at each
	// Producer.End, so it lags a chunk in progress).
	Open uint64
	// Abandoned counts items of batches that could not be queued (the
	// pipeline was closed): read, never delivered.
	Abandoned uint64
}

// Undelivered is the number of items the pipeline took in and has not
// delivered: sealed and not acknowledged, being filled, or abandoned.
func (s Stats) Undelivered() uint64 { return s.Items - s.Acked + s.Open + s.Abandoned }

// Pipeline owns the byte budget and the queue of sealed batches.
type Pipeline struct {
	cfg    Config
	budget budget
	out    chan *event.Batch

	// free holds delivered batches for reuse. Unlike a sync.Pool it is not
	// emptied by garbage collections, so batch buffers are allocated once
	// instead of again after every other GC cycle; its length is bounded by
	// the budget (at most MaxBytes/BatchReserve buffers exist at once).
	freeMu sync.Mutex
	free   []*event.Batch

	closeOnce sync.Once
	closed    chan struct{}
	closeMu   sync.RWMutex // held for reading while sending to out

	batches, items, acked, abandoned atomic.Uint64
	lastAck                          atomic.Int64 // unix nanoseconds

	// outstanding counts the batches queued or being sent: sealed and not
	// yet acknowledged (SealWhenIdle).
	outstanding atomic.Int64

	prodMu    sync.Mutex
	producers []*Producer // every producer made, for Stats and Oldest
	// kickList is a copy of producers that kickProducers reads without
	// taking prodMu; replaced (never changed) by NewProducer.
	kickList atomic.Pointer[[]*Producer]
}

// New returns a pipeline. Call Close once every producer is closed, so the
// sink sees the end of the queue.
func New(cfg Config) *Pipeline {
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = 5 << 20
	}
	if cfg.MaxBytes < BatchReserve(cfg.BatchBytes) {
		cfg.MaxBytes = BatchReserve(cfg.BatchBytes)
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = time.Second
	}
	if cfg.FullPolicy == "" {
		cfg.FullPolicy = Block
	}
	// Every batch holds at least BatchReserve of the budget from getBatch
	// to recycle, so room for MaxBytes/BatchReserve batches means a send
	// never blocks: producers wait on the budget, where ctx and Close are
	// honoured, never on the channel, where send (holding the producer's
	// mutex and closeMu) would not give up.
	p := &Pipeline{
		cfg:    cfg,
		out:    make(chan *event.Batch, cfg.MaxBytes/BatchReserve(cfg.BatchBytes)),
		closed: make(chan struct{}),
	}
	p.budget.init(cfg.MaxBytes)
	return p
}

// Batches is the queue the sink consumes. It is closed by Close.
func (p *Pipeline) Batches() <-chan *event.Batch { return p.out }

// Config returns the effective configuration.
func (p *Pipeline) Config() Config { return p.cfg }

// Stats returns a snapshot of the counters.
func (p *Pipeline) Stats() Stats {
	used, waits := p.budget.snapshot()
	// Acknowledged before sealed: both only grow, and an item is sealed
	// before it is acknowledged, so Items-Acked cannot underflow.
	acked := p.acked.Load()
	var open uint64
	p.prodMu.Lock()
	for _, pr := range p.producers {
		open += uint64(pr.open.Load())
	}
	p.prodMu.Unlock()
	return Stats{
		Batches:   p.batches.Load(),
		Items:     p.items.Load(),
		Acked:     acked,
		UsedBytes: used,
		MaxBytes:  p.cfg.MaxBytes,
		Waits:     waits,
		Open:      open,
		Abandoned: p.abandoned.Load(),
	}
}

// Oldest returns when the oldest record not yet delivered entered the
// pipeline, zero when every record is delivered. Safe for concurrent use;
// it never waits for a producer.
func (p *Pipeline) Oldest() time.Time {
	var oldest time.Time
	p.prodMu.Lock()
	defer p.prodMu.Unlock()
	for _, pr := range p.producers {
		if t := pr.oldest(); !t.IsZero() && (oldest.IsZero() || t.Before(oldest)) {
			oldest = t
		}
	}
	return oldest
}

// LastDelivery returns when a batch was last acknowledged (zero: never).
func (p *Pipeline) LastDelivery() time.Time {
	if ns := p.lastAck.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// Close closes the queue. Producers must be closed (and flushed) first; a
// batch sealed after Close fails with ErrClosed.
func (p *Pipeline) Close() {
	p.closeOnce.Do(func() {
		close(p.closed)
		p.closeMu.Lock()
		close(p.out)
		p.closeMu.Unlock()
	})
}

// BatchReserve is the share of the byte budget one batch of batchBytes holds
// from its creation until it is delivered: the capacity of its body buffer,
// which leaves room for one more record past batchBytes before the batch is
// sealed, so the buffer is rarely regrown (a regrowth copies).
func BatchReserve(batchBytes int) int64 { return int64(batchBytes + batchBytes/4) }

// getBatch takes budget for a new batch and returns it. It blocks under Block
// until budget is free or ctx is done.
func (p *Pipeline) getBatch(ctx context.Context) (*event.Batch, error) {
	reserve := BatchReserve(p.cfg.BatchBytes)
	if p.cfg.FullPolicy == DropNewest {
		if !p.budget.tryAcquire(reserve) {
			return nil, ErrFull
		}
	} else if err := p.budget.acquire(ctx, reserve, p.closed); err != nil {
		return nil, err
	}
	var b *event.Batch
	p.freeMu.Lock()
	if n := len(p.free); n > 0 {
		b, p.free[n-1] = p.free[n-1], nil
		p.free = p.free[:n-1]
	}
	p.freeMu.Unlock()
	if b == nil {
		b = &event.Batch{Body: make([]byte, 0, reserve)}
	}
	b.Reserved = reserve
	return b, nil
}

// send queues a sealed batch. It takes no ctx: the batch already holds
// budget and records, and the channel has room for every batch the budget
// admits (see New), so it never blocks. Only the pipeline's closure stops it.
func (p *Pipeline) send(b *event.Batch) error {
	// Account for a body that grew past the reservation (one large record).
	if grow := int64(cap(b.Body)) - b.Reserved; grow > 0 {
		p.budget.force(grow)
		b.Reserved += grow
	}
	p.closeMu.RLock()
	defer p.closeMu.RUnlock()
	select {
	case <-p.closed:
		return ErrClosed
	default:
	}
	p.batches.Add(1)
	p.items.Add(uint64(len(b.Items)))
	p.outstanding.Add(1)
	p.out <- b
	return nil
}

// idle reports whether no sealed batch is queued or being sent.
func (p *Pipeline) idle() bool { return p.outstanding.Load() <= 0 }

// recycle returns a delivered batch's budget and buffers.
func (p *Pipeline) recycle(b *event.Batch) {
	p.acked.Add(uint64(len(b.Items)))
	p.lastAck.Store(time.Now().UnixNano())
	p.putBack(b)
	if p.outstanding.Add(-1) == 0 && p.cfg.SealWhenIdle {
		p.kickProducers()
	}
}

// kickProducers asks every producer's flusher to seal its batch being
// filled, if any (SealWhenIdle): the pipeline has just become idle. It takes
// no lock and does not wait: the caller holds a producer's ackMu, which
// Oldest takes under prodMu, and sealing takes the producer's mu.
func (p *Pipeline) kickProducers() {
	l := p.kickList.Load()
	if l == nil {
		return
	}
	for _, pr := range *l {
		select {
		case pr.kick <- struct{}{}:
		default: // a kick is pending already
		}
	}
}

// putBack returns a batch's budget and buffers; its records, if any, are
// given up.
func (p *Pipeline) putBack(b *event.Batch) {
	p.budget.release(b.Reserved)
	if int64(cap(b.Body)) > BatchReserve(p.cfg.BatchBytes) {
		return // regrown for a huge record: let it go, keep buffers uniform
	}
	b.Reset()
	p.freeMu.Lock()
	p.free = append(p.free, b)
	p.freeMu.Unlock()
}

// budget is a byte semaphore whose waits can be cancelled.
type budget struct {
	mu    sync.Mutex
	used  int64
	max   int64
	waits uint64
	free  chan struct{} // closed and replaced whenever bytes are released
}

func (b *budget) init(max int64) {
	b.max = max
	b.free = make(chan struct{})
}

func (b *budget) snapshot() (int64, uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, b.waits
}

func (b *budget) tryAcquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	// An empty budget always admits one request, however large, so an
	// oversized batch cannot deadlock.
	if b.used+n <= b.max || b.used == 0 {
		b.used += n
		return true
	}
	return false
}

func (b *budget) acquire(ctx context.Context, n int64, closed <-chan struct{}) error {
	counted := false
	for {
		b.mu.Lock()
		if b.used+n <= b.max || b.used == 0 {
			b.used += n
			b.mu.Unlock()
			return nil
		}
		if !counted {
			b.waits++
			counted = true
		}
		free := b.free
		b.mu.Unlock()
		select {
		case <-free:
		case <-ctx.Done():
			return ctx.Err()
		case <-closed:
			return ErrClosed
		}
	}
}

// force takes bytes without waiting: they are already in use.
func (b *budget) force(n int64) {
	b.mu.Lock()
	b.used += n
	b.mu.Unlock()
}

func (b *budget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	close(b.free)
	b.free = make(chan struct{})
	b.mu.Unlock()
}
