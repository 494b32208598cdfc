package file

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"sync/atomic"
	"time"

	"shipper/internal/checkpoint"
	"shipper/internal/event"
	"shipper/internal/parse"
	"shipper/internal/pipeline"
)

// roundBytes bounds what one reader reads before the harvester looks at its
// other readers and at the context.
const roundBytes = 4 << 20

// harvester follows one discovered path: the file now at the path (cur) and
// the files rotated away from it that are still being read (old, oldest
// first). One goroutine runs it. Rotated files are read before the current
// one in every round, so a path's lines are shipped in the order they were
// written across rotations.
type harvester struct {
	s      *Source
	ps     *pathState
	path   string
	cur    *reader
	old    []*reader
	orphan bool // the path is not watched: only read old

	idleSince time.Time // cur at its end and unchanged since

	known map[fileKey]fileStamp // rotated files found known by the last catch-up
}

// run reads until the path has nothing left to follow, the current file is
// closed for inactivity, or the source stops.
func (h *harvester) run() {
	s := h.s
	wait := s.cfg.PollInterval
	h.idleSince = time.Now()
	var resume int64
	var keep *fileState
	defer func() { h.exit(keep, resume) }()
	for {
		if s.ctx.Err() != nil {
			return
		}
		progress := false

		// Rotated files first: their lines are older.
		for i := 0; i < len(h.old); {
			r := h.old[i]
			n, replaced, err := h.pump(r)
			progress = progress || n > 0
			if err != nil {
				if h.fatal(err) {
					return
				}
				s.readErrors.Add(1)
				if e := s.warnf("read_failed"); e != nil {
					e.Err(err).Str("path", r.name).Msg("cannot read rotated file; giving up on it")
				}
				h.release(r, false)
				h.old = append(h.old[:i], h.old[i+1:]...)
				continue
			}
			if replaced {
				// A rotated file rewritten in place: give up on it.
				h.release(r, false)
				h.old = append(h.old[:i], h.old[i+1:]...)
				continue
			}
			// A reader that got no buffer has not reached its end: a
			// copy or a deleted file released now would lose its rest.
			if n == 0 && err == nil && !r.starved && h.oldDone(r) {
				h.release(r, true)
				h.old = append(h.old[:i], h.old[i+1:]...)
				progress = true
				continue
			}
			if n == 0 {
				// At its end, kept open for late writes: its read buffer
				// goes back now, not at the next idle wait, which never
				// comes while other files of the path have lines (after a
				// start, hundreds of rotated files wait like this).
				r.park(false)
			}
			i++
		}

		if h.cur == nil && !h.orphan {
			held := len(h.old)
			h.openCur()
			if len(h.old) > held {
				continue // generations found before the new current file: read them first
			}
		}
		if r := h.cur; r != nil {
			n, replaced, err := h.pump(r)
			progress = progress || n > 0
			switch {
			case err != nil:
				if h.fatal(err) {
					return
				}
				s.readErrors.Add(1)
				if e := s.warnf("read_failed"); e != nil {
					e.Err(err).Str("path", r.name).Msg("cannot read file; closing it, it is reopened at the next scan")
				}
				// Stop following the path here; rotated files are
				// still read to their end.
				keep, resume = r.st, r.dec.Commit()
				r.close()
				h.cur = nil
				h.orphan = true
			case replaced:
				h.truncated(r, true)
				progress = true
			case n == 0:
				if h.checkCur(r) {
					progress = true
				}
			}
		}
		// A file followed since it was empty got its first bytes: the
		// contents written, copied and truncated on it before that (never
		// read, so nothing told them from a file that merely grew) are
		// next to it by now. Looked for before those bytes are shipped.
		if h.learntFirstBytes() {
			var current fileKey
			if h.cur != nil {
				current = h.cur.st.key
			}
			h.catchUp(current)
			progress = true
		}
		if h.expire() {
			progress = true
		}
		if progress {
			h.idleSince = time.Now()
			wait = s.cfg.PollInterval
			continue
		}
		if h.cur == nil && len(h.old) == 0 {
			return // nothing left; the scanner restarts the path if it comes back
		}
		if h.cur != nil && len(h.old) == 0 && time.Since(h.idleSince) >= s.cfg.CloseInactive {
			r := h.cur
			if _, ok := r.dec.PendingSince(); !ok {
				keep, resume = r.st, r.dec.Commit()
				s.log.Debug().Str("path", r.name).Dur("inactive_ms", s.cfg.CloseInactive).Msg("closing inactive file")
				r.close()
				h.cur = nil
				return
			}
		}
		// Idle: hold no read buffers while waiting. A partial line that
		// has not grown for a while is dropped from memory too (it is
		// read again from the file once complete): unfinished lines of
		// idle files must not hold the buffer budget that others wait for.
		dropPartial := wait >= 4*s.cfg.PollInterval
		if h.cur != nil {
			h.cur.park(dropPartial)
		}
		for _, r := range h.old {
			r.park(dropPartial)
		}
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 4*s.cfg.PollInterval)
	}
}

