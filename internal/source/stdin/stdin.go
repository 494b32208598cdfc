// Package stdin ships newline-delimited lines read from standard input (a
// pipe) until EOF.
package stdin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"shipper/internal/datastream"
	"shipper/internal/encode"
	"shipper/internal/parse"
	"shipper/internal/pipeline"
)

// Config configures the source.
type Config struct {
	// MaxLineBytes caps a line; the rest is counted and skipped.
	MaxLineBytes int
	// ReadBytes is the size of one read (default 256 KiB).
	ReadBytes int
	// Dataset and Namespace name the target data stream; a line's own
	// data_stream.dataset overrides Dataset.
	Dataset, Namespace string
	// Streams limits the datasets lines may choose (nil: any).
	Streams *encode.Streams
	// Stage processes each document before it is queued (the
	// processing stage); nil: none. Used by this source only.
	Stage encode.Stage
	// Static holds pre-encoded JSON members added to every document
	// (agent, host); input.type is added here.
	Static []byte
}

// pipeBytes is the pipe buffer asked for when stdin is a pipe: 1 MiB, the
// most an unprivileged process may set by default.
const pipeBytes = 1 << 20

// Stats are cumulative counters.
type Stats struct {
	Lines, Bytes                            uint64
	Malformed, InvalidUTF8, Truncated, JSON uint64
	// Blank lines (empty or whitespace only) are counted, not shipped;
	// Changed lines had members renamed or merged, see parse.Counts.
	Blank, Changed uint64
	// Dropped lines were read but discarded under drop_newest.
	Dropped uint64
	// Unqueued lines were read but never reached the pipeline: the
	// shutdown deadline passed (or the pipeline closed) while they waited
	// for budget. They are not delivered.
	Unqueued uint64
}

// Source reads lines from one reader. Run must be called once.
type Source struct {
	cfg          Config
	r            io.Reader
	pr           *pipeline.Producer
	enc          *encode.Encoder
	log          zerolog.Logger
	runID        uint64
	seq          uint64
	scratch      [][]byte // framing scratch, reused per chunk
	scratchSizes []int

	lines, bytes, malformed, invalidUTF8, truncated, json atomic.Uint64
	blank, changed                                        atomic.Uint64
	drops, unqueued                                       atomic.Uint64
	lastDropLog                                           atomic.Int64
}

// New returns a source reading r into pr. When r is an *os.File that can be
// switched to non-blocking mode (a pipe, a socket, a terminal), Run can stop
// a read in progress when its context is cancelled.
func New(cfg Config, r io.Reader, pr *pipeline.Producer, runID uint64, log zerolog.Logger) (*Source, error) {
	if cfg.ReadBytes <= 0 {
		cfg.ReadBytes = 256 << 10
	}
	if cfg.MaxLineBytes <= 0 {
		cfg.MaxLineBytes = 1 << 20
	}
	index, err := datastream.IndexName(cfg.Dataset, cfg.Namespace)
	if err != nil {
		return nil, err
	}
	static := []byte(`"input.type":"stdin"`)
	if len(cfg.Static) > 0 {
		static = append(append(static, ','), cfg.Static...)
	}
	enc := encode.New(parse.New(static), index, cfg.Namespace)
	enc.Streams = cfg.Streams
	enc.Stage = cfg.Stage
	return &Source{cfg: cfg, r: r, pr: pr, enc: enc, log: log, runID: runID}, nil
}

// Stats returns a snapshot of the counters.
func (s *Source) Stats() Stats {
	return Stats{Lines: s.lines.Load(), Bytes: s.bytes.Load(), Malformed: s.malformed.Load(),
		InvalidUTF8: s.invalidUTF8.Load(), Truncated: s.truncated.Load(), JSON: s.json.Load(), Dropped: s.drops.Load(),
		Blank: s.blank.Load(), Changed: s.changed.Load(), Unqueued: s.unqueued.Load()}
}

