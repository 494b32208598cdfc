// Framing: a connection's read loop, its deadlines, and the read buffers
// that requests are decoded from.

package forward

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Read buffers. A connection reads into its own small buffer while it has no
// unfinished request, so an idle connection holds 4 KiB; a request that does
// not fit, or a read that filled the buffer (more is coming), moves to a
// pooled 64 KiB buffer, and one larger than that to a
// buffer of its own that the server's buffer budget lends (see
// bufferBudget). The large one is given back as soon as no unfinished bytes
// are left, the pooled one once a read neither leaves unfinished bytes nor
// fills it.
const (
	smallBufSize  = 4 << 10
	pooledBufSize = 64 << 10
	// maxChunkBytes bounds the chunk option we keep until its ack is sent.
	// Clients send the Base64 of 16 bytes (24 characters).
	maxChunkBytes = 1024
	// keepScratch caps the shared scratch buffers kept between records.
	keepScratch = 1 << 20
	// maxEntryBatch bounds the decoded entry list a connection holds: a
	// request's entries are decoded and encoded that many at a time (see
	// Decoder.More), 56 KiB of list whatever the request's size.
	maxEntryBatch = 1024
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, pooledBufSize); return &b }}

// aLongTimeAgo is a read deadline that makes a blocked Read return at once.
var aLongTimeAgo = time.Unix(1, 0)

// read is the read loop. It returns nil when the client closed the
// connection or ctx was cancelled, a *closeError for problems of the
// connection, and pipeline errors.
func (c *conn) read(ctx context.Context) error {
	s := c.s
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetReadDeadline(aLongTimeAgo) })
	defer stop()
	if tc, ok := c.nc.(*tls.Conn); ok {
		hctx, cancel := ctx, context.CancelFunc(func() {})
		if rt := s.cfg.ReadTimeout; rt > 0 {
			hctx, cancel = context.WithTimeout(ctx, rt)
		}
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return closeWith(ReasonTLS, fmt.Errorf("TLS handshake: %w", err))
		}
	}
	if s.cfg.SharedKey != "" {
		c.hs = s.newHandshake()
		if err := c.write(appendHelo(nil, c.hs.nonce, c.hs.authSalt)); err != nil {
			return closeWith(ReasonHandshake, fmt.Errorf("cannot send HELO: %w", err))
		}
	}
	for {
		if err := c.process(); err != nil {
			return err
		}
		if c.acksFull() {
			// process stopped before the next request: read no more
			// until the client has taken some acks.
			c.spare = nil
			if err := c.waitAckRoom(ctx); err != nil {
				return err
			}
			if ctx.Err() != nil {
				return nil
			}
			continue
		}
		if c.waiting && c.r == c.w {
			// Nothing more to read now: the client may be waiting.
			c.waiting = false
			s.requestFlush()
		}
		if ctx.Err() != nil {
			return nil
		}
		if err := c.grow(ctx); err != nil {
			if isStop(err) {
				return nil
			}
			return err
		}
		_ = c.nc.SetReadDeadline(c.deadline(time.Now()))
		if ctx.Err() != nil { // the AfterFunc may have run before the line above
			return nil
		}
		idle := c.r == c.w && c.join.Pending() == 0 && (!c.writerOn || c.acks.empty())
		if idle {
			c.idleSince.CompareAndSwap(0, time.Now().UnixNano())
		}
		n, rerr := c.nc.Read(c.buf[c.w:])
		c.busy = n == len(c.buf)-c.w
		if n > 0 {
			c.w += n
			c.lastRead = time.Now()
			c.idleSince.Store(0)
		}
		if rerr == nil {
			continue
		}
		if n > 0 {
			if err := c.process(); err != nil {
				return err
			}
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(rerr, os.ErrDeadlineExceeded):
			if err := c.timedOut(time.Now()); err != nil {
				return err
			}
		case errors.Is(rerr, io.EOF):
			if c.w > c.r {
				return closeWith(ReasonTruncated, fmt.Errorf("client closed the connection %d bytes into a request", c.w-c.r))
			}
			return nil
		default:
			return closeWith(ReasonReadError, rerr)
		}
	}
}