// fatal reports whether err stops the harvester (the source is stopping)
// rather than being a problem of one file.
func (h *harvester) fatal(err error) bool {
	return errors.Is(err, pipeline.ErrClosed) || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) || h.s.ctx.Err() != nil
}

// exit closes what is still open and tells the source the path is free. A
// file closed for inactivity keeps its state (keep) for a later reopen at
// resume.
func (h *harvester) exit(keep *fileState, resume int64) {
	s := h.s
	stopping := s.ctx.Err() != nil
	for _, r := range h.old {
		if stopping {
			r.close() // read again from the checkpoint after a restart
		} else {
			h.release(r, true)
		}
	}
	h.old = nil
	if h.cur != nil {
		h.cur.close()
		h.cur = nil
	}
	s.mu.Lock()
	h.ps.running = false
	h.ps.st, h.ps.resume = keep, resume
	s.mu.Unlock()
}

// openCur opens the file now at the path, if any, as the current file. It
// is new since the harvester started (the previous one was rotated away), so
// it is read from its beginning unless it has a checkpoint.
func (h *harvester) openCur() {
	s := h.s
	s.forceOpenSlot()
	r, err := s.openNew(h.path, nil)
	if err != nil {
		s.releaseSlot()
		if !errors.Is(err, fs.ErrNotExist) {
			s.readErrors.Add(1)
			if e := s.warnf("open_failed"); e != nil {
				e.Err(err).Str("path", h.path).Msg("cannot open file; will retry")
			}
		}
		return
	}
	s.persist()
	h.cur = r
	h.idleSince = time.Now()
	// Generations that came and went at the path since the last look (the
	// harvester may have been blocked for long on rotated files before
	// this open) are next to it now, under rotated names: look for them
	// after the open, not before it, or the ones rotated in between are
	// found only at the next rotation, if one ever comes.
	h.catchUp(r.st.key)
}

// beforeRotationCheck, when set (by tests), is called by checkCur between
// its look at the current file's content and its look at the path: the
// moment a writer may fill the file and rotate it away.
var beforeRotationCheck atomic.Pointer[func(path string, cur fileKey)]

// oldDone reports whether a rotated file at its end may be released.
func (h *harvester) oldDone(r *reader) bool {
	if r.mode == modeGone {
		return true
	}
	if _, nlink, err := r.stat(); err != nil || nlink == 0 {
		return true // deleted: nobody can append to it any more
	}
	return time.Since(r.lastData) >= h.s.cfg.RotateWait
}

