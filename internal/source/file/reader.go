package file

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"os"
	"time"

	"shipper/internal/checkpoint"
)

// readerMode says how a reader ends.
type readerMode uint8

const (
	// modeLive: the file now at the harvester's path; followed.
	modeLive readerMode = iota
	// modeRotated: renamed away; read to its end, then kept open RotateWait
	// after it last grew, for a writer that has not reopened its log yet.
	modeRotated
	// modeGone: deleted, a copy, or compressed: closed at its end.
	modeGone
)

// reader is one open file being read: its descriptor, framing and decoding
// state. It belongs to one harvester goroutine.
type reader struct {
	s      *Source
	st     *fileState
	f      *os.File
	gz     *gzip.Reader // reading a compressed rotated file
	head   []byte       // of a compressed file: its first bytes, for the record ids
	lr     *LineReader
	dec    *Decoder
	fields *streamFields
	name   string // the name it was opened by
	mode   readerMode
	mtime  time.Time // of a rotated file found at start: read oldest first

	lastData time.Time // when data last arrived
	// commit is the commit offset of the last record emitted; unmarked is
	// set while no mark carries it yet.
	commit   int64
	unmarked bool
	// starved: the last pump stopped because no read buffer was free, not
	// at the file's end.
	starved bool
	// learnt: the file, followed since it was empty, got its first bytes
	// after the last look for rotated files (see harvester.catchUp).
	// emptyMtime: while its state has no first bytes, the modification
	// time the file had when last seen empty (zero: not watched). Either
	// says that contents may have come and gone on the file unseen.
	learnt     bool
	emptyMtime time.Time
}

// newReader returns a reader of f (or of src, a stream over f's content, for
// compressed files) whose next byte is at offset start, for the file state
// st. The caller took a descriptor slot for it.
func (s *Source) newReader(f *os.File, src io.Reader, st *fileState, start int64, name string) *reader {
	if src == nil {
		if _, err := f.Seek(start, io.SeekStart); err != nil {
			// A regular file always seeks; read from where it is.
			s.log.Warn().Err(err).Str("path", name).Msg("cannot seek")
		}
		src = f
	}
	maxLine := s.cfg.MaxRecordBytes + 64<<10
	r := &reader{
		s:        s,
		st:       st,
		f:        f,
		lr:       NewLineReader(src, s.cfg.ReadBytes, maxLine, start),
		dec:      s.newDecoder(),
		name:     name,
		lastData: time.Now(),
		commit:   start,
	}
	r.lr.SetBudget(s.mem)
	r.dec.Reset(start)
	if ps := s.pathFieldsFor(st.path); ps != nil {
		r.fields = ps
	} else {
		r.fields = s.pathFields(st.path)
	}
	return r
}

// newDecoder returns a decoder of the configured format, charging its
// buffers to the source's budget.
func (s *Source) newDecoder() *Decoder {
	return NewDecoder(DecoderConfig{Format: s.cfg.Format, MaxRecordBytes: s.cfg.MaxRecordBytes, Multiline: s.cfg.Multiline, Budget: s.mem})
}

// pathFieldsFor returns the fields of a known path, or nil.
func (s *Source) pathFieldsFor(path string) *streamFields {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ps := s.paths[path]; ps != nil {
		return ps.fields
	}
	return nil
}

// close releases the reader's buffer, descriptor and slot.
func (r *reader) close() {
	r.lr.Release()
	r.dec.Release()
	if r.gz != nil {
		r.gz.Close()
	}
	r.f.Close()
	r.s.releaseSlot()
}

// park gives back the buffers of an idle reader: the read buffer when no
// partial line is buffered, the join buffers of streams with no open record.
// With dropPartial, a buffered partial line is forgotten and the file
// position moved back to its start, so that the read buffer goes back too
// (not for a compressed file, which cannot seek).
func (r *reader) park(dropPartial bool) {
	if !r.lr.Park() && dropPartial && r.gz == nil {
		off := r.lr.Offset()
		if _, err := r.f.Seek(off, io.SeekStart); err == nil {
			r.lr.Reset(r.f, off)
			r.lr.Park()
		}
	}
	r.dec.Trim()
}

// fill reads once more. replaced reports that the file turned out to be
// truncated or rewritten in place: the bytes just read are not a
// continuation of what was read before and must not be used.
func (r *reader) fill() (n int, replaced bool, err error) {
	n, err = r.lr.Fill()
	if n > 0 {
		r.lastData = time.Now()
		// Read, then check: a truncation before the read shows now; one
		// after it did not affect the bytes read.
		if r.gz == nil && !r.sameContent() {
			return n, true, nil
		}
	}
	return n, false, err
}

