// Budget: what a connection borrows from the server's bufferBudget (large
// read buffers, decompressed entries) and gives back.

package forward

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// reserve makes sure the buffer budget lends size bytes to the unfinished
// request. The first reservation of a request waits until the budget has
// room: for a PackedForward request whose entries are being read exactly
// size, else the largest size a request may need (its size is not known
// before its end). More for the same request (a PackedForward option map
// larger than a read's worth) is taken only when free at once: waiting while
// holding could deadlock (see bufferBudget), so the request is refused
// instead.
func (c *conn) reserve(ctx context.Context, size int) error {
	b := c.s.budget
	if c.resv > 0 {
		if size <= c.resv {
			return nil
		}
		if !b.tryAcquire(int64(size-c.resv), c.resvGz) {
			return closeWith(ReasonLimit, fmt.Errorf("%w: the request needs a buffer of %d bytes, more than the %d reserved for it, and the Forward buffer budget has no room now (--forward-buffer-bytes)",
				ErrLimit, size, c.resv))
		}
		c.resv = size
		return nil
	}
	exact, gz := false, false
	if !c.json && c.hs == nil {
		exact, gz = c.dec.pending(c.buf[c.r:c.w])
	}
	resv := c.maxRead()
	if exact {
		resv = size
	}
	waited, err := b.acquire(ctx, c.dead, int64(resv), gz, false, c.freeJoined)
	if err != nil {
		if errors.Is(err, ErrLimit) {
			return closeWith(ReasonLimit, err)
		}
		return err
	}
	c.resv, c.resvGz, c.resvReq = resv, gz, c.nreq
	if waited {
		// The time spent waiting is the server's, not the client's.
		now := time.Now()
		c.lastRead = now
		if !c.partialSince.IsZero() {
			c.partialSince = now
		}
	}
	return nil
}

// unreserve moves the unread bytes (at most a pooled buffer's worth) of a
// budgeted buffer whose request is done to a pooled buffer, and gives the
// budget back.
//
// The large buffer is kept as c.spare for the next request's, when that one
// is large too and already arriving: a client sending large requests back to
// back (PackedForward batches) otherwise gets a new one for each, allocated
// and zeroed. The spare is not counted in the budget, as a dropped buffer is
// not until it is collected, so it is kept only while the connection does
// not wait for anything: grow reuses or drops it, and it is dropped before
// handling a request, waiting for ack room or for the budget.
func (c *conn) unreserve() {
	large := c.buf
	pooled := bufPool.Get().(*[]byte)
	c.setBuf(*pooled, pooled)
	c.releaseResv()
	c.spare = large
}

func (c *conn) releaseResv() {
	if c.resv > 0 {
		c.dropViews()
		c.s.budget.release(int64(c.resv), c.resvGz)
		c.resv = 0
	}
}

// acquireScratch lends the decoder a buffer for decompressed entries. The
// connection holds at most the read reservation of the request being
// decoded, counted as maybe compressed unless pending saw that its entries
// are not gzip (then gunzip fails before asking), so it may wait.
func (c *conn) acquireScratch(n int) error {
	c.end() // it may wait: the producer must not stay locked
	b := c.s.budget
	if c.resv > 0 && !c.resvGz {
		if b.tryAcquire(int64(n), false) {
			return nil
		}
		return fmt.Errorf("%w: no Forward buffer budget free to decompress the request (--forward-buffer-bytes)", ErrLimit)
	}
	_, err := b.acquire(c.queueCtx, c.dead, int64(n), false, true, c.freeJoined)
	return err
}

func (c *conn) tryScratch(n int) bool { return c.s.budget.tryAcquire(int64(n), false) }

func (c *conn) releaseScratch(n int) {
	c.dropViews()
	c.s.budget.release(int64(n), false)
}

// dropViews drops what still points into the buffers of the last request
// handled (the decoder's entry list and gzip input, the Docker fields and
// the last line the Joiner emitted) when the budget takes those buffers back: kept, they
// held every connection's last large request or decompressed entries
// live, 34 MiB beside an 8 MiB budget. It is called only for requests that
// held budget (it clears the whole entry list), between requests.
func (c *conn) dropViews() {
	clear(c.dec.entries[:cap(c.dec.entries)])
	c.dec.zr.Reset(nil)
	c.dec.docker = DockerFields{}
	c.dec.otherVal = nil
	c.join.out = Line{}
	c.join.outFields = DockerFields{}
}

// freeJoined ships the lines being joined when they hold buffer budget: a
// connection must hold none of that while it waits for more.
func (c *conn) freeJoined() {
	c.spare = nil
	if c.join.held == 0 {
		return
	}
	_ = c.flushJoiner(0, true)
	c.join.discard() // what the pipeline did not take: it is closing
}