// checkCur looks at the current file after it was read to its end: truncated
// or rewritten in place, deleted, or renamed away with maybe a new file at the
// path. It reports whether anything changed.
func (h *harvester) checkCur(r *reader) bool {
	s := h.s
	size, nlink, err := r.stat()
	if err != nil {
		return false
	}
	if size < r.lr.ReadOffset() || !r.sameContent() {
		h.truncated(r, false)
		return true
	}
	if r.emptyRewritten(size) {
		// Empty still, but written and truncated since it was last
		// seen so: a generation copied away before it was read.
		h.catchUp(r.st.key)
		return true
	}
	if hook := beforeRotationCheck.Load(); hook != nil {
		(*hook)(h.path, r.st.key)
	}
	fi, err := os.Stat(h.path)
	var key fileKey
	if err == nil {
		key, _ = statKey(fi)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false // cannot tell now
	}
	if err == nil && key == r.st.key && nlink > 0 {
		return false // still there, unchanged
	}
	// Renamed away or deleted; maybe another file took the name.
	if nlink == 0 {
		r.mode = modeGone
		s.deleted.Add(1)
	} else {
		r.mode = modeRotated
		s.rotated.Add(1)
	}
	h.old = append(h.old, r)
	h.cur = nil
	if err == nil {
		h.openCur() // and catches up on the generations before it
	}
	if h.cur == nil {
		h.catchUp(fileKey{})
	}
	return true
}

// catchUp queues, after the rotated files already held, the rotated files
// next to the path whose content no state or checkpoint knows and that were
// written since the source started: generations created and rotated away
// between two looks, while the harvester was behind (backpressure, a long
// poll). Every content read since the start has a checkpoint while it is on
// disk, so the window need not be narrower; a narrower one (the last file's
// time) missed generations that a listing taken while names were being
// shifted (.1 -> .2 ...) did not see. A generation deleted before it was
// ever opened is lost to any reader.
func (h *harvester) catchUp(current fileKey) {
	s := h.s
	// A file this harvester holds open may have got its first bytes (or
	// more of them) since it was last read: its state must know them
	// before the look, or a copy of it (its .gz) passes for an unknown
	// file. Rotated away and compressed meanwhile, it is still read from
	// the open descriptor.
	for _, r := range h.old {
		r.learnHead()
	}
	if h.cur != nil {
		h.cur.learnHead()
	}
	if h.known == nil {
		h.known = make(map[fileKey]fileStamp)
	}
	found := s.unknownSiblings(h.path, s.started, current, h.known)
	for _, nr := range found {
		nr.fields = h.ps.fields
		h.old = append(h.old, nr)
		s.caughtUp.Add(1)
		s.log.Info().Str("path", h.path).Str("rotated_file", nr.name).
			Msg("found a rotated file never opened (rotated away while the reader was behind): reading it")
	}
	if len(found) > 0 {
		s.persist()
	}
}

// truncated handles a current file found shorter than what was read, or with
// other first bytes (copytruncate, or truncated and rewritten): the old
// content's unread end is looked for in a copy next to it, and the file is
// read again from offset 0 as a new file. justFilled says the bytes of the
// last fill belong to the new content.
//
// The copy takes over the old content's state: the marks still in flight
// move the copy's checkpoint, which starts at the delivered offset, and the
// copy's records keep their ids. The new content gets a new state with the
// next generation's id seed, so that its records do not take the ids of the
// old ones at the same offsets.
func (h *harvester) truncated(r *reader, justFilled bool) {
	s := h.s
	s.truncations.Add(1)
	commit := r.dec.Commit()
	readTo := r.lr.ReadOffset()
	r.st.mu.Lock()
	oldID := r.st.id
	r.st.mu.Unlock()
	oldKey, oldSeed := r.st.key, r.st.seed
	cp := s.locate(h.path, oldID, commit, oldSeed, r.st, true, false)
	if cp != nil {
		s.copiesRead.Add(1)
		cp.fields = r.fields
		h.old = append(h.old, cp)
		s.log.Info().Str("path", r.name).Str("copy", cp.name).Int64("from_offset", commit).
			Msg("file truncated (copytruncate rotation): reading the rest of the old content from its copy, then the file from its beginning")
	} else {
		// What was read but not yet shipped (records left open) goes out
		// flagged incomplete; what was written after the last read is lost.
		h.flush(r, !justFilled)
		s.truncatedNoCopy.Add(1)
		if e := s.warnf("truncated_no_copy"); e != nil {
			e.Str("path", r.name).Int64("read_offset", readTo).
				Msg("file truncated and no copy of its old content found: lines written to it after it was last read are lost. " +
					"Prefer rotation by rename (create) over copytruncate")
		}
	}
	if cp == nil || cp.st != r.st {
		s.finish(r.st, false)
	}
	id, err := checkpoint.Identify(r.f)
	if err != nil {
		id = oldID
		id.Fingerprint, id.FingerprintLen = 0, 0
	}
	r.st = s.track(id, h.path, s.unusedSeed(keyOf(id), nextSeed(oldSeed)), 0)
	if fi, err := r.f.Stat(); err == nil {
		r.watchEmpty(fi.ModTime())
	}
	s.persist()
	if err := r.rewind(0); err != nil {
		s.readErrors.Add(1)
	}
	r.dec.Release()
	r.dec = s.newDecoder()
	// Copies of contents truncated before they were ever read, looked for
	// once the file's new content was looked at: one copied and truncated
	// later either has left first bytes there or moves the modification
	// time of the file left empty.
	h.catchUp(oldKey)
}

