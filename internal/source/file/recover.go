package file

import (
	"bytes"
	"compress/gzip"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"shipper/internal/checkpoint"
)

// rotatedFile is a file next to a watched one whose name is the watched
// file's name with a rotation suffix (see rotatedSuffix).
//
// f is the file opened while listing: key, size and mtime are its own (from
// the descriptor), and whoever matches or reads a listed file does so through
// f, never by opening path again. logrotate shifts numbered names (.1 -> .2
// ...) at every rotation: the name may hold another file, or none, by the
// time the listing is looked at. path is only the name the file had when
// listed (for the logs). Whoever takes f sets it to nil; closeRotated closes
// the others.
type rotatedFile struct {
	path  string
	f     *os.File
	key   fileKey
	size  int64
	mtime time.Time
	gz    bool
}

// take returns the listed file's descriptor and leaves it to the caller.
func (c *rotatedFile) take() *os.File {
	f := c.f
	c.f = nil
	return f
}

// closeRotated closes the descriptors of the listed files nobody took.
func closeRotated(cands []rotatedFile) {
	for i := range cands {
		if f := cands[i].take(); f != nil {
			f.Close()
		}
	}
}

// afterListing, when set (by tests), is called by unknownSiblings between
// its listing and its look at the files listed: the moment names may shift.
var afterListing atomic.Pointer[func(path string, current fileKey)]

// afterRotatedListing, when set (by tests), is called with the watched path
// once its rotated files are listed (rotatedCandidates, listSiblings) and
// before any file listed is matched or read: the moment logrotate may shift
// the numbered names (.1 -> .2 ...).
var afterRotatedListing atomic.Pointer[func(path string)]

func rotatedListed(path string) {
	if h := afterRotatedListing.Load(); h != nil {
		(*h)(path)
	}
}

// fileStamp is what tells whether a file changed between two looks.
type fileStamp struct {
	size  int64
	mtime time.Time
}

// rotatedSuffix reports whether suffix, what follows a watched file's name
// in the name of a file next to it, is one that logrotate or kubelet give a
// rotated file, and whether it is compressed:
//
//	.1  .2 ...            logrotate (numbered)
//	-20260101             logrotate dateext (any digits after '-' or '.')
//	.20260101-120000      kubelet (digits groups joined by '-', '_' or '.')
//	.1.gz  -20260101.gz  .20260101-120000.gz  .gz   the same, compressed
//
// Anything else (".tmp" of a compression in progress, ".bak", another file
// whose name merely starts with the same characters) is not a rotated file.
func rotatedSuffix(suffix string) (gz, ok bool) {
	if rest, found := strings.CutSuffix(suffix, ".gz"); found {
		gz, suffix = true, rest
		if suffix == "" {
			return true, true
		}
	}
	if len(suffix) < 2 || (suffix[0] != '.' && suffix[0] != '-') {
		return false, false
	}
	digits := 0
	for i := 1; i < len(suffix); i++ {
		switch c := suffix[i]; {
		case c >= '0' && c <= '9':
			digits++
		case (c == '-' || c == '_' || c == '.') && digits > 0 && i+1 < len(suffix):
			digits = 0
		default:
			return false, false
		}
	}
	return gz, digits > 0
}

// listings counts the listings of rotated files (rotatedCandidates) and
// gzHeads the compressed files whose first bytes were read, for the tests of
// how much a start and a rotation cost.
var listings, gzHeads atomic.Uint64