// deadline returns the read deadline for the next Read: the end of the
// handshake or request in progress, of the partial line being joined, or of
// the idle time, whichever comes first; zero for none.
func (c *conn) deadline(now time.Time) time.Time {
	s := c.s
	var d time.Time
	set := func(t time.Time) {
		if d.IsZero() || t.Before(d) {
			d = t
		}
	}
	if rt := s.cfg.ReadTimeout; rt > 0 {
		if c.hs != nil {
			set(c.start.Add(rt))
		} else if c.w > c.r {
			if c.partialSince.IsZero() {
				c.partialSince = now
			}
			set(c.partialSince.Add(rt))
		}
	}
	if t, ok := c.join.OldestPiece(); ok {
		set(time.Unix(0, t).Add(s.cfg.PartialTimeout))
	}
	if it := s.cfg.IdleTimeout; it > 0 {
		set(c.lastRead.Add(it))
	}
	return d
}

// timedOut handles a read deadline that passed.
func (c *conn) timedOut(now time.Time) error {
	s := c.s
	if t, ok := c.join.OldestPiece(); ok && now.Sub(time.Unix(0, t)) >= s.cfg.PartialTimeout {
		return c.flushJoiner(now.Add(-s.cfg.PartialTimeout).UnixNano(), false)
	}
	if rt := s.cfg.ReadTimeout; rt > 0 {
		if c.hs != nil && now.Sub(c.start) >= rt {
			return closeWith(ReasonReadTimeout, fmt.Errorf("shared-key handshake not completed within %s (--forward-read-timeout)", rt))
		}
		if c.w > c.r && !c.partialSince.IsZero() && now.Sub(c.partialSince) >= rt {
			return closeWith(ReasonReadTimeout, fmt.Errorf("request not completed within %s (--forward-read-timeout): %d bytes received", rt, c.w-c.r))
		}
	}
	if it := s.cfg.IdleTimeout; it > 0 && now.Sub(c.lastRead) >= it {
		return closeWith(ReasonIdle, fmt.Errorf("nothing received for %s (--forward-idle-timeout)", it))
	}
	return nil
}

// process decodes and handles every complete request in buf[r:w], into
// one batch held open across them (see begin).
func (c *conn) process() error {
	defer c.end()
	s := c.s
	for c.r < c.w {
		if c.acksFull() {
			return nil // see read
		}
		if c.resv > 0 && c.nreq != c.resvReq && c.w-c.r <= pooledBufSize {
			c.unreserve()
		}
		buf := c.buf[c.r:c.w]
		if c.hs != nil {
			c.end() // the handshake writes
			n, err := c.handshakeStep(buf)
			if err != nil || n == 0 {
				return err
			}
			c.r += n
			c.nreq++
			continue
		}
		if !c.modeKnown {
			c.modeKnown = true
			c.json = s.cfg.SharedKey == "" && (buf[0] == '{' || buf[0] == '[')
		}
		var (
			req Request
			n   int
			err error
		)
		if c.json {
			if ws := jsonWS(buf, 0); ws == len(buf) {
				c.r = c.w // whitespace between values
				c.nreq++
				break
			}
			req, n, err = c.dec.DecodeJSON(buf)
		} else {
			n, err = c.dec.decodeTo(buf, &req)
		}
		if err == ErrShortBuffer {
			return nil
		}
		if err != nil {
			c.dec.release()
			switch {
			case isStop(err):
				return err
			case errors.Is(err, ErrUnsupported) && n > 0:
				// Well-formed: skip it and keep the connection.
				s.unsupported.Add(1)
				s.warn.Error().Str("remote", c.remote).Err(err).Msg("Fluent Forward request skipped, not acknowledged")
				c.r += n
				c.nreq++
				c.partialSince = time.Time{}
				continue
			case errors.Is(err, ErrLimit):
				return closeWith(ReasonLimit, err)
			}
			return closeWith(ReasonMalformed, err)
		}
		c.r += n
		c.nreq++
		c.partialSince = time.Time{}
		c.spare = nil // handle may wait for the pipeline
		err = c.handle(&req)
		// Give back the decompressed entries before reading on.
		c.dec.release()
		if err != nil {
			return err
		}
	}
	return nil
}

