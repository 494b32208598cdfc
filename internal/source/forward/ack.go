package forward

import (
	"context"
	"fmt"
	"sync"
	"time"
	"unsafe"
)

// Limits of one connection's pending acks. maxAckBytes is the memory the
// acks of one connection may hold (each counts its chunk plus ackSlotBytes):
// once reached, the connection stops reading requests until acks are
// written, so a client that never reads its acks is slowed by TCP, and the
// ack writer's deadline (ServerConfig.ReadTimeout) then closes it.
// maxPendingAcks is a hard cap on the count that maxAckBytes keeps out of
// reach.
const (
	maxAckBytes    = 64 << 10
	ackSlotBytes   = int(unsafe.Sizeof(ackSlot{}))
	maxPendingAcks = 1 << 16
)

// ackQueue holds, in request order, the chunks of one connection's requests
// that asked for an ack. A request's ack becomes ready when the pipeline
// hands back its mark (every record delivered), or at once when it had no
// record to deliver; acks are written in request order, so a ready ack waits
// for the ones before it.
//
// The connection's reader pushes; the producer's ack callback resolves; the
// ack writer takes.
type ackQueue struct {
	mu    sync.Mutex
	ring  []ackSlot
	head  int
	n     int
	next  uint32 // sequence number of the last push
	done  bool   // no more pushes: the writer ends once the queue is empty
	bytes int    // memory held by the queued acks, see maxAckBytes
	wake  chan struct{}
	room  chan struct{} // signalled when take frees some
}

type ackSlot struct {
	seq   uint32
	ready bool
	chunk []byte // a copy, its buffer reused by later pushes
}

// push queues chunk and returns its sequence number, the low half of the
// request's mark.
func (q *ackQueue) push(chunk []byte, ready bool) (uint32, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == maxPendingAcks {
		return 0, closeWith(ReasonLimit, fmt.Errorf("%w: %d requests waiting for their ack", ErrLimit, q.n))
	}
	if q.n == len(q.ring) {
		ring := make([]ackSlot, max(8, 2*len(q.ring)))
		for i := 0; i < q.n; i++ {
			ring[i] = q.ring[(q.head+i)%len(q.ring)]
		}
		q.ring, q.head = ring, 0
	}
	sl := &q.ring[(q.head+q.n)%len(q.ring)]
	q.next++
	sl.seq, sl.ready = q.next, ready
	sl.chunk = append(sl.chunk[:0], chunk...)
	q.n++
	q.bytes += len(chunk) + ackSlotBytes
	if ready {
		q.signalLocked()
	}
	return sl.seq, nil
}

// resolve marks the request seq as delivered, and with it every request
// queued before it: the producer acknowledges batches in the order they were
// sealed, and a connection's marks go into them in request order, so when
// the records of seq are delivered, those of the requests before it are too
// (a batch carries one mark per connection for the requests of a read, see
// handle). Unknown numbers (a connection closed with acks pending) are
// ignored.
func (q *ackQueue) resolve(seq uint32) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n > 0 {
		// Sequence numbers of queued slots are consecutive from the head's
		// (wrapping like the uint32 they are).
		if k := int(seq - q.ring[q.head].seq); k >= 0 && k < q.n {
			// At most maxAckBytes' worth of slots, once per batch.
			for i := 0; i <= k; i++ {
				q.ring[(q.head+i)%len(q.ring)].ready = true
			}
		}
	}
	q.signalLocked()
}

// finish says nothing more will be pushed.
func (q *ackQueue) finish() {
	q.mu.Lock()
	q.done = true
	q.signalLocked()
	q.mu.Unlock()
}

func (q *ackQueue) signalLocked() {
	if q.done && q.n == 0 || q.n > 0 && q.ring[q.head].ready {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// take appends the acks ready at the head of the queue to dst. finished
// reports that the queue is done and empty.
func (q *ackQueue) take(dst []byte, json bool) (out []byte, count int, finished bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.n > 0 && q.ring[q.head].ready {
		sl := &q.ring[q.head]
		if json {
			dst = AppendJSONAck(dst, sl.chunk)
		} else {
			dst = AppendAck(dst, sl.chunk)
		}
		q.bytes -= len(sl.chunk) + ackSlotBytes
		if cap(sl.chunk) > 64 {
			sl.chunk = nil
		}
		q.head = (q.head + 1) % len(q.ring)
		q.n--
		count++
	}
	if count > 0 {
		select {
		case q.room <- struct{}{}:
		default:
		}
	}
	return dst, count, q.done && q.n == 0
}

// empty reports that no ack is queued.
func (q *ackQueue) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n == 0
}

// full reports that the queued acks hold maxAckBytes or more; ready reports
// that the oldest one only waits for the client to read it.
func (q *ackQueue) full() (full, ready bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	full = q.bytes >= maxAckBytes
	return full, full && q.ring[q.head].ready
}

// acksFull reports that the connection's acks are full (see maxAckBytes):
// never while it has not asked for any.
func (c *conn) acksFull() bool {
	if !c.writerOn {
		return false
	}
	full, _ := c.acks.full()
	return full
}

// waitAckRoom blocks while the connection's acks are full (see maxAckBytes):
// the connection is not read meanwhile. It returns nil once there is room or
// ctx is done, errConnClosed when the connection was closed (by the ack
// writer's deadline, when the client does not read its acks).
func (c *conn) waitAckRoom(ctx context.Context) error {
	counted := false
	for {
		full, ready := c.acks.full()
		if !full {
			return nil
		}
		if !ready {
			// The oldest waits for delivery: have its batch sealed.
			c.s.requestFlush()
		} else if !counted {
			counted = true
			c.s.ackWaits.Add(1)
		}
		select {
		case <-c.acks.room:
		case <-ctx.Done():
			return nil
		case <-c.dead:
			return errConnClosed
		}
	}
}

// pushAck queues the ack of a request, starting the ack writer on first use.
func (c *conn) pushAck(chunk []byte, ready bool) (uint32, error) {
	if !c.writerOn {
		c.writerOn = true
		go c.writeAcks()
	}
	return c.acks.push(chunk, ready)
}

// writeAcks writes the acks as they become ready, and closes the connection
// once the reader is done and every ack is written. A write that fails or
// takes longer than ReadTimeout (a client that does not read its acks) closes
// the connection.
func (c *conn) writeAcks() {
	defer close(c.writerDone)
	var buf []byte
	for {
		select {
		case <-c.acks.wake:
		case <-c.dead:
			return
		}
		var n int
		var finished bool
		buf, n, finished = c.acks.take(buf[:0], c.json)
		if len(buf) > 0 {
			if rt := c.s.cfg.ReadTimeout; rt > 0 {
				_ = c.nc.SetWriteDeadline(time.Now().Add(rt))
			}
			if _, err := c.nc.Write(buf); err != nil {
				select {
				case <-c.dead:
				default:
					c.s.closedBy[ReasonAckWrite].Add(1)
					c.s.warn.Warn().Str("remote", c.remote).Err(err).Int("acks", n).
						Msg("cannot write Fluent Forward acks; closing the connection (the client will send those requests again)")
				}
				c.close()
				return
			}
			c.s.acks.Add(uint64(n))
			if cap(buf) > 64<<10 {
				buf = nil
			}
		}
		if finished {
			return
		}
	}
}