// sameContent reports whether the file still starts with the bytes its
// fingerprint covers, and lengthens the fingerprint of a file that was shorter
// than checkpoint.FingerprintBytes. A file truncated and rewritten beyond the
// read offset before it was looked at again is caught here.
func (r *reader) sameContent() bool {
	var buf [checkpoint.FingerprintBytes]byte
	m, err := r.f.ReadAt(buf[:], 0)
	if err != nil && err != io.EOF {
		return true // cannot tell; the next look will
	}
	r.st.mu.Lock()
	id := r.st.id
	r.st.mu.Unlock()
	if m < id.FingerprintLen {
		return false
	}
	if fp, _ := checkpoint.Fingerprint(buf[:id.FingerprintLen]); fp != id.Fingerprint {
		return false
	}
	if !r.st.hiOK {
		// The record ids come from the content's first line, taken from
		// bytes just found to be this content's: read later, when a
		// record is handed over (which may wait long for room in the
		// pipeline), they may be the next content's.
		r.st.hi, r.st.hiOK = recordIDBase(r.st.seed, buf[:m])
	}
	if m > id.FingerprintLen {
		wasEmpty := id.FingerprintLen == 0
		id.Fingerprint, id.FingerprintLen = checkpoint.Fingerprint(buf[:m])
		r.st.mu.Lock()
		r.st.id = id
		r.st.mu.Unlock()
		if wasEmpty {
			r.s.firstBytes(r.st)
			r.learnt, r.emptyMtime = true, time.Time{}
		}
	}
	return true
}

// learnHead lengthens the fingerprint of a file whose state has fewer than
// checkpoint.FingerprintBytes of its first bytes (see sameContent), without
// reading it. A compressed file's fingerprint is complete. It is called right
// before a look for rotated files, which covers the first bytes learnt so far
// (learnt is cleared).
func (r *reader) learnHead() {
	defer func() { r.learnt = false }()
	if r.gz != nil {
		return
	}
	r.st.mu.Lock()
	n := r.st.id.FingerprintLen
	r.st.mu.Unlock()
	if n < checkpoint.FingerprintBytes {
		r.sameContent()
	}
}

// watchEmpty notes mtime, the modification time of the file seen empty, if
// its state has no first bytes: a copytruncate generation written, copied
// and truncated before the file is read again leaves it empty once more,
// with only its modification time moved (see harvester.checkCur).
func (r *reader) watchEmpty(mtime time.Time) {
	r.st.mu.Lock()
	empty := r.st.id.FingerprintLen == 0
	r.st.mu.Unlock()
	r.emptyMtime = time.Time{}
	if empty {
		r.emptyMtime = mtime
	}
}

// emptyRewritten reports whether the file, followed while empty and with a
// state that has no first bytes, is empty still (size) but was modified
// since it was last seen so: written and truncated in between. It notes the
// new modification time.
func (r *reader) emptyRewritten(size int64) bool {
	if r.emptyMtime.IsZero() || size != 0 {
		return false
	}
	fi, err := r.f.Stat()
	if err != nil || fi.ModTime().Equal(r.emptyMtime) {
		return false
	}
	r.emptyMtime = fi.ModTime()
	return true
}

// idBase returns the high half of the ids of the file's records. It is
// known once the content's first line was seen complete (sameContent, after
// every read); until then it comes from the file's first bytes as they are
// now.
func (r *reader) idBase() uint64 {
	if r.st.hiOK {
		return r.st.hi
	}
	return r.learnIDBase()
}

// learnIDBase is idBase before the content's first line was seen complete.
func (r *reader) learnIDBase() uint64 {
	var head []byte
	if r.head != nil {
		head = r.head
	} else {
		var buf [checkpoint.FingerprintBytes]byte
		m, _ := r.f.ReadAt(buf[:], 0)
		head = buf[:m]
	}
	r.st.hi, r.st.hiOK = recordIDBase(r.st.seed, head)
	return r.st.hi
}

// recordIDBase derives the id space of a file's records from the inode its
// content was first written to and its first line (at most
// checkpoint.FingerprintBytes of it). A record's id is (base, record offset):
// the same record read again, after a crash, from a renamed, copied or
// compressed rotated file, gets the same id, and Elasticsearch answers its
// create with 409. The device is left out: it may change across reboots.
// final is false while the first line is still incomplete.
func recordIDBase(ino uint64, head []byte) (base uint64, final bool) {
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		head, final = head[:i+1], true
	} else {
		final = len(head) >= checkpoint.FingerprintBytes
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], ino)
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	for _, c := range head {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h, final
}

// stat returns the open file's size and link count.
func (r *reader) stat() (size int64, nlink uint64, err error) {
	fi, err := r.f.Stat()
	if err != nil {
		return 0, 0, err
	}
	_, nlink = statKey(fi)
	return fi.Size(), nlink, nil
}

// rewind makes the reader read again from offset, forgetting what it has
// buffered and the records it has open (they are read again).
func (r *reader) rewind(offset int64) error {
	var src io.Reader = r.f
	if r.gz != nil {
		if _, err := r.f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if err := r.gz.Reset(r.f); err != nil {
			return err
		}
		if _, err := io.CopyN(io.Discard, r.gz, offset); err != nil {
			return err
		}
		src = r.gz
	} else if _, err := r.f.Seek(offset, io.SeekStart); err != nil {
		return err
	}
	r.lr.Reset(src, offset)
	r.dec.Reset(offset)
	r.commit = offset
	return nil
}
