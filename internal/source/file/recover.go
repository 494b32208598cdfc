package file

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"shipper/internal/checkpoint"
)

// rotatedFile is a file next to a watched one whose name starts with the
// watched file's name: where rotation puts it ("app.log.1",
// "app.log-20240101", kubelet's "0.log.20240101-120000" and its ".gz").
type rotatedFile struct {
	path  string
	key   fileKey
	size  int64
	mtime time.Time
	gz    bool
}

// rotatedCandidates lists the files next to path's real file (symlinks
// followed) whose names start with its name, newest first, path itself
// excluded.
func rotatedCandidates(path string) []rotatedFile {
	real := realPath(path)
	dir, base := filepath.Dir(real), filepath.Base(real)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []rotatedFile
	for _, e := range entries {
		name := e.Name()
		if name == base || !strings.HasPrefix(name, base) || strings.HasSuffix(name, ".tmp") {
			continue
		}
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		c := rotatedFile{path: p, size: fi.Size(), mtime: fi.ModTime(), gz: strings.HasSuffix(name, ".gz")}
		c.key, _ = statKey(fi)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].mtime.After(out[j].mtime) })
	return out
}

// locate looks next to path for the rotated file holding the content
// identified by id, with at least offset bytes, and returns a reader at
// offset, or nil. It tries, in order: the same device and inode with the same
// content (renamed; only when byInode), another file with the same first
// bytes (copied: copytruncate), a .gz whose content starts with them
// (compressed by kubelet or logrotate).
//
// reuse, when not nil, is the state of the file looked for; with keep, it
// goes on for the file found (for a copy it moves there, see moveState; a
// compressed file keeps the original's checkpoint). Otherwise the file found
// gets a state of its own, with reuse's record ids. seed is the content's id
// seed (checkpoint.Entry.Seed): the records of the file found keep the ids
// they had in the original file.
func (s *Source) locate(path string, id checkpoint.FileID, offset int64, seed uint64, reuse *fileState, keep, byInode bool) *reader {
	cands := rotatedCandidates(path)
	if byInode {
		for _, c := range cands {
			if c.gz || c.key != keyOf(id) || c.size < offset {
				continue
			}
			f, err := os.Open(c.path)
			if err != nil {
				continue
			}
			if !startsWith(f, id) {
				f.Close()
				continue
			}
			st := reuse
			if !keep || st == nil {
				cur, err := checkpoint.Identify(f)
				if err != nil {
					f.Close()
					continue
				}
				st = s.track(cur, path, seed, offset)
				inheritIDs(st, reuse)
			}
			s.forceOpenSlot()
			r := s.newReader(f, nil, st, offset, c.path)
			r.mode = modeRotated
			r.mtime = c.mtime
			if _, nlink, err := r.stat(); err == nil && nlink == 0 {
				r.mode = modeGone
			}
			return r
		}
	}
	if id.FingerprintLen == 0 {
		return nil // an empty file: nothing to recognize it by
	}
	for _, c := range cands {
		if c.gz || c.key == keyOf(id) || c.size < offset || c.size < int64(id.FingerprintLen) {
			continue
		}
		f, err := os.Open(c.path)
		if err != nil {
			continue
		}
		cur, err := checkpoint.Identify(f)
		if err != nil || !startsWith(f, id) {
			f.Close()
			continue
		}
		var st *fileState
		if keep && reuse != nil {
			st = reuse
			s.moveState(st, cur)
		} else {
			st = s.track(cur, path, seed, offset)
			inheritIDs(st, reuse)
		}
		s.forceOpenSlot()
		r := s.newReader(f, nil, st, offset, c.path)
		r.mode = modeGone
		r.mtime = c.mtime
		return r
	}
	for _, c := range cands {
		if !c.gz {
			continue
		}
		var st *fileState
		if keep {
			st = reuse
		}
		if r := s.openCompressed(c.path, path, id, offset, seed, st); r != nil {
			r.mtime = c.mtime
			if !keep {
				inheritIDs(r.st, reuse)
			}
			return r
		}
	}
	return nil
}

// inheritIDs gives st the record ids of from, whose content it holds.
func inheritIDs(st, from *fileState) {
	if from != nil && from.hiOK {
		st.hi, st.hiOK = from.hi, true
	}
}