// learntFirstBytes reports whether a file of the harvester, followed since it
// was empty, got its first bytes after the last look for rotated files.
func (h *harvester) learntFirstBytes() bool {
	if h.cur != nil && h.cur.learnt {
		return true
	}
	for _, r := range h.old {
		if r.learnt {
			return true
		}
	}
	return false
}

// release ends a rotated (or deleted) file: the records it still has open,
// and its unterminated last line when withPending, are shipped flagged
// incomplete, its state is finished, and it is closed. Its checkpoint is
// kept, also for a deleted file (kubelet deletes a rotated file once it has
// compressed it): a restart must not take the file, or its compressed copy,
// for an unknown one and read it again. Source.prune drops it once neither
// is on disk.
func (h *harvester) release(r *reader, withPending bool) {
	h.flush(r, withPending)
	h.s.finish(r.st, false)
	r.close()
}

// pump reads r up to its end (or roundBytes) and ships its complete records.
// It returns the bytes read; replaced reports that the file was found
// truncated or rewritten during the read (see reader.fill).
func (h *harvester) pump(r *reader) (n int, replaced bool, err error) {
	r.starved = false
	for n < roundBytes {
		if err := h.process(r); err != nil {
			return n, false, err
		}
		if h.s.ctx.Err() != nil {
			return n, false, h.s.ctx.Err()
		}
		m, repl, rerr := r.fill()
		if repl {
			return n, true, nil
		}
		if rerr == ErrNoBudget {
			// Read later, once other files gave their buffers back;
			// the harvester's idle wait parks this one's.
			h.s.budgetWaits.Add(1)
			r.starved = true
			return n, false, nil
		}
		n += m
		h.s.bytes.Add(uint64(m))
		if rerr != nil && rerr != io.EOF {
			return n, false, rerr
		}
		if m == 0 {
			return n, false, nil
		}
		if r.learnt {
			// First bytes of a file followed since it was empty: the
			// harvester looks for what came and went before them first.
			return n, false, nil
		}
	}
	return n, false, h.process(r)
}

