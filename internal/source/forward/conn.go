package forward

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"shipper/internal/datastream"
	"shipper/internal/event"
	"shipper/internal/parse"
	"shipper/internal/pipeline"
)

// Read buffers. A connection reads into its own small buffer while it has no
// unfinished request, so an idle connection holds 4 KiB; a request that does
// not fit moves to a pooled 64 KiB buffer, and one larger than that to a
// buffer of its own that the server's buffer budget lends (see
// bufferBudget), both given back as soon as no unfinished bytes are left.
const (
	smallBufSize  = 4 << 10
	pooledBufSize = 64 << 10
	// maxChunkBytes bounds the chunk option we keep until its ack is sent.
	// Clients send the Base64 of 16 bytes (24 characters).
	maxChunkBytes = 1024
	// keepScratch caps the shared scratch buffers kept between records.
	keepScratch = 1 << 20
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, pooledBufSize); return &b }}

// aLongTimeAgo is a read deadline that makes a blocked Read return at once.
var aLongTimeAgo = time.Unix(1, 0)

// closeError is a problem that closes the connection, with its reason.
type closeError struct {
	reason CloseReason
	err    error
}

func (e *closeError) Error() string { return e.err.Error() }
func (e *closeError) Unwrap() error { return e.err }

func closeWith(reason CloseReason, err error) error { return &closeError{reason: reason, err: err} }

// conn is one client connection. Its reader goroutine (serve) owns everything
// but acks, which the ack writer goroutine shares under ackQueue's mutex.
type conn struct {
	s        *Server
	nc       net.Conn
	id       uint32
	remote   string
	start    time.Time
	queueCtx context.Context

	dec    *Decoder
	join   Joiner
	df     DockerFields
	emitFn func(*Line) error
	// replaced: the record render made last had invalid UTF-8, replaced
	// with U+FFFD; encode passes it on to the parser and clears it.
	replaced bool

	// The unread bytes are buf[r:w]; buf is small[:], a pooled buffer
	// (pooled != nil) or a large one of its own, for which resv bytes of
	// the buffer budget are reserved (resvGz: counted as a request that may
	// need decompression) until the request that was unfinished when nreq
	// values had been consumed is done.
	small        [smallBufSize]byte
	buf          []byte
	r, w         int
	pooled       *[]byte
	resv         int
	resvGz       bool
	resvReq      uint64
	nreq         uint64    // values consumed
	partialSince time.Time // when buf[r:w] was first seen unfinished
	lastRead     time.Time

	modeKnown bool
	json      bool       // a JSON connection (protocols.md §1.1)
	hs        *handshake // until the shared-key handshake succeeds

	// The request being encoded, between Begin and End.
	b        *event.Batch
	tag      []byte // the last tag seen, copied
	index    string // the data stream for tag
	chunked  bool
	hi, lo   uint64 // id base of a chunked request
	entry    int    // index of the entry being encoded
	appended int    // documents of the request so far
	waiting  bool   // a request waits for an ack of records not sealed yet
	idBuf    []byte
	counts   counts

	acks       ackQueue
	writerOn   bool
	writerDone chan struct{}
	closeOnce  sync.Once
	dead       chan struct{}
}

// counts are per-request counters, published once per request.
type counts struct {
	records, joined, incomplete uint64
	parsed                      parse.Counts
}

func (s *Server) newConn(nc net.Conn) *conn {
	c := &conn{
		s:          s,
		nc:         nc,
		remote:     remote(nc),
		start:      time.Now(),
		dec:        NewDecoder(s.cfg.Limits),
		join:       Joiner{MaxLineBytes: s.cfg.MaxLineBytes, MaxPending: 4, mem: s.budget},
		writerDone: make(chan struct{}),
		dead:       make(chan struct{}),
		index:      s.index,
	}
	c.buf = c.small[:]
	c.dec.mem = c
	c.lastRead = c.start
	c.emitFn = c.emit
	c.acks.wake = make(chan struct{}, 1)
	return c
}

// close closes the socket at once; safe to call more than once and from any
// goroutine.
func (c *conn) close() {
	c.closeOnce.Do(func() {
		close(c.dead)
		_ = c.nc.Close()
	})
}