// startsWith reports whether f's first bytes are those fingerprinted in id.
func startsWith(f *os.File, id checkpoint.FileID) bool {
	buf := make([]byte, id.FingerprintLen)
	n, err := f.ReadAt(buf, 0)
	if n < len(buf) || (err != nil && err != io.EOF) {
		return false
	}
	fp, _ := checkpoint.Fingerprint(buf)
	return fp == id.Fingerprint
}

// openCompressed returns a reader of the gzip file at gzPath positioned at
// offset of its content, if its content starts with the bytes fingerprinted
// in id and is at least offset long.
func (s *Source) openCompressed(gzPath, path string, id checkpoint.FileID, offset int64, seed uint64, reuse *fileState) *reader {
	f, err := os.Open(gzPath)
	if err != nil {
		return nil
	}
	fail := func() *reader {
		f.Close()
		return nil
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fail()
	}
	head := make([]byte, checkpoint.FingerprintBytes)
	m, err := io.ReadFull(zr, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		zr.Close()
		return fail()
	}
	head = head[:m]
	if m < id.FingerprintLen {
		zr.Close()
		return fail()
	}
	if fp, _ := checkpoint.Fingerprint(head[:id.FingerprintLen]); fp != id.Fingerprint {
		zr.Close()
		return fail()
	}
	var src io.Reader = zr
	if offset <= int64(m) {
		src = io.MultiReader(bytes.NewReader(head[offset:]), zr)
	} else if _, err := io.CopyN(io.Discard, zr, offset-int64(m)); err != nil {
		zr.Close()
		return fail()
	}
	st := reuse
	if st == nil {
		// Its checkpoint is the original file's; that device and inode may
		// belong to a new file by now, which keeps it.
		st = s.newState(id, path, seed, false)
		st.start = offset
	}
	s.forceOpenSlot()
	r := s.newReader(f, src, st, offset, gzPath)
	r.gz = zr
	r.head = head
	r.mode = modeGone
	return r
}

// findRotated looks for the file of a state closed for inactivity whose path
// now holds another file: renamed, copied or compressed since. It returns a
// reader at offset when the file has more than that. Otherwise, and when the
// file found has a state of its own, it finishes st.
func (s *Source) findRotated(path string, st *fileState, offset int64) *reader {
	st.mu.Lock()
	id := st.id
	st.mu.Unlock()
	r := s.locate(path, id, offset, st.seed, st, true, true)
	if r != nil && r.gz == nil {
		if size, _, err := r.stat(); err == nil && size <= offset {
			if r.st != st {
				s.finish(r.st, true)
			}
			r.close()
			r = nil
		}
	}
	if r == nil || r.st != st {
		s.finish(st, r == nil)
	}
	if r != nil {
		s.recovered.Add(1)
	}
	return r
}