// Run reads until EOF or until ctx is cancelled, handing every complete line
// to the producer; at EOF a last line without '\n' is shipped too. It returns
// nil at EOF and ctx's error when cancelled; lines read before the
// cancellation are in the producer either way (call Flush and Wait on it).
//
// queueCtx bounds the waits for pipeline budget (backpressure). It is separate
// from ctx so that lines already read are still queued after reading stops;
// cancel it only when they may be given up (the shutdown deadline).
func (s *Source) Run(ctx, queueCtx context.Context) error {
	r := s.r
	if f, ok := r.(*os.File); ok {
		if _, err := growPipe(f, pipeBytes); err != nil {
			s.log.Debug().Err(err).Msg("stdin pipe buffer left at its size")
		}
	}
	if f, ok := r.(*os.File); ok && f.SetReadDeadline(time.Time{}) == nil {
		// Already managed by the runtime poller (os.Pipe, a socket).
		stop := context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Unix(1, 0)) })
		defer stop()
	} else if ok {
		if nf := pollable(f); nf != nil {
			r = nf
			stop := context.AfterFunc(ctx, func() { _ = nf.SetReadDeadline(time.Unix(1, 0)) })
			defer stop()
			defer func() {
				_ = syscall.SetNonblock(int(f.Fd()), false)
				nf.Close()
			}()
		}
	}
	max := s.cfg.MaxLineBytes
	buf := make([]byte, max+s.cfg.ReadBytes)
	var (
		start, end int  // unprocessed bytes are buf[start:end]
		skipping   bool // a line longer than max: its first max bytes are at buf[start:start+max]
		skipped    int  // bytes of that line past the first max
	)
	for {
		if ctx.Err() != nil {
			return s.stopped(ctx, queueCtx, buf[start:end], skipping, skipped)
		}
		// Make room: keep only the unfinished line, at the front.
		if start > 0 && (len(buf)-end < s.cfg.ReadBytes || start == end) {
			end = copy(buf, buf[start:end])
			start = 0
		}
		readAt := end
		n, err := r.Read(buf[readAt:])
		if n > 0 {
			if err := s.chunk(queueCtx, buf, &start, &end, n, &skipping, &skipped); err != nil {
				return err
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return s.last(queueCtx, buf[start:end], skipping, skipped)
			}
			if errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil {
				return s.stopped(ctx, queueCtx, buf[start:end], skipping, skipped)
			}
			return fmt.Errorf("cannot read standard input: %w", err)
		}
	}
}

// chunk processes the n bytes just read at buf[*end:].
func (s *Source) chunk(ctx context.Context, buf []byte, start, end *int, n int, skipping *bool, skipped *int) error {
	max := s.cfg.MaxLineBytes
	newData := buf[*end : *end+n]
	*end += n
	s.bytes.Add(uint64(n))
	if *skipping {
		i := bytes.IndexByte(newData, '\n')
		if i < 0 {
			*skipped += n
			*end -= n // discard: only the first max bytes are kept
			return nil
		}
		*skipped += i
		// Move what follows the newline right behind the kept prefix.
		rest := copy(buf[*start+max:], newData[i+1:])
		*end = *start + max + rest
		if err := s.emit(ctx, [][]byte{buf[*start : *start+max]}, []int{max + *skipped}); err != nil {
			return err
		}
		*start += max
		*skipping, *skipped = false, 0
	}
	// Frame complete lines in buf[*start:*end].
	lines, sizes := s.scratch[:0], s.scratchSizes[:0]
	defer func() { s.scratch, s.scratchSizes = lines[:0], sizes[:0] }() // reused: no garbage per chunk
	data := buf[*start:*end]
	off := 0
	for {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			break
		}
		line := data[off : off+i]
		lines = append(lines, line)
		sizes = append(sizes, 0)
		off += i + 1
		if len(lines) == 4096 { // bound the per-chunk slices
			if err := s.emit(ctx, lines, sizes); err != nil {
				return err
			}
			lines, sizes = lines[:0], sizes[:0]
		}
	}
	if err := s.emit(ctx, lines, sizes); err != nil {
		return err
	}
	*start += off
	if rem := *end - *start; rem > max {
		// An over-long line without its end yet: keep max bytes, skip the rest.
		*skipping = true
		*skipped = rem - max
		*end = *start + max
	}
	return nil
}