// process ships the complete lines buffered in r: framed, decoded and
// encoded into the pipeline's current batch under one Begin/End, with one
// mark for the file at the end.
func (h *harvester) process(r *reader) error {
	if !r.lr.Buffered() {
		return nil
	}
	s := h.s
	b, err := s.pr.Begin(s.queueCtx)
	if err != nil {
		return h.backoff(err)
	}
	now := time.Now()
	s.enc.Parser.SetIngested(now.UnixNano())
	mono := int64(now.Sub(s.epoch))
	var c counts
	var rec Record
	var l Line // set member by member (see emit)
	var pl parse.Line
	pl.OrderKind = parse.OrderOffset
	for {
		line, size, end, ok := r.lr.NextBuffered()
		if !ok {
			break
		}
		c.lines++
		start := end - int64(size) - 1
		if sp, st, content, csize, f, ok := r.dec.wholeCRI(line, size, end); ok {
			// The usual CRI line: its document made from the line
			// without a Record in between (what emit makes of the
			// Record AddTo would give).
			pl.Data, pl.TimeText, pl.Order, pl.Size = content, line[:sp:sp], start, 0
			if f&Truncated != 0 {
				pl.Size = csize
			}
			pl.Fields, pl.FieldsID = r.fields.b[st], r.fields.id[st]
			if b, err = h.emitWhole(b, r, &pl, end, &c); err != nil {
				err = h.rewindAfter(r, err)
				s.pr.End()
				c.publish(s)
				return h.backoff(err)
			}
			continue
		}
		l.Data, l.Size, l.Start, l.End = line, size, start, end
		if r.dec.AddTo(&rec, &l, mono) {
			if b, err = h.emit(b, r, &rec, &c); err != nil {
				err = h.rewindAfter(r, err)
				s.pr.End()
				c.publish(s)
				return h.backoff(err)
			}
		}
	}
	h.mark(b, r)
	s.pr.End()
	c.publish(s)
	return nil
}

// flush ships the records r has open (and its unterminated last line when
// withPending), flagged incomplete: the file is being left.
func (h *harvester) flush(r *reader, withPending bool) {
	s := h.s
	pending, hasPending := r.lr.Pending()
	if withPending && hasPending && len(pending.Data) == 0 && pending.Size == 0 {
		hasPending = false
	}
	if _, open := r.dec.PendingStart(); !open && !(withPending && hasPending) {
		return
	}
	b, err := s.pr.Begin(s.queueCtx)
	for errors.Is(err, pipeline.ErrFull) {
		// drop_newest: these are a file's last records and the file is
		// about to be released, so it can no longer serve as their buffer:
		// wait for room instead.
		if h.backoff(err) != nil {
			return
		}
		b, err = s.pr.Begin(s.queueCtx)
	}
	if err != nil {
		return // stopping: the records are read again after a restart
	}
	defer s.pr.End()
	s.enc.Parser.SetIngested(time.Now().UnixNano())
	var c counts
	if withPending && hasPending {
		if rec, ok := r.dec.Add(pending, 0); ok {
			if b, err = h.emit(b, r, &rec, &c); err != nil {
				c.publish(s)
				return
			}
		}
	}
	for _, rec := range r.dec.Flush() {
		if b, err = h.emit(b, r, &rec, &c); err != nil {
			c.publish(s)
			return
		}
	}
	h.mark(b, r)
	c.publish(s)
}

// expire ships the multiline groups that waited longer than their timeout.
func (h *harvester) expire() bool {
	s := h.s
	if s.cfg.Multiline == nil {
		return false
	}
	mono := int64(time.Since(s.epoch))
	did := false
	for i := 0; i <= len(h.old); i++ {
		r := h.cur
		if i < len(h.old) {
			r = h.old[i]
		}
		if r == nil {
			continue
		}
		since, ok := r.dec.PendingSince()
		if !ok || mono-since < int64(s.cfg.Multiline.Timeout) {
			continue
		}
		b, err := s.pr.Begin(s.queueCtx)
		if err != nil {
			return did
		}
		s.enc.Parser.SetIngested(time.Now().UnixNano())
		var c counts
		for _, rec := range r.dec.Expire(mono) {
			if b, err = h.emit(b, r, &rec, &c); err != nil {
				break
			}
		}
		if err == nil {
			h.mark(b, r)
		} else {
			err = h.rewindAfter(r, err)
		}
		s.pr.End()
		c.publish(s)
		did = true
		if err != nil {
			_ = h.backoff(err)
			return did
		}
	}
	return did
}