// unknownRotated finds, next to the watched paths that have checkpoints,
// rotated files that no checkpoint knows and that were last written after the
// path's newest checkpoint: files created and rotated away while the shipper
// was down (or before their checkpoint was written). They are read from their
// beginning. Compressed ones are left alone: they cannot be told from files
// shipped long ago whose checkpoints were dropped.
func (s *Source) unknownRotated(known *startInfo) []*reader {
	newest := known.newest
	paths := make([]string, 0, len(newest))
	for p := range newest {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var out []*reader
	for _, path := range paths {
		out = append(out, s.unknownSiblings(path, newest[path], fileKey{})...)
	}
	return out
}

// unknownSiblings returns readers, from offset 0 and oldest first, of the
// uncompressed rotated files next to path that were last written at or after
// since and whose content no state or checkpoint knows (compared by
// fingerprint: an inode number alone may have been reused), except the file
// current. Their checkpoints are recorded, not persisted: the caller calls
// persist before reading. Compressed ones are left alone: they cannot be told
// from files shipped long ago whose checkpoints were dropped.
func (s *Source) unknownSiblings(path string, since time.Time, current fileKey) []*reader {
	// File times come from a coarse kernel clock (a few ms): a file written
	// just before since may look older than it. Read such a file again
	// rather than miss it; its records keep their ids.
	since = since.Add(-time.Second)
	cands := rotatedCandidates(path)
	slices.Reverse(cands) // oldest first
	var out []*reader
	for _, c := range cands {
		if c.gz || c.key == current || c.mtime.Before(since) {
			continue
		}
		f, err := os.Open(c.path)
		if err != nil {
			continue
		}
		id, err := checkpoint.Identify(f)
		if err != nil || s.knows(f, id) {
			f.Close()
			continue
		}
		st := s.track(id, path, s.seedFor(id), 0)
		s.forceOpenSlot()
		r := s.newReader(f, nil, st, 0, c.path)
		r.mode = modeRotated
		r.mtime = c.mtime
		out = append(out, r)
	}
	return out
}

// pruneEvery is how often checkpoints of files no longer on disk are dropped.
const pruneEvery = 5 * time.Minute

// prune drops the checkpoints of files that are gone: not followed, not at
// their path, and not next to it under a rotated name. A checkpoint kept for
// a compressed rotated file (whose device and inode are gone) goes too.
func (s *Source) prune() {
	s.mu.Lock()
	live := make(map[fileKey]bool, len(s.owners))
	for k := range s.owners {
		live[k] = true
	}
	s.mu.Unlock()
	for _, e := range s.store.All() {
		k := keyOf(e.ID)
		if live[k] {
			continue
		}
		if fi, err := os.Stat(e.Path); err == nil {
			if key, _ := statKey(fi); key == k {
				continue
			}
		}
		found := false
		for _, c := range rotatedCandidates(e.Path) {
			if c.key == k {
				found = true
				break
			}
		}
		if !found {
			s.store.Delete(e.ID)
		}
	}
}

// recoverRotated runs once, after the first scan: checkpoints that no file
// at a watched path claimed belong to files rotated while the shipper was
// down (or gone for good). Each one found is read from its checkpoint, before
// the file now at its path; the checkpoints of the others are dropped. Rotated
// files written after the last checkpoint are read too (unknownRotated). It
// returns the paths that need a harvester started.
func (s *Source) recoverRotated(known *startInfo) []*pathState {
	entries := make([]checkpoint.Entry, 0, len(known.unclaimed))
	for _, e := range known.unclaimed {
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Updated.Before(entries[j].Updated) })
	var out []*pathState
	added := make(map[*pathState]bool)
	queue := func(path string, r *reader) {
		s.mu.Lock()
		ps := s.paths[path]
		if ps == nil {
			ps = &pathState{path: path, orphan: true}
			s.paths[path] = ps
		}
		if ps.fields == nil {
			s.mu.Unlock()
			fields := s.pathFields(path)
			s.mu.Lock()
			ps.fields = fields
		}
		r.fields = ps.fields
		ps.pending = append(ps.pending, r)
		running := ps.running
		s.mu.Unlock()
		if !running && !added[ps] {
			added[ps] = true
			out = append(out, ps)
		}
	}
	var found []*reader
	for _, e := range entries {
		r := s.locate(e.Path, e.ID, e.Offset, e.IDSeed(), nil, false, true)
		if r == nil {
			s.store.Delete(e.ID)
			s.log.Info().Str("path", e.Path).Int64("offset", e.Offset).
				Msg("the file of a checkpoint is gone (deleted, or rotated away and removed while the shipper was down): forgetting its checkpoint")
			continue
		}
		s.recovered.Add(1)
		s.log.Info().Str("path", e.Path).Str("rotated_file", r.name).Int64("offset", e.Offset).
			Msg("found a file rotated while the shipper was down: reading it from its checkpoint")
		found = append(found, r)
	}
	// Oldest first, the order the lines were written in: the files of
	// checkpoints by checkpoint time, then the files written after them by
	// modification time (that of a compressed file is when it was
	// compressed, so it orders nothing).
	for _, r := range s.unknownRotated(known) {
		s.recovered.Add(1)
		s.log.Info().Str("path", r.st.path).Str("rotated_file", r.name).
			Msg("found a rotated file written after the last checkpoint (created and rotated while the shipper was down): reading it from its beginning")
		found = append(found, r)
	}
	for _, r := range found {
		queue(r.st.path, r)
	}
	return out
}