// stopped ships the unfinished line read before ctx was cancelled (its end
// will not be read: it is shipped as it is, rather than dropped) and returns
// ctx's error.
func (s *Source) stopped(ctx, queueCtx context.Context, rest []byte, skipping bool, skipped int) error {
	if err := s.last(queueCtx, rest, skipping, skipped); err != nil {
		return err
	}
	return ctx.Err()
}

// last ships what remains at EOF.
func (s *Source) last(ctx context.Context, rest []byte, skipping bool, skipped int) error {
	if len(rest) == 0 && !skipping {
		return nil
	}
	size := 0
	if skipping {
		size = len(rest) + skipped
	}
	return s.emit(ctx, [][]byte{rest}, []int{size})
}

// emit turns lines into bulk items. sizes[i] > 0 is the original size of a
// truncated line.
func (s *Source) emit(ctx context.Context, lines [][]byte, sizes []int) error {
	if len(lines) == 0 {
		return nil
	}
	now := time.Now().UnixNano()
	s.enc.Parser.SetIngested(now)
	b, err := s.pr.Begin(ctx)
	if err != nil {
		s.lines.Add(uint64(len(lines)))
		return s.dropped(err, len(lines))
	}
	defer s.pr.End()
	var counts parse.Counts
	for i, line := range lines {
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if s.pr.Full(b) {
			if b, err = s.pr.Next(ctx); err != nil {
				s.publish(len(lines), &counts)
				return s.dropped(err, len(lines)-i)
			}
		}
		s.seq++
		l := parse.Line{Data: line, Size: sizes[i], Time: now, Order: int64(s.seq), OrderKind: parse.OrderSequence}
		info := s.enc.Append(b, &l, s.runID, s.seq)
		counts.Add(info.Flags)
	}
	s.publish(len(lines), &counts)
	return nil
}

// publish adds a chunk's counters: lines read, and per kind (JSON,
// malformed, invalid UTF-8, truncated) of those queued.
func (s *Source) publish(lines int, counts *parse.Counts) {
	s.lines.Add(uint64(lines))
	s.json.Add(counts.JSON)
	s.malformed.Add(counts.Malformed)
	s.invalidUTF8.Add(counts.InvalidUTF8)
	s.truncated.Add(counts.Truncated)
	s.blank.Add(counts.Blank)
	s.changed.Add(counts.Changed)
}

// dropped handles a failure to queue n lines (already counted as read):
// under the drop_newest policy (pipeline.ErrFull) they are counted and
// discarded, and a warning is logged
// at most every 10 s; other errors are returned.
func (s *Source) dropped(err error, n int) error {
	if !errors.Is(err, pipeline.ErrFull) {
		s.unqueued.Add(uint64(n))
		return err
	}
	total := s.drops.Add(uint64(n))
	if now := time.Now().UnixNano(); now-s.lastDropLog.Load() >= int64(10*time.Second) {
		s.lastDropLog.Store(now)
		s.log.Warn().Uint64("lines_dropped_total", total).
			Msg("buffer full: discarding lines (--buffer-full-policy=drop_newest); Elasticsearch is not keeping up")
	}
	return nil
}

// pollable returns a duplicate of f's descriptor in non-blocking mode,
// registered with the runtime poller so that reads honour deadlines, or nil
// when f is a regular file (whose reads never wait) or cannot be polled.
// The caller closes the duplicate and restores blocking mode on f (the
// non-blocking flag is shared by both descriptors). Working on a duplicate
// means the runtime never closes f's own descriptor.
func pollable(f *os.File) *os.File {
	if st, err := f.Stat(); err != nil || st.Mode().IsRegular() {
		return nil
	}
	dup, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		return nil
	}
	syscall.CloseOnExec(dup)
	if err := syscall.SetNonblock(dup, true); err != nil {
		syscall.Close(dup)
		return nil
	}
	nf := os.NewFile(uintptr(dup), f.Name())
	if nf.SetReadDeadline(time.Time{}) != nil {
		_ = syscall.SetNonblock(dup, false)
		nf.Close()
		return nil
	}
	return nf
}