// rotatedCandidates lists the files next to path's real file (symlinks
// followed) whose names start with its name, newest first, path itself
// excluded, each opened (see rotatedFile; the caller closes them with
// closeRotated). A file opened under two names (renamed between two opens)
// is listed once.
func rotatedCandidates(path string) []rotatedFile {
	listings.Add(1)
	real := realPath(path)
	dir, base := filepath.Dir(real), filepath.Base(real)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []rotatedFile
	seen := make(map[fileKey]bool)
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, base) {
			continue
		}
		gz, ok := rotatedSuffix(name[len(base):])
		if !ok {
			continue
		}
		p := filepath.Join(dir, name)
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		fi, err := f.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			f.Close()
			continue
		}
		c := rotatedFile{path: p, f: f, size: fi.Size(), mtime: fi.ModTime(), gz: gz}
		c.key, _ = statKey(fi)
		if seen[c.key] {
			f.Close()
			continue
		}
		seen[c.key] = true
		out = append(out, c)
	}
	// Newest first. File times come from a coarse kernel clock: files
	// rotated within the same tick tie, and the inode number (allocated
	// in increasing order by common filesystems) breaks the tie.
	sort.Slice(out, func(i, j int) bool {
		if !out[i].mtime.Equal(out[j].mtime) {
			return out[i].mtime.After(out[j].mtime)
		}
		return out[i].key.ino > out[j].key.ino
	})
	rotatedListed(path)
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
	defer closeRotated(cands)
	if byInode {
		for i := range cands {
			c := &cands[i]
			if c.gz || c.key != keyOf(id) || c.size < offset || !startsWith(c.f, id) {
				continue
			}
			f := c.take()
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
	for i := range cands {
		c := &cands[i]
		if c.gz || c.key == keyOf(id) || c.size < offset || c.size < int64(id.FingerprintLen) {
			continue
		}
		cur, err := checkpoint.Identify(c.f)
		if err != nil || !startsWith(c.f, id) {
			continue
		}
		f := c.take()
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
	for i := range cands {
		c := &cands[i]
		if !c.gz {
			continue
		}
		var st *fileState
		if keep {
			st = reuse
		}
		if r := s.openCompressed(c.f, c.path, path, id, offset, seed, st); r != nil {
			c.take()
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

// openCompressed returns a reader of the gzip file f (listed as gzPath)
// positioned at offset of its content, if its content starts with the bytes
// fingerprinted in id and is at least offset long. The reader owns f; when it
// returns nil, f stays the caller's.
func (s *Source) openCompressed(f *os.File, gzPath, path string, id checkpoint.FileID, offset int64, seed uint64, reuse *fileState) *reader {
	fail := func() *reader { return nil }
	zr, err := gzip.NewReader(io.NewSectionReader(f, 0, 1<<62))
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

// unknownRotated finds, next to the watched paths, rotated files (compressed
// or not) whose content no checkpoint knows and that were last written after
// the path's oldest checkpoint (startInfo.since): files created and rotated
// away while the shipper was down, or while it was behind before the kill.
// They are read from their beginning.
func (s *Source) unknownRotated(known *startInfo) []*reader {
	paths := make([]string, 0, len(known.since))
	for p := range known.since {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var out []*reader
	for _, path := range paths {
		if s.ctx.Err() != nil {
			break
		}
		// The file the first scan opened at the path may have been empty
		// then and filled, renamed and compressed since (the look takes a
		// while): its state must know its first bytes before the look, or
		// its .gz passes for an unknown file. No harvester runs yet.
		s.mu.Lock()
		var held []*reader
		if ps := s.paths[path]; ps != nil {
			if ps.cur != nil {
				held = append(held, ps.cur)
			}
			held = append(held, ps.pending...)
		}
		s.mu.Unlock()
		for _, r := range held {
			r.learnHead()
		}
		out = append(out, s.unknownSiblings(path, known.since[path], fileKey{}, nil)...)
	}
	return out
}

// unknownSiblings returns readers, from offset 0 and oldest first, of the
// uncompressed rotated files next to path that were last written at or after
// since and whose content no state or checkpoint knows (compared by the
// fingerprint of the first bytes, whatever the inode: an inode number may
// have been reused, and a copy holds a known content on another inode),
// except the file current. Their checkpoints are recorded, not persisted: the caller calls
// persist before reading. A compressed one is known by the content of its
// first bytes: checkpoints of rotated files are kept while the file or its
// compressed copy is on disk (see prune).
//
// known, when not nil, holds the files found known by the previous look of
// the same caller, by device and inode with their size and modification
// time: a file unchanged since is known still (a checkpoint is kept while
// its file is on disk) and not read again; this look's known files replace
// them. A harvester looks at every rotation, and reading the first bytes of
// every rotated file (decompressing the .gz ones) each time cost more than
// reading the lines.
func (s *Source) unknownSiblings(path string, since time.Time, current fileKey, known map[fileKey]fileStamp) []*reader {
	// File times come from a coarse kernel clock (a few ms): a file written
	// just before since may look older than it. Read such a file again
	// rather than miss it; its records keep their ids.
	since = since.Add(-time.Second)
	cands := rotatedCandidates(path)
	defer closeRotated(cands)
	if h := afterListing.Load(); h != nil {
		(*h)(path, current)
	}
	slices.Reverse(cands) // oldest first
	var prev map[fileKey]fileStamp
	if known != nil {
		prev = maps.Clone(known)
		clear(known)
	}
	var out []*reader
	for i := range cands {
		c := &cands[i]
		if c.key == current || c.mtime.Before(since) {
			continue
		}
		stamp := fileStamp{c.size, c.mtime}
		if st, ok := prev[c.key]; ok && st == stamp {
			known[c.key] = stamp
			continue
		}
		if c.gz {
			// Created, rotated and compressed while the shipper was
			// away or behind (kubelet compresses at the next rotation).
			head := gzHead(c.f)
			if len(head) == 0 {
				continue
			}
			if s.knowsHead(head) {
				if known != nil {
					known[c.key] = stamp
				}
				continue
			}
			id := checkpoint.FileID{Dev: c.key.dev, Ino: c.key.ino}
			id.Fingerprint, id.FingerprintLen = checkpoint.Fingerprint(head)
			st := s.track(id, path, s.seedFor(id), 0)
			if r := s.openCompressed(c.f, c.path, path, id, 0, st.seed, st); r != nil {
				c.take()
				r.mtime = c.mtime
				out = append(out, r)
			} else {
				s.finish(st, true)
			}
			continue
		}
		// Known by content, whatever the inode: a copy of a checkpointed
		// content is read (from its checkpoint) by whoever finds that
		// content, not again from 0 under other ids.
		var head [checkpoint.FingerprintBytes]byte
		n, _ := c.f.ReadAt(head[:], 0)
		id, err := checkpoint.Identify(c.f)
		// The file opened while listing may be one followed since it was
		// empty, whose state has no first bytes to recognize it by yet.
		if err != nil || n == 0 || keyOf(id) == current || s.followsEmpty(keyOf(id)) {
			continue
		}
		if s.knowsHead(head[:n]) {
			if known != nil && keyOf(id) == c.key {
				known[c.key] = stamp
			}
			continue
		}
		f := c.take()
		st := s.track(id, path, s.seedFor(id), 0)
		s.forceOpenSlot()
		r := s.newReader(f, nil, st, 0, c.path)
		r.mode = modeRotated
		r.mtime = c.mtime
		out = append(out, r)
	}
	return out
}

// pruneEvery is how often checkpoints of files no longer on disk are
// dropped (a checkpoint goes at the second prune that misses its file). Every
// rotation adds a checkpoint; the ones of deleted files must not pile up, as
// every checkpoint write and every look for unknown rotated files goes
// through all of them.
const pruneEvery = time.Minute

// prune drops the checkpoints of files that are gone: not followed, and in
// two prunes in a row found neither at their path nor next to it under a
// rotated name (same device and inode, same first bytes), nor compressed next
// to it (same first bytes). One prune is not enough: a directory listing
// taken while logrotate shifts rotated names (.1 -> .2 ...) may miss a file
// that is on disk all along, and a checkpoint dropped by mistake makes the
// next look take its content for an unknown one and read it again under other
// record ids. Each path's files are listed once and each file's first bytes
// read once per prune (they are judged by what was read from the open file,
// never by the name, which may belong to another file by then).
func (s *Source) prune() {
	s.mu.Lock()
	live := make(map[entryKey]bool, len(s.slots))
	for _, st := range s.slots {
		if st != nil {
			live[entryKey{st.key, st.seed}] = true
		}
	}
	s.mu.Unlock()
	byPath := make(map[string][]checkpoint.Entry)
	for _, e := range s.store.All() {
		if !live[entryKeyOf(e)] {
			byPath[e.Path] = append(byPath[e.Path], e)
		}
	}
	missing := make(map[entryKey]bool)
	for path, es := range byPath {
		found := make([]bool, len(es))
		left := len(es)
		// match marks the entries whose content is f's: an uncompressed
		// file on their device and inode, or a compressed one (whose
		// device and inode say nothing about the content).
		match := func(key fileKey, head []byte, gz bool) {
			prefix := checkpoint.PrefixFingerprints(head)
			for i, e := range es {
				n := e.ID.FingerprintLen
				if found[i] || n >= len(prefix) || (n > 0 && prefix[n] != e.ID.Fingerprint) {
					continue
				}
				// An empty fingerprint says nothing about a content: such
				// an entry is matched by its device and inode only.
				if (gz && n > 0) || (!gz && key == keyOf(e.ID)) {
					found[i] = true
					left--
				}
			}
		}
		if key, head, ok := fileHead(path); ok {
			match(key, head, false)
		}
		cands := rotatedCandidates(path)
		for _, c := range cands {
			if left == 0 {
				break
			}
			if c.gz {
				if head := gzHead(c.f); len(head) > 0 {
					match(fileKey{}, head, true)
				}
			} else if head, ok := headOf(c.f); ok {
				match(c.key, head, false)
			}
		}
		closeRotated(cands)
		for i, e := range es {
			if found[i] {
				continue
			}
			k := entryKeyOf(e)
			if s.pruneMissing[k] {
				s.store.Delete(e.ID)
				continue
			}
			missing[k] = true
		}
	}
	s.pruneMissing = missing
}

// fileHead returns the device and inode of the file at path and its first
// checkpoint.FingerprintBytes bytes, both from the same open file.
func fileHead(path string) (fileKey, []byte, bool) {
	f, err := os.Open(path)
	if err != nil {
		return fileKey{}, nil, false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fileKey{}, nil, false
	}
	key, _ := statKey(fi)
	head, ok := headOf(f)
	return key, head, ok
}

// headOf returns the first checkpoint.FingerprintBytes bytes of f (read at
// offset 0; f's offset does not move).
func headOf(f *os.File) ([]byte, bool) {
	head := make([]byte, checkpoint.FingerprintBytes)
	n, err := f.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return nil, false
	}
	return head[:n], true
}

// gzHead returns the first checkpoint.FingerprintBytes bytes of the content
// of the gzip file f, or nil (f's offset does not move).
func gzHead(f *os.File) []byte {
	gzHeads.Add(1)
	zr, err := gzip.NewReader(io.NewSectionReader(f, 0, 1<<62))
	if err != nil {
		return nil
	}
	defer zr.Close()
	head := make([]byte, checkpoint.FingerprintBytes)
	n, _ := io.ReadFull(zr, head)
	return head[:n]
}

// followsEmpty reports whether a state holds the device and inode k with an
// empty fingerprint: a file opened while empty that has grown since (and may
// have been renamed meanwhile); its first bytes identify nothing yet.
func (s *Source) followsEmpty(k fileKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.slots {
		if st != nil && st.key == k {
			st.mu.Lock()
			empty := st.id.FingerprintLen == 0
			st.mu.Unlock()
			if empty {
				return true
			}
		}
	}
	return false
}

// knowsHead reports whether a content starting with head (of a compressed
// file) is checkpointed or followed.
func (s *Source) knowsHead(head []byte) bool {
	if _, ok := s.store.MatchHead(head); ok {
		return true
	}
	prefix := checkpoint.PrefixFingerprints(head)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.slots {
		if st == nil {
			continue
		}
		st.mu.Lock()
		id := st.id
		st.mu.Unlock()
		if n := id.FingerprintLen; n > 0 && n < len(prefix) && prefix[n] == id.Fingerprint {
			return true
		}
	}
	return false
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
	// By path (each path's listing is closed before the next path's is
	// made: its files are held open), then by checkpoint time.
	sort.Slice(entries, func(i, j int) bool {
		if entries[i].Path != entries[j].Path {
			return entries[i].Path < entries[j].Path
		}
		return entries[i].Updated.Before(entries[j].Updated)
	})
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
	// Each path's rotated files are listed, and their first bytes read,
	// once for all its checkpoints (there may be hundreds: every rotated
	// file on disk keeps one), and once more at the first checkpoint whose
	// file the listing lacks (a listing taken while names shift may miss a
	// file). Listing per checkpoint made a start take seconds before the
	// first line was read.
	var (
		listed   string
		list     []sibling
		relisted bool
	)
	defer func() { closeSiblings(list) }()
	for _, e := range entries {
		if s.ctx.Err() != nil {
			break // stopping: the rest is looked for at the next start
		}
		if list == nil || e.Path != listed {
			closeSiblings(list)
			listed, list, relisted = e.Path, listSiblings(e.Path), false
		}
		r, stale := s.locateIn(e, list)
		if r == nil && !relisted {
			relisted = true
			closeSiblings(list)
			list = listSiblings(e.Path)
			r, stale = s.locateIn(e, list)
		}
		if stale {
			// Renamed since the listing: look the slow way.
			r = s.locate(e.Path, e.ID, e.Offset, e.IDSeed(), nil, false, true)
		}
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
	// A checkpoint's time is when its file was last delivered from, which
	// for a reader that was behind comes after later generations were
	// written: unknown rotated files are those written after the oldest
	// checkpointed file on disk (by its modification time) as well.
	closeSiblings(list)
	list = nil
	for _, r := range found {
		if t, ok := known.since[r.st.path]; ok && !r.mtime.IsZero() && r.mtime.Before(t) {
			known.since[r.st.path] = r.mtime
		}
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

// sibling is a rotated file next to a watched path as listed at one moment,
// with the fingerprints of its content's first bytes (uncompressed for a
// compressed file) by length: what checkpoints are matched against.
type sibling struct {
	rotatedFile
	prefix []uint64 // checkpoint.PrefixFingerprints of its first bytes
}

// holds reports whether the sibling's content starts with the bytes id
// fingerprints (an empty fingerprint: any content).
func (c *sibling) holds(id checkpoint.FileID) bool {
	n := id.FingerprintLen
	return n < len(c.prefix) && (n == 0 || c.prefix[n] == id.Fingerprint)
}

// closeSiblings closes the descriptors of the listed files nobody took.
func closeSiblings(sibs []sibling) {
	for i := range sibs {
		if f := sibs[i].take(); f != nil {
			f.Close()
		}
	}
}

// listSiblings lists the rotated files next to path (newest first, as
// rotatedCandidates), each opened, and reads each one's first bytes from
// the file opened. The caller closes them with closeSiblings.
//
// The directory is listed twice and the listings merged: a listing taken
// while logrotate shifts names may miss a file that is there all along (a
// rename moves its entry), and a checkpoint whose file the listing lacks is
// taken for the checkpoint of a deleted file, dropped, and its content read
// again later as an unknown one.
func listSiblings(path string) []sibling {
	cands := rotatedCandidates(path)
	seen := make(map[fileKey]bool, len(cands))
	for _, c := range cands {
		seen[c.key] = true
	}
	for _, c := range rotatedCandidates(path) {
		if seen[c.key] {
			c.f.Close()
			continue
		}
		cands = append(cands, c)
	}
	out := make([]sibling, 0, len(cands))
	for _, c := range cands {
		var head []byte
		if c.gz {
			head = gzHead(c.f)
		} else {
			h, ok := headOf(c.f)
			if !ok {
				c.f.Close()
				continue
			}
			head = h
		}
		out = append(out, sibling{rotatedFile: c, prefix: checkpoint.PrefixFingerprints(head)})
	}
	rotatedListed(path)
	return out
}

// locateIn is locate for a checkpoint at start, matched against a listing
// of the path's rotated files made beforehand: the same device and inode
// with the same first bytes (renamed), another file with the same first
// bytes (a copy), a compressed file whose content starts with them. The file
// found gets a state of its own with the checkpoint's offset and id seed.
// The file found is read through the descriptor opened while listing (a
// name may hold another file by now); only a second checkpoint matching the
// same file, whose descriptor the first one took, opens its name again.
// stale reports that a file matched in the listing turned out to be another
// one when opened again by name (renamed since): the caller looks again.
func (s *Source) locateIn(e checkpoint.Entry, sibs []sibling) (r *reader, stale bool) {
	id, offset, seed := e.ID, e.Offset, e.IDSeed()
	open := func(c *sibling) *reader {
		f := c.take()
		if f == nil {
			var err error
			if f, err = os.Open(c.path); err != nil {
				return nil
			}
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil
		}
		key, nlink := statKey(fi)
		if key != c.key || fi.Size() < offset || !startsWith(f, id) {
			f.Close()
			return nil
		}
		cur, err := checkpoint.Identify(f)
		if err != nil {
			f.Close()
			return nil
		}
		st := s.track(cur, e.Path, seed, offset)
		s.forceOpenSlot()
		r := s.newReader(f, nil, st, offset, c.path)
		r.mode = modeRotated
		if key != keyOf(id) || nlink == 0 {
			r.mode = modeGone // a copy, or deleted
		}
		r.mtime = c.mtime
		return r
	}
	for i := range sibs {
		c := &sibs[i]
		if c.gz || c.key != keyOf(id) || c.size < offset || !c.holds(id) {
			continue
		}
		if r := open(c); r != nil {
			return r, false
		}
		return nil, true
	}
	if id.FingerprintLen == 0 {
		return nil, false // an empty file: nothing to recognize it by
	}
	for i := range sibs {
		c := &sibs[i]
		if c.gz || c.key == keyOf(id) || c.size < offset || c.size < int64(id.FingerprintLen) || !c.holds(id) {
			continue
		}
		if r := open(c); r != nil {
			return r, false
		}
		return nil, true
	}
	for i := range sibs {
		c := &sibs[i]
		if !c.gz || !c.holds(id) {
			continue
		}
		f, err := c.f, error(nil)
		if f == nil {
			if f, err = os.Open(c.path); err != nil {
				return nil, true
			}
		}
		if r := s.openCompressed(f, c.path, e.Path, id, offset, seed, nil); r != nil {
			if f == c.f {
				c.take()
			}
			r.mtime = c.mtime
			return r, false
		}
		if f != c.f {
			f.Close()
		}
		return nil, true
	}
	return nil, false
}