// serve runs the connection: read until the client closes, a problem
// closes it, or ctx is cancelled; then hand over to the ack writer, which
// closes the connection once every ack is written.
func (c *conn) serve(ctx, queueCtx context.Context) {
	s := c.s
	defer s.serving.Done()
	c.queueCtx = queueCtx
	err := c.read(ctx)
	// Lines still being joined were acknowledged piece by piece: ship
	// them rather than lose them.
	if ferr := c.flushJoiner(0, true); err == nil && ferr != nil && !isStop(ferr) {
		err = ferr
	}
	c.join.discard()
	c.dec.release()
	s.readers.Done()
	var ce *closeError
	if errors.As(err, &ce) {
		s.closedBy[ce.reason].Add(1)
		ev := s.warn.Warn()
		if ce.reason == ReasonIdle || ce.reason == ReasonReadError {
			ev = s.warn.Info()
		}
		ev.Str("remote", c.remote).Str("reason", ce.reason.String()).Err(ce.err).
			Msg("closing Fluent Forward connection")
		c.close()
	} else if err != nil && !isStop(err) {
		s.warn.Error().Str("remote", c.remote).Err(err).Msg("closing Fluent Forward connection")
		c.close()
	}
	c.acks.finish()
	if c.writerOn {
		<-c.writerDone
		c.lingerClose()
	}
	c.close()
	s.unregister(c)
	s.active.Add(-1)
	c.releaseBuf()
}

// lingerTimeout bounds lingerClose.
const lingerTimeout = 500 * time.Millisecond

// lingerClose closes a connection whose acks were written without losing
// them: closing a socket with unread bytes (a client still sending after we
// stopped reading) sends a reset, which can make the client's system drop the
// acks it has not read yet. So: send FIN, discard what the client still
// sends for a moment, then close.
func (c *conn) lingerClose() {
	select {
	case <-c.dead:
		return
	default:
	}
	nc := c.nc
	if tc, ok := nc.(*tls.Conn); ok {
		_ = tc.CloseWrite() // close_notify
		nc = tc.NetConn()
	}
	cw, ok := nc.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	_ = nc.SetReadDeadline(time.Now().Add(lingerTimeout))
	_, _ = io.Copy(io.Discard, nc)
}

