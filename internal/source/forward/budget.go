package forward

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// DefaultBufferBytes is the default of ServerConfig.BufferBytes when the
// limits fit in it.
const DefaultBufferBytes = 128 << 20

// errConnClosed ends a wait for buffer budget when the connection is closed
// (Server.Close, Drain's deadline).
var errConnClosed = errors.New("connection closed while waiting for buffer budget")

// bufferBudget caps the memory that the connections of a Server hold in
// their large buffers, together: the read buffer of a request larger than a
// pooled buffer, decompressed entries larger than a Decoder keeps, and the
// lines a Joiner holds beyond its allowance. The small buffers every
// connection has (see smallBufSize, pooledBufSize, keepZBytes,
// joinFreeBytes) are not counted.
//
// A connection that needs budget which is not free waits, and does not read
// its socket meanwhile: the client is slowed by TCP. Waiting while holding
// budget is what deadlocks a plain semaphore (two connections each holding
// half of it for a compressed request, each waiting for room to decompress
// it), so a connection waits only in two states:
//
//   - for the read buffer of a request (low priority, first come first
//     served), holding nothing: one reservation covers the whole request;
//   - for the decompressed entries of a request (high priority, first come
//     first served), holding at most that request's read reservation.
//
// Read reservations of requests that may turn out compressed ("gz") are
// capped together at limit-gzReserve, gzReserve being the largest
// decompressed size. When every holder waits, the budget holds only such
// reservations, so at least gzReserve bytes are free and the first
// decompression waiter fits; when none waits for decompression, nothing is
// held and the first reader fits. Everything else (reads that cannot need
// decompression, decompressed entries, lines being joined) is held only by
// connections that do not wait for budget, and they give it back. Growing
// what is already held therefore never waits: tryAcquire takes budget only
// when it is free at once and nobody waits, and the caller falls back when
// it is not (it decompresses again into an exact reservation, ships a line
// in pieces, or refuses a request that outgrows its reservation).
//
// A connection that does not wait gives its budget back once its request is
// read and handled (handling waits for room in the pipeline, as always); a
// client that stops in the middle of a request keeps its reservation until
// ServerConfig.ReadTimeout closes it.
type bufferBudget struct {
	limit   int64
	gzLimit int64 // cap of the gz read reservations together

	mu        sync.Mutex
	used      int64
	gzUsed    int64 // part of used
	peak      int64
	waits     uint64
	high, low []*budgetWaiter // FIFO: decompression, reads
}

type budgetWaiter struct {
	n       int64
	gz      bool
	granted bool
	ready   chan struct{} // closed when granted
}

// newBufferBudget returns a budget of limit bytes of which gzReserve are kept
// for decompression (see bufferBudget).
func newBufferBudget(limit, gzReserve int64) *bufferBudget {
	return &bufferBudget{limit: limit, gzLimit: limit - gzReserve}
}

// budgetStats is a snapshot of a bufferBudget.
type budgetStats struct {
	used, peak int64
	waits      uint64 // acquisitions that had to wait
	waiting    int    // waiting now
}

func (b *bufferBudget) stats() budgetStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return budgetStats{used: b.used, peak: b.peak, waits: b.waits, waiting: len(b.high) + len(b.low)}
}

func (b *bufferBudget) fitsLocked(n int64, gz bool) bool {
	return b.used+n <= b.limit && (!gz || b.gzUsed+n <= b.gzLimit)
}

func (b *bufferBudget) takeLocked(n int64, gz bool) {
	b.used += n
	if gz {
		b.gzUsed += n
	}
	b.peak = max(b.peak, b.used)
}

// tryAcquire takes n bytes if they are free now and nobody waits.
func (b *bufferBudget) tryAcquire(n int64, gz bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.high)+len(b.low) > 0 || !b.fitsLocked(n, gz) {
		return false
	}
	b.takeLocked(n, gz)
	return true
}

// acquire takes n bytes, waiting for them in the high or low queue until
// they are free, ctx is done or dead is closed. Before waiting it calls
// beforeWait (which gives back what the caller may not hold while waiting)
// and tries again. The caller must hold no budget, or (high) only the gz read
// reservation of the request it decompresses. It returns whether it waited;
// on error nothing was taken. n larger than the budget can ever lend fails at
// once, with an error matching ErrLimit.
func (b *bufferBudget) acquire(ctx context.Context, dead <-chan struct{}, n int64, gz, high bool, beforeWait func()) (waited bool, err error) {
	if n > b.limit || gz && n > b.gzLimit {
		lim := b.limit
		if gz {
			lim = b.gzLimit
		}
		return false, fmt.Errorf("%w: %d bytes of buffer needed, more than the %d the Forward buffer budget can lend (--forward-buffer-bytes)", ErrLimit, n, lim)
	}
	for try := 0; ; try++ {
		b.mu.Lock()
		queued := len(b.high) > 0 || !high && len(b.low) > 0
		if !queued && b.fitsLocked(n, gz) {
			b.takeLocked(n, gz)
			b.mu.Unlock()
			return false, nil
		}
		if try == 0 && beforeWait != nil {
			b.mu.Unlock()
			beforeWait()
			continue
		}
		break // locked
	}
	w := &budgetWaiter{n: n, gz: gz, ready: make(chan struct{})}
	if high {
		b.high = append(b.high, w)
	} else {
		b.low = append(b.low, w)
	}
	b.waits++
	b.mu.Unlock()
	select {
	case <-w.ready:
		return true, nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-dead:
		err = errConnClosed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if w.granted {
		// Granted as the wait ended: give it back.
		b.releaseLocked(n, gz)
		return true, err
	}
	if i := slices.Index(b.high, w); i >= 0 {
		b.high = slices.Delete(b.high, i, i+1)
	} else if i := slices.Index(b.low, w); i >= 0 {
		b.low = slices.Delete(b.low, i, i+1)
	}
	// A head that left may have held back the ones behind it.
	b.grantLocked()
	return true, err
}

// release gives back n bytes taken with the same gz.
func (b *bufferBudget) release(n int64, gz bool) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.releaseLocked(n, gz)
	b.mu.Unlock()
}

func (b *bufferBudget) releaseLocked(n int64, gz bool) {
	b.used -= n
	if gz {
		b.gzUsed -= n
	}
	if b.used < 0 || b.gzUsed < 0 {
		panic(fmt.Sprintf("forward: buffer budget released more than taken (used %d, gz %d)", b.used, b.gzUsed))
	}
	b.grantLocked()
}

// grantLocked wakes the waiters that fit, in order: decompression first, and
// no reader while a decompression waits (it would take the room the
// decompression waits for).
func (b *bufferBudget) grantLocked() {
	for _, q := range []*[]*budgetWaiter{&b.high, &b.low} {
		for len(*q) > 0 {
			w := (*q)[0]
			if !b.fitsLocked(w.n, w.gz) {
				return
			}
			b.takeLocked(w.n, w.gz)
			w.granted = true
			close(w.ready)
			(*q)[0] = nil
			*q = (*q)[1:]
		}
	}
}
