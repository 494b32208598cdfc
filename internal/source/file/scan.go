package file

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"shipper/internal/checkpoint"
)

// pathState is what the source knows of one discovered path. Guarded by
// Source.mu.
type pathState struct {
	path    string
	running bool   // a harvester follows it
	orphan  bool   // not matched by the globs: only rotated files to read
	gen     uint64 // scan in which the globs last matched it
	fields  *streamFields

	// A file closed for inactivity: its state and where to read on.
	st     *fileState
	resume int64

	// Prepared for the next harvester: the current file, and rotated
	// files to read before it.
	cur     *reader
	pending []*reader
}

// glob expands the patterns, drops excluded paths, and returns the rest
// sorted and without duplicates.
func (s *Source) glob() []string {
	seen := make(map[string]bool)
	var out []string
	for _, p := range s.cfg.Paths {
		matches, err := filepath.Glob(p)
		if err != nil {
			continue // validated in New
		}
		for _, m := range matches {
			if seen[m] || s.excluded(m) {
				continue
			}
			seen[m] = true
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out
}

// excluded reports whether path matches an Exclude pattern.
func (s *Source) excluded(path string) bool {
	for _, p := range s.cfg.Exclude {
		target := path
		if !strings.Contains(p, "/") {
			target = filepath.Base(path)
		}
		if ok, _ := filepath.Match(p, target); ok {
			return true
		}
	}
	return false
}

// tryOpenSlot takes a file descriptor slot if one is free.
func (s *Source) tryOpenSlot() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open >= s.cfg.MaxOpenFiles {
		return false
	}
	s.open++
	return true
}

// forceOpenSlot takes a slot even beyond the cap: for a file that replaces
// or continues one already held.
func (s *Source) forceOpenSlot() {
	s.mu.Lock()
	s.open++
	s.mu.Unlock()
}

func (s *Source) releaseSlot() {
	s.mu.Lock()
	s.open--
	s.mu.Unlock()
}

// scan expands the globs and starts a harvester for every path that has
// something to read and none yet. The first scan of a run also matches
// checkpoints to files, and looks for the files rotated while the shipper
// was down.
func (s *Source) scan(first bool) {
	matches := s.glob()
	if len(matches) == 0 {
		s.noMatch.Warn(s.log, "no_file_matches").Strs("paths", s.cfg.Paths).Strs("exclude", s.cfg.Exclude).
			Msg("no file matches the paths (--file-paths, --file-mode, --file-exclude): nothing to read until one appears")
	}
	s.mu.Lock()
	s.gen++
	gen := s.gen
	s.mu.Unlock()

	var known *startInfo
	if first {
		known = s.startInfo(matches)
	}
	var start []*pathState
	for _, p := range matches {
		if s.ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		ps := s.paths[p]
		if ps == nil {
			ps = &pathState{path: p, fields: s.pathFields(p)}
			s.paths[p] = ps
		}
		ps.gen = gen
		ps.orphan = false
		busy := ps.running
		s.mu.Unlock()
		if busy {
			continue
		}
		if s.prepare(ps, known) {
			start = append(start, ps)
		}
	}
	if first {
		for _, ps := range s.recoverRotated(known) {
			if !slices.Contains(start, ps) {
				start = append(start, ps)
			}
		}
	}
	// Every file about to be read has its checkpoint on disk first.
	s.persist()
	for _, ps := range start {
		s.startHarvester(ps)
	}
	s.forgetVanished(gen)
}

// startInfo is what the first scan knows about checkpoints.
type startInfo struct {
	// pathKnown: paths that have a checkpoint, for whatever file.
	pathKnown map[string]bool
	// unclaimed: checkpoints whose content is not at a watched path (not
	// found there, or another content on the same inode): candidates for
	// rotated files.
	unclaimed map[entryKey]checkpoint.Entry
	// newest: per path, when its newest checkpoint was written (as loaded).
	newest map[string]time.Time
	// since: per path, the time after which rotated files that no
	// checkpoint knows were never read: that of its oldest checkpoint
	// (every content read from the path keeps its checkpoint while it is
	// on disk, so an unknown one written since was never read, e.g. a
	// generation the shipper was behind on when it was killed).
	since map[string]time.Time
}

// entryKey is the key of a checkpoint entry: device, inode and id seed.
type entryKey struct {
	fileKey
	seed uint64
}

func entryKeyOf(e checkpoint.Entry) entryKey { return entryKey{keyOf(e.ID), e.IDSeed()} }

func (s *Source) startInfo(matches []string) *startInfo {
	k := &startInfo{pathKnown: make(map[string]bool),
		unclaimed: make(map[entryKey]checkpoint.Entry), newest: make(map[string]time.Time),
		since: make(map[string]time.Time)}
	for _, e := range s.store.All() {
		k.pathKnown[e.Path] = true
		if e.Updated.After(k.newest[e.Path]) {
			k.newest[e.Path] = e.Updated
		}
		if t, ok := k.since[e.Path]; !ok || e.Updated.Before(t) {
			k.since[e.Path] = e.Updated
		}
		k.unclaimed[entryKeyOf(e)] = e
	}
	// A watched path without any checkpoint was never opened: the files
	// rotated from it since the last checkpoint write were created and
	// rotated while the shipper was down (or between two scans before the
	// kill). They are read like those of known paths; with StartAtEnd a
	// path found without a checkpoint starts at its end, so not for them.
	var latest time.Time
	for _, t := range k.newest {
		if t.After(latest) {
			latest = t
		}
	}
	for _, p := range matches {
		if !k.pathKnown[p] && !latest.IsZero() && !s.cfg.StartAtEnd {
			k.since[p] = latest
		}
		// The checkpoint matching the file's content is in use; others
		// on the same inode are older contents, maybe copied elsewhere.
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		if id, err := checkpoint.Identify(f); err == nil {
			if e, ok, _ := s.store.Lookup(f, id); ok {
				delete(k.unclaimed, entryKeyOf(e))
			}
		}
		f.Close()
	}
	return k
}

// prepare opens what a path needs read and reports whether a harvester should
// start for it: the current file (taking a descriptor slot) and, for a file
// closed for inactivity that was rotated since, the rotated file.
//
// A file opened at the path after the first scan may have had predecessors
// created and rotated away between two scans, never seen at the path: those
// written since the source started that no state or checkpoint knows are
// read first.
func (s *Source) prepare(ps *pathState, known *startInfo) bool {
	s.mu.Lock()
	closed, resume := ps.st, ps.resume
	hasPending := len(ps.pending) > 0
	s.mu.Unlock()

	fi, err := os.Stat(ps.path)
	if err != nil {
		return hasPending // gone since the glob: the next scan forgets it
	}
	key, _ := statKey(fi)
	if closed != nil && key == closed.key && fi.Size() == resume && !hasPending {
		return false // closed for inactivity and unchanged
	}
	if !s.tryOpenSlot() {
		if e := s.warnf("max_open_files"); e != nil {
			e.Int("max_open_files", s.cfg.MaxOpenFiles).Str("path", ps.path).
				Msg("too many files open: this file waits for a free slot; raise --file-max-open-files or lower --file-close-inactive")
		}
		return false
	}
	var cur *reader
	var old *reader
	if closed != nil && key == closed.key {
		// Grown (or truncated: the harvester notices) since it was closed.
		f, err := os.Open(ps.path)
		if err == nil {
			cur = s.newReader(f, nil, closed, resume, ps.path)
			s.opened.Add(1)
		}
	} else {
		if closed != nil {
			// Rotated or deleted while closed: read what was appended to
			// it before that, if it can still be found.
			old = s.findRotated(ps.path, closed, resume)
		}
		cur, err = s.openNew(ps.path, known)
		if err == nil && known == nil {
			for _, r := range s.unknownSiblings(ps.path, s.started, cur.st.key, nil) {
				r.fields = ps.fields
				ps.pending = append(ps.pending, r)
				s.caughtUp.Add(1)
				s.log.Info().Str("path", ps.path).Str("rotated_file", r.name).
					Msg("found a rotated file never opened (created and rotated away between two scans): reading it")
			}
		}
	}
	if err != nil || cur == nil {
		s.releaseSlot()
		if !errors.Is(err, fs.ErrNotExist) {
			s.readErrors.Add(1)
			if e := s.warnf("open_failed"); e != nil {
				e.Err(err).Str("path", ps.path).Msg("cannot open file; will retry at the next scan")
			}
		}
		if old == nil && !hasPending {
			return false
		}
	}
	s.mu.Lock()
	ps.st = nil
	ps.cur = cur
	if old != nil {
		ps.pending = append(ps.pending, old)
	}
	s.mu.Unlock()
	return true
}

// startHarvester starts following ps with the readers prepared for it.
func (s *Source) startHarvester(ps *pathState) {
	s.mu.Lock()
	ps.running = true
	h := &harvester{s: s, ps: ps, path: ps.path, cur: ps.cur, old: ps.pending, orphan: ps.orphan}
	ps.cur, ps.pending = nil, nil
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		h.run()
	}()
}