// emit appends one record to the batch, sealing it first when full.
func (h *harvester) emit(b *event.Batch, r *reader, rec *Record, c *counts) (*event.Batch, error) {
	s := h.s
	if s.pr.Full(b) {
		var err error
		if b, err = h.next(b); err != nil {
			return b, err
		}
	}
	// Set member by member: a composite literal is built aside and copied
	// in, and the copy's wide loads wait for the narrow stores just made.
	var l parse.Line
	l.Data, l.Time, l.TimeText, l.Order, l.OrderKind = rec.Content, rec.Time, rec.TimeText, rec.Start, parse.OrderOffset
	l.Fields, l.FieldsID = r.fields.b[rec.Stream], r.fields.id[rec.Stream]
	if rec.Flags&Truncated != 0 {
		l.Size = rec.Size
	}
	info := s.enc.Append(b, &l, r.idBase(), uint64(rec.Start))
	c.records++
	c.parsed.Add(info.Flags)
	if rec.Flags&Malformed != 0 {
		c.malformed++
		if e := s.warnf("malformed_line"); e != nil {
			e.Str("path", r.name).Int64("offset", rec.Start).Str("format", r.dec.Format().String()).
				Msg("line does not parse in the file's format: shipped whole as the message; set --file-format if detection guessed wrong")
		}
	}
	if rec.Flags&Incomplete != 0 {
		c.incomplete++
	}
	r.commit = rec.Commit
	r.unmarked = true
	return b, nil
}

// emitWhole is emit for a whole record of one terminated line, whose
// document is made from l and whose commit offset is commit: neither
// malformed nor incomplete.
func (h *harvester) emitWhole(b *event.Batch, r *reader, l *parse.Line, commit int64, c *counts) (*event.Batch, error) {
	s := h.s
	if s.pr.Full(b) {
		var err error
		if b, err = h.next(b); err != nil {
			return b, err
		}
	}
	info := s.enc.Append(b, l, r.idBase(), uint64(l.Order))
	c.records++
	c.parsed.Add(info.Flags)
	r.commit = commit
	r.unmarked = true
	return b, nil
}

// next seals b, which is full, and returns the next batch; on error, b and
// the error of Producer.Next (the wait for room is cancelled with the
// queue's context).
func (h *harvester) next(b *event.Batch) (*event.Batch, error) {
	nb, err := h.s.pr.Next(h.s.queueCtx)
	if err != nil {
		return b, err
	}
	return nb, nil
}

// mark adds r's commit offset to b, once per chunk.
func (h *harvester) mark(b *event.Batch, r *reader) {
	if !r.unmarked {
		return
	}
	if m, ok := r.st.mark(r.commit); ok {
		b.Marks = append(b.Marks, m)
	}
	r.unmarked = false
}

// rewindAfter handles a failure to get a new batch in the middle of a chunk:
// the records after the last one queued are read again later (under
// drop_newest the file is its own buffer: nothing is dropped).
func (h *harvester) rewindAfter(r *reader, err error) error {
	if !errors.Is(err, pipeline.ErrFull) {
		return err
	}
	h.s.rewinds.Add(1)
	r.unmarked = false
	if rerr := r.rewind(r.commit); rerr != nil {
		return rerr
	}
	return err
}

// backoff turns a full pipeline (drop_newest) into a pause: the lines stay in
// the file. Other errors pass through.
func (h *harvester) backoff(err error) error {
	if !errors.Is(err, pipeline.ErrFull) {
		return err
	}
	h.s.backoffs.Add(1)
	select {
	case <-h.s.ctx.Done():
		return h.s.ctx.Err()
	case <-time.After(h.s.cfg.PollInterval):
	}
	return nil
}

// counts are per-chunk counters, published once per chunk.
type counts struct {
	lines, records, malformed, incomplete uint64
	parsed                                parse.Counts
}

func (c *counts) publish(s *Source) {
	s.lines.Add(c.lines)
	s.records.Add(c.records)
	s.json.Add(c.parsed.JSON)
	s.malformedJSON.Add(c.parsed.Malformed)
	s.invalidUTF8.Add(c.parsed.InvalidUTF8)
	s.truncated.Add(c.parsed.Truncated)
	s.blank.Add(c.parsed.Blank)
	s.changed.Add(c.parsed.Changed)
	s.malformed.Add(c.malformed)
	s.incomplete.Add(c.incomplete)
	*c = counts{}
}