// isStop reports the errors of a pipeline that no longer takes records, and
// of a wait for buffer budget ended by shutdown: not a problem of the
// connection.
func isStop(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, pipeline.ErrClosed) || errors.Is(err, errConnClosed)
}

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
		n, rerr := c.nc.Read(c.buf[c.w:])
		if n > 0 {
			c.w += n
			c.lastRead = time.Now()
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

// process decodes and handles every complete request in buf[r:w].
func (c *conn) process() error {
	s := c.s
	for c.r < c.w {
		if c.resv > 0 && c.nreq != c.resvReq && c.w-c.r <= pooledBufSize {
			c.unreserve()
		}
		buf := c.buf[c.r:c.w]
		if c.hs != nil {
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
			req, n, err = c.dec.Decode(buf)
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
	unread := c.w - c.r
	if unread == 0 {
		c.r, c.w = 0, 0
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
	if need <= len(c.buf)-c.r {
		return nil
	}
	if need <= pooledBufSize && c.pooled == nil && c.resv == 0 {
		pooled := bufPool.Get().(*[]byte)
		c.setBuf(*pooled, pooled)
		return nil
	}
	// One request larger than a pooled buffer: what the decoder asked for
	// (it enforces MaxRequestBytes) plus a read's worth. A msgpack
	// request's need never passes its end, so what is left in this buffer
	// once the request is done fits a pooled one (see process).
	size := min(need+pooledBufSize, c.maxRead())
	if err := c.reserve(ctx, size); err != nil {
		return err
	}
	c.setBuf(make([]byte, size), nil)
	return nil
}

// maxRead is the largest read buffer a request can need.
func (c *conn) maxRead() int {
	if c.json {
		return c.dec.lim.MaxRequestBytes + 1 // DecodeJSON tells an over-limit value by one byte more
	}
	return c.dec.lim.MaxRequestBytes
}

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
func (c *conn) unreserve() {
	pooled := bufPool.Get().(*[]byte)
	c.setBuf(*pooled, pooled)
	c.releaseResv()
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

func (c *conn) releaseResv() {
	if c.resv > 0 {
		c.s.budget.release(int64(c.resv), c.resvGz)
		c.resv = 0
	}
}

// acquireScratch lends the decoder a buffer for decompressed entries. The
// connection holds at most the read reservation of the request being
// decoded, counted as maybe compressed unless pending saw that its entries
// are not gzip (then gunzip fails before asking), so it may wait.
func (c *conn) acquireScratch(n int) error {
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

func (c *conn) releaseScratch(n int) { c.s.budget.release(int64(n), false) }

// freeJoined ships the lines being joined when they hold buffer budget: a
// connection must hold none of that while it waits for more.
func (c *conn) freeJoined() {
	if c.join.held == 0 {
		return
	}
	_ = c.flushJoiner(0, true)
	c.join.discard() // what the pipeline did not take: it is closing
}

// write writes handshake messages, bounded by ReadTimeout.
func (c *conn) write(b []byte) error {
	if rt := c.s.cfg.ReadTimeout; rt > 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(rt))
	}
	_, err := c.nc.Write(b)
	return err
}

// handle encodes the records of one request into the pipeline and queues its
// ack. Backpressure: Begin and Next block while the pipeline is full, and the
// connection is not read meanwhile.
func (c *conn) handle(req *Request) error {
	s := c.s
	if req.Heartbeat || req.Ignored {
		return nil
	}
	if req.Invalid > 0 {
		s.invalid.Add(uint64(req.Invalid))
		s.warn.Warn().Str("remote", c.remote).Int("entries", req.Invalid).Bytes("tag", clip(req.Tag)).
			Msg("Fluent Forward entries dropped: not [time, record] with a map record")
	}
	if req.BadTime > 0 {
		s.badTime.Add(uint64(req.BadTime))
	}
	if len(req.Entries) == 0 && req.Chunk == nil {
		return nil
	}
	if len(req.Chunk) > maxChunkBytes {
		return closeWith(ReasonMalformed, fmt.Errorf("%w: chunk option of %d bytes, more than %d", ErrMalformed, len(req.Chunk), maxChunkBytes))
	}
	s.requests.Add(1)
	if len(req.Entries) == 0 {
		_, err := c.pushAck(req.Chunk, true)
		return err
	}
	c.chunked = req.Chunk != nil
	if c.chunked {
		c.hi, c.lo = c.chunkID(req.Tag, req.Chunk)
	}
	now := time.Now().UnixNano()
	b, err := s.pr.Begin(c.queueCtx)
	if err != nil {
		if errors.Is(err, pipeline.ErrFull) {
			s.dropped.Add(uint64(len(req.Entries)))
			return nil // no ack: the client sends it again
		}
		return err
	}
	c.b = b
	c.setTag(req.Tag)
	c.appended = 0
	s.enc.Parser.SetIngested(now)
	done := 0
	for i := range req.Entries {
		e := &req.Entries[i]
		c.entry = i
		if req.Format == JSONRecord {
			err = c.encode(e.Record, 0, e.Time, c.tagFields(), false)
		} else {
			if ScanDocker(e.Record, &c.df) != nil {
				c.df = DockerFields{} // rendered whole; the renderer says what is wrong
			}
			err = c.join.Add(now, e.Time, e.Record, &c.df, c.emitFn)
		}
		if err != nil {
			break
		}
		done++
	}
	var perr error
	if err == nil && req.Chunk != nil {
		var seq uint32
		if seq, perr = c.pushAck(req.Chunk, c.appended == 0); perr == nil && c.appended > 0 {
			// The request's last batch carries the mark; batches are
			// acknowledged in order, so its ack means every record of the
			// request is delivered.
			c.b.Marks = append(c.b.Marks, uint64(c.id)<<32|uint64(seq))
			c.waiting = true
		}
	}
	s.pr.End()
	c.b = nil
	c.publish()
	if err != nil {
		if errors.Is(err, pipeline.ErrFull) {
			s.dropped.Add(uint64(len(req.Entries) - done))
			return nil
		}
		return err
	}
	return perr
}

// flushJoiner ships the lines being joined whose newest piece is older than
// cutoff (Unix ns), or all of them.
func (c *conn) flushJoiner(cutoff int64, all bool) error {
	s := c.s
	if c.join.Pending() == 0 {
		return nil
	}
	b, err := s.pr.Begin(c.queueCtx)
	if err != nil {
		if errors.Is(err, pipeline.ErrFull) {
			s.dropped.Add(uint64(c.join.Pending()))
			_ = c.join.Flush(func(*Line) error { return nil })
			return nil
		}
		return err
	}
	c.b = b
	c.chunked = false
	c.appended = 0
	s.enc.Parser.SetIngested(time.Now().UnixNano())
	if all {
		err = c.join.Flush(c.emitFn)
	} else {
		err = c.join.FlushIdle(cutoff, c.emitFn)
	}
	s.pr.End()
	c.b = nil
	c.publish()
	if errors.Is(err, pipeline.ErrFull) {
		return nil
	}
	return err
}

func (c *conn) publish() {
	s, n := c.s, &c.counts
	s.records.Add(n.records)
	if n.joined|n.incomplete|n.parsed.JSON|n.parsed.Malformed|n.parsed.InvalidUTF8|n.parsed.Truncated|n.parsed.Blank|n.parsed.Changed != 0 {
		s.joined.Add(n.joined)
		s.incomplete.Add(n.incomplete)
		s.json.Add(n.parsed.JSON)
		s.malformed.Add(n.parsed.Malformed)
		s.invalidUTF8.Add(n.parsed.InvalidUTF8)
		s.truncated.Add(n.parsed.Truncated)
		s.blank.Add(n.parsed.Blank)
		s.changed.Add(n.parsed.Changed)
	}
	*n = counts{}
}

// chunkID derives the id base of a chunked request: a re-sent request (same
// tag and chunk) gets the same document ids, which Elasticsearch answers with
// 409 on create.
func (c *conn) chunkID(tag, chunk []byte) (hi, lo uint64) {
	c.idBuf = append(append(append(c.idBuf[:0], tag...), 0), chunk...)
	sum := sha256.Sum256(c.idBuf)
	if cap(c.idBuf) > 4<<10 {
		c.idBuf = nil
	}
	return binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:16])
}

// setTag remembers tag and its data stream.
func (c *conn) setTag(tag []byte) {
	if c.tag != nil && bytes.Equal(c.tag, tag) {
		return
	}
	c.tag = append(c.tag[:0], tag...)
	c.index = c.s.index
	if c.s.cfg.DatasetFromTag {
		if ds := datastream.SanitizeDataset(tag); ds != "" {
			if name, err := datastream.IndexName(ds, c.s.cfg.Namespace); err == nil {
				c.index = name
			}
		}
	}
}

// tagFields writes `"fluent.tag":"<tag>"` into the shared fields buffer.
func (c *conn) tagFields() []byte {
	f := append(c.s.fields[:0], `"fluent.tag":`...)
	f, _ = parse.AppendString(f, c.tag)
	c.s.fields = f
	return f
}

// emit encodes one line out of the Joiner: a Docker record (whole or joined)
// or any other record, rendered whole as a JSON object.
func (c *conn) emit(l *Line) error {
	s := c.s
	f := c.tagFields()
	if !l.Fields.IsDocker {
		data, size := c.render(l.Record)
		return c.encode(data, size, l.Time, f, l.Incomplete)
	}
	df := &l.Fields
	if df.ContainerID != nil {
		f = append(f, `,"container.id":`...)
		f, _ = parse.AppendString(f, df.ContainerID)
	}
	if name := df.ContainerName; name != nil {
		if len(name) > 0 && name[0] == '/' {
			name = name[1:]
		}
		f = append(f, `,"container.name":`...)
		f, _ = parse.AppendString(f, name)
	}
	if df.Source != nil {
		f = append(f, `,"stream":`...)
		f, _ = parse.AppendString(f, df.Source)
	}
	f = appendLabels(f, l.Record)
	s.fields = f
	data, size := l.Log, 0
	if l.Size > len(data) {
		size = l.Size
	}
	if max := s.cfg.MaxLineBytes; len(data) > max {
		size, data = len(data), data[:max]
	}
	if size == 0 && len(data) > 0 && data[len(data)-1] == '\r' {
		data = data[:len(data)-1] // as stdin lines: the copier keeps a CRLF's '\r'
	}
	if l.Pieces > 1 {
		c.counts.joined++
	}
	if l.Incomplete {
		c.counts.incomplete++
	}
	return c.encode(data, size, l.Time, f, l.Incomplete)
}

// render writes a record that is not Docker's as one JSON object, to be
// parsed like a line: its own time, level and message members are used.
func (c *conn) render(record []byte) (data []byte, size int) {
	s := c.s
	if cap(s.scratch) > keepScratch {
		s.scratch = nil
	}
	sc := append(s.scratch[:0], '{')
	sc, err := AppendRecordJSON(sc, record)
	if err != nil {
		// Never drop it: ship the raw record, base64, as the message.
		sc = append(sc[:0], "unreadable Fluent Forward record ("...)
		sc = append(sc, err.Error()...)
		sc = append(sc, "), msgpack in base64: "...)
		sc = base64.StdEncoding.AppendEncode(sc, record)
	} else {
		sc = append(sc, '}')
		c.replaced = replacedUTF8(record, sc)
	}
	s.scratch = sc
	if max := s.cfg.MaxLineBytes; len(sc) > max {
		return sc[:max], len(sc)
	}
	return sc, 0
}

// encode appends one document to the current batch, sealing it first when
// full. incomplete documents (Docker lines that lost their last piece) never
// get the request's chunk-derived id: they are not the entry's own line.
func (c *conn) encode(data []byte, size int, t int64, fields []byte, incomplete bool) error {
	s := c.s
	b := c.b
	if s.pr.Full(b) {
		var err error
		if b, err = s.pr.Next(c.queueCtx); err != nil {
			return err
		}
		c.b = b
	}
	var hi, lo uint64
	if c.chunked && !incomplete {
		hi, lo = c.hi, c.lo+uint64(c.entry)
	} else {
		s.seq++
		hi, lo = s.cfg.RunID, s.seq
	}
	s.enc.Index = c.index
	s.order++
	l := parse.Line{Data: data, Size: size, Time: t, Fields: fields, Order: int64(s.order), OrderKind: parse.OrderSequence,
		InvalidUTF8: c.replaced}
	c.replaced = false
	info := s.enc.Append(b, &l, hi, lo)
	n := &c.counts
	n.records++
	n.parsed.Add(info.Flags)
	c.appended++
	return nil
}

// appendLabels appends the members of a Docker record other than the ones
// ScanDocker extracts (the --log-opt labels and env attributes) as
// `,"labels.<key>":<value>`: under labels, whose mapping takes any dotted
// key, so that com.docker.compose.project next to
// com.docker.compose.project.working_dir is no mapping conflict. A record
// that cannot be walked adds nothing.
func appendLabels(dst, record []byte) []byte {
	n0 := len(dst)
	h, err := readHdr(record)
	if err != nil || h.k != kMap {
		return dst
	}
	off := h.size
	for i := 0; i < h.n; i++ {
		kh, err := readHdr(record[off:])
		if err != nil || kh.end() > len(record)-off {
			return dst[:n0]
		}
		if kh.k != kStr && kh.k != kBin || kh.n == 0 || DockerKey(record[off+kh.size:off+kh.end()]) {
			if off, err = skipValue(record, off); err != nil {
				return dst[:n0]
			}
			if off, err = skipValue(record, off); err != nil {
				return dst[:n0]
			}
			continue
		}
		key := record[off+kh.size : off+kh.end()]
		off += kh.end()
		dst = append(dst, `,"labels.`...)
		k := len(dst)
		dst, _ = parse.AppendString(dst, key)
		dst = append(dst[:k], dst[k+1:]...) // drop AppendString's opening quote
		dst = append(dst, ':')
		if dst, off, err = appendValue(dst, record, off, 1, false); err != nil {
			return dst[:n0]
		}
	}
	return dst
}

// replacedUTF8 reports whether rendering the msgpack record as the JSON json
// replaced invalid UTF-8 with U+FFFD: json then holds more U+FFFD than the
// record's strings did. (A record whose binary numbers happen to hold the
// bytes of U+FFFD may hide a replacement: it is then not flagged.)
func replacedUTF8(record, json []byte) bool {
	const rc = "\uFFFD"
	n := bytes.Count(json, []byte(rc))
	return n > 0 && n > bytes.Count(record, []byte(rc))
}
