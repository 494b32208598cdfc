package forward

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"shipper/internal/event"
	"shipper/internal/parse"
	"shipper/internal/pipeline"
)

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
	emitFn func(*Line) error
	line   parse.Line // the record being encoded (see encode)
	fields fieldsCache
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
	busy         bool // the last Read filled the buffer: the client has more to send
	resv         int
	resvGz       bool
	resvReq      uint64
	spare        []byte    // a large buffer of a finished request, for the next one (see unreserve)
	nreq         uint64    // values consumed
	partialSince time.Time // when buf[r:w] was first seen unfinished
	lastRead     time.Time

	modeKnown bool
	json      bool       // a JSON connection: no shared key, first byte "[" or "{"
	hs        *handshake // until the shared-key handshake succeeds

	// The batch being filled, between begin and end (see begin); the
	// request being encoded.
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

	// idleSince is when the reader started waiting for a request with
	// nothing held (Unix ns; 0 while busy), evicted is set when the server
	// closed the connection for a new one (see Server.evictIdle).
	idleSince atomic.Int64
	evicted   atomic.Bool
}

// counts are counters of the requests handled since the batch was opened,
// published when it is closed (see conn.end).
type counts struct {
	requests, records, joined, incomplete uint64
	parsed                                parse.Counts
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
	c.dec.maxBatch = maxEntryBatch
	c.lastRead = c.start
	c.emitFn = c.emit
	c.line.OrderKind = parse.OrderSequence
	c.acks.wake = make(chan struct{}, 1)
	c.acks.room = make(chan struct{}, 1)
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
	if c.evicted.Load() {
		s.closedBy[ReasonEvicted].Add(1)
		err = nil
	} else if errors.As(err, &ce) {
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

// write writes handshake messages, bounded by ReadTimeout.
func (c *conn) write(b []byte) error {
	if rt := c.s.cfg.ReadTimeout; rt > 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(rt))
	}
	_, err := c.nc.Write(b)
	return err
}