// forgetVanished drops idle paths the globs no longer match (deleted, or now
// excluded). The state of a file closed for inactivity there is finished.
func (s *Source) forgetVanished(gen uint64) {
	s.mu.Lock()
	var gone []*pathState
	for p, ps := range s.paths {
		if ps.gen != gen && !ps.running && len(ps.pending) == 0 {
			delete(s.paths, p)
			gone = append(gone, ps)
		}
	}
	s.mu.Unlock()
	for _, ps := range gone {
		if ps.st != nil {
			s.finish(ps.st, false) // prune drops the checkpoint once the file is gone
			ps.st = nil
		}
	}
}

// openNew opens the file now at path and decides where to start reading it.
// first is set for the first scan of a run, known holds its checkpoint
// information (nil later).
func (s *Source) openNew(path string, known *startInfo) (*reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	id, err := checkpoint.Identify(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	size := fi.Size()
	var start int64
	e, ok, err := s.store.Lookup(f, id)
	if err != nil {
		f.Close()
		return nil, err
	}
	var seed uint64
	switch {
	case ok && e.Offset <= size:
		start = e.Offset
		seed = e.IDSeed()
	case ok:
		// Same first bytes, shorter than its checkpoint: truncated and
		// rewritten while down. Another generation: other record ids.
		if ev := s.warnf("shrunk_while_down"); ev != nil {
			ev.Str("path", path).Int64("checkpoint", e.Offset).Int64("size", size).
				Msg("file is shorter than its checkpoint (truncated while the shipper was down): reading it from the beginning")
		}
		if known != nil {
			known.unclaimed[entryKeyOf(e)] = e
		}
		seed = s.unusedSeed(keyOf(id), nextSeed(e.IDSeed()))
		ok = false
	default:
		// Another content on a known inode (truncated or replaced while
		// down) stays unclaimed: recoverRotated looks for it.
		_, sameInode := s.store.ByInode(id.Dev, id.Ino)
		seed = s.seedFor(id)
		if known != nil && s.cfg.StartAtEnd && !sameInode && !known.pathKnown[path] {
			start, err = lastLineEnd(f, size)
			if err != nil {
				f.Close()
				return nil, err
			}
		}
	}
	s.opened.Add(1)
	var st *fileState
	if ok {
		st = s.newState(id, path, seed, true)
		st.start = start
		if e.ID != id {
			// The checkpoint was written while the file was shorter (often
			// empty: opened just after it was created, by a run killed
			// before it read anything). It learns the first bytes now,
			// persisted with it by the caller before any record is
			// shipped: an empty fingerprint recognizes no compressed copy,
			// and the restart after a kill would read the .gz again under
			// another id seed.
			e.ID, e.Path = id, path
			s.store.Set(e)
		}
	} else {
		// Known from now on: should it be rotated away while the shipper is
		// down, the next start finds it by this entry (once persisted).
		st = s.track(id, path, seed, start)
	}
	r := s.newReader(f, nil, st, start, path)
	r.watchEmpty(fi.ModTime())
	return r, nil
}

// lastLineEnd returns the offset just past the last '\n' before size, or 0.
func lastLineEnd(f *os.File, size int64) (int64, error) {
	var buf [64 << 10]byte
	end := size
	for end > 0 {
		n := int64(len(buf))
		if n > end {
			n = end
		}
		m, err := f.ReadAt(buf[:n], end-n)
		if err != nil && !errors.Is(err, fs.ErrClosed) && m < int(n) {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:m], '\n'); i >= 0 {
			return end - n + int64(i) + 1, nil
		}
		end -= n
	}
	return 0, nil
}