// grow makes room for the next Read: at least one free byte, and for an
// unfinished request the size the decoder says it needs. A request larger
// than a pooled buffer waits for the buffer budget (ctx or the connection's
// close ends the wait).
func (c *conn) grow(ctx context.Context) error {
	spare := c.spare
	c.spare = nil
	unread := c.w - c.r
	if unread == 0 {
		c.r, c.w = 0, 0
		if c.busy && c.resv == 0 {
			c.usePooled()
			return nil
		}
		c.releaseBuf()
		return nil
	}
	need := unread + 1
	switch {
	case c.hs != nil:
		need = max(need, c.hs.fr.need)
	case c.json:
		if c.r == 0 && c.w == len(c.buf) {
			need = min(2*len(c.buf), c.dec.lim.MaxRequestBytes+1)
			need = max(need, unread+1)
		}
	default:
		need = max(need, c.dec.Need())
	}
	// Compact when the request would not fit from r, or little room is
	// left behind it.
	if c.r > 0 && (need > len(c.buf)-c.r || len(c.buf)-c.w < len(c.buf)/4) {
		copy(c.buf, c.buf[c.r:c.w])
		c.r, c.w = 0, unread
	}
	if need <= pooledBufSize && c.busy && c.resv == 0 {
		// A client sending faster than 4 KiB reads: read 64 KiB at a
		// time (Docker's driver sends one small request per record: a
		// read syscall per few records is what it costs otherwise).
		c.usePooled()
	}
	if need <= len(c.buf)-c.r {
		return nil
	}
	if need <= pooledBufSize && c.pooled == nil && c.resv == 0 {
		c.usePooled()
		return nil
	}
	// One request larger than a pooled buffer: what the decoder asked for
	// (it enforces MaxRequestBytes) plus a read's worth. A msgpack
	// request's need never passes its end, so what is left in this buffer
	// once the request is done fits a pooled one (see process).
	size := min(need+pooledBufSize, c.maxRead())
	c.spare = spare // dropped by freeJoined if reserve waits
	err := c.reserve(ctx, size)
	spare, c.spare = c.spare, nil
	if err != nil {
		return err
	}
	// The spare's whole capacity is counted: its bytes beyond the
	// reservation are taken when free at once, else it is dropped.
	if n := cap(spare); n >= size && (n <= c.resv || c.s.budget.tryAcquire(int64(n-c.resv), c.resvGz)) {
		c.resv = max(c.resv, n)
		c.setBuf(spare[:n], nil)
	} else {
		c.setBuf(make([]byte, size), nil)
	}
	return nil
}

// usePooled makes a pooled buffer the read buffer, if it is not already.
func (c *conn) usePooled() {
	if c.pooled == nil {
		pooled := bufPool.Get().(*[]byte)
		c.setBuf(*pooled, pooled)
	}
}

// maxRead is the largest read buffer a request can need.
func (c *conn) maxRead() int {
	if c.json {
		return c.dec.lim.MaxRequestBytes + 1 // DecodeJSON tells an over-limit value by one byte more
	}
	return c.dec.lim.MaxRequestBytes
}

// setBuf makes nb, a pooled buffer when pooled is set, the read buffer,
// moving the unread bytes to its start.
func (c *conn) setBuf(nb []byte, pooled *[]byte) {
	unread := copy(nb, c.buf[c.r:c.w])
	if c.pooled != nil {
		bufPool.Put(c.pooled)
	}
	c.buf, c.pooled = nb, pooled
	c.r, c.w = 0, unread
}

// releaseBuf goes back to the small buffer; the caller has moved or dropped
// the unread bytes.
func (c *conn) releaseBuf() {
	if c.pooled != nil {
		bufPool.Put(c.pooled)
		c.pooled = nil
	}
	c.buf = c.small[:]
	c.releaseResv()
}
