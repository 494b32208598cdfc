// Package checkpoint stores, per log file, the offset up to which everything
// has been delivered, so that a restarted shipper resumes where it stopped.
//
// A file is identified by its device and inode plus a fingerprint of its first
// bytes (FileID), so that a renamed file keeps its checkpoint and a new file on
// a reused inode does not inherit one. The store lives in memory and is
// written to one JSON file atomically (temporary file, fsync, rename, fsync of
// the directory), periodically by Run and at shutdown.
//
// Offsets must only be Set once everything before them is delivered (see
// file.Record.Commit): the store trusts its callers on that.
package checkpoint

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// FingerprintBytes is how many leading bytes of a file the fingerprint covers.
// 1 KiB spans several log lines, each starting with a timestamp, so two
// different log files practically never share it, and reading it costs one
// small pread per opened file.
const FingerprintBytes = 1024

// FileName is the checkpoint file's name inside the store's directory.
const FileName = "checkpoints.json"

// formatVersion is the version of the file format written. Version 1 (no
// id_seed) is read too.
const formatVersion = 2

// FileID identifies a file across renames and restarts.
//
// The fingerprint is a 64-bit FNV-1a hash of the file's first
// min(size, FingerprintBytes) bytes, and FingerprintLen is that length. A file
// shorter than FingerprintBytes gets a fingerprint of what it has so far, so
// even short files are told apart from a new file on a reused inode; since it
// changes as the file grows, match such entries with Store.Lookup, which
// re-hashes the grown file's first FingerprintLen bytes. An empty file has
// Fingerprint 0 and FingerprintLen 0.
type FileID struct {
	Dev, Ino       uint64
	Fingerprint    uint64
	FingerprintLen int
}

// Entry is the checkpoint of one file.
type Entry struct {
	ID FileID
	// Path is where the file was last seen; informational, and a hint for
	// finding rotated files.
	Path string
	// Offset is the committed offset: every record before it is delivered.
	Offset int64
	// Updated is when the entry was last Set.
	Updated time.Time
	// Seed is the id seed of the content's records (see the file input's
	// record ids): the inode the content was first written to, mixed once
	// per generation when a file is truncated and rewritten in place. A
	// copy, a renamed or a compressed file found by this entry inherits it,
	// so its records keep their ids. 0 means ID.Ino (files checkpointed
	// before seeds were kept).
	Seed uint64
}

// IDSeed returns e's id seed: Seed, or the inode when none was recorded.
func (e Entry) IDSeed() uint64 { return seedOr(e.Seed, e.ID.Ino) }

func seedOr(seed, ino uint64) uint64 {
	if seed != 0 {
		return seed
	}
	return ino
}

type inoKey struct{ dev, ino uint64 }

type fpKey struct {
	n  int
	fp uint64
}

// put stores e, replacing the entry of its key; s.mu held.
func (s *Store) put(e Entry) {
	k := keyOf(e)
	if old, ok := s.entries[k]; ok {
		s.unindex(k, old)
	}
	s.entries[k] = e
	ik := inoKey{e.ID.Dev, e.ID.Ino}
	s.byIno[ik] = append(s.byIno[ik], k)
	fk := fpKey{e.ID.FingerprintLen, e.ID.Fingerprint}
	s.byFP[fk] = append(s.byFP[fk], k)
	s.fpLens[fk.n]++
}

// remove deletes the entry of k; s.mu held.
func (s *Store) remove(k key) {
	if e, ok := s.entries[k]; ok {
		s.unindex(k, e)
		delete(s.entries, k)
	}
}

func (s *Store) unindex(k key, e Entry) {
	ik := inoKey{e.ID.Dev, e.ID.Ino}
	if ks := dropKey(s.byIno[ik], k); len(ks) > 0 {
		s.byIno[ik] = ks
	} else {
		delete(s.byIno, ik)
	}
	fk := fpKey{e.ID.FingerprintLen, e.ID.Fingerprint}
	if ks := dropKey(s.byFP[fk], k); len(ks) > 0 {
		s.byFP[fk] = ks
	} else {
		delete(s.byFP, fk)
	}
	if s.fpLens[fk.n]--; s.fpLens[fk.n] <= 0 {
		delete(s.fpLens, fk.n)
	}
}

func dropKey(ks []key, k key) []key {
	for i, x := range ks {
		if x == k {
			ks[i] = ks[len(ks)-1]
			return ks[:len(ks)-1]
		}
	}
	return ks
}

// key is what an entry is stored under: a device and inode, and the id seed
// of the content (one inode holds several contents over time: a file
// truncated and rewritten in place, an inode reused by a new file).
type key struct{ dev, ino, seed uint64 }

func keyOf(e Entry) key { return key{e.ID.Dev, e.ID.Ino, e.IDSeed()} }

// Store is the set of checkpoints, one per content: device, inode and id
// seed. Fingerprints decide which entry a file matches; the inode only
// narrows the search. All methods are safe for concurrent use; Set and Get
// take a mutex (they are called per delivered batch, not per line).
type Store struct {
	dir, path string
	log       zerolog.Logger

	mu      sync.Mutex
	entries map[key]Entry
	// Indexes of entries, kept by put and remove: by device and inode, and
	// by fingerprint (length and hash) with the count of entries per
	// fingerprint length. A look for a file's content then costs a few map
	// lookups, not a pass over every entry (there is one per rotated file
	// on disk: hundreds to thousands).
	byIno  map[inoKey][]key
	byFP   map[fpKey][]key
	fpLens map[int]int
	gen    uint64 // changes since Open
	saved  uint64 // gen of the last successful Flush

	flushMu sync.Mutex // serializes Flush
}

// Open loads the checkpoints kept in dir, creating dir if needed. The error is
// only for a directory that cannot be created.
//
// A checkpoint file that cannot be read or parsed (garbage, truncated JSON, an
// unknown version, a directory in its place...) is reported loudly: logged at
// error level with its path and the reason, and renamed aside to
// "<file>.corrupt-<time>" for inspection. The store then starts empty. Temporary
// files left by an interrupted Flush are removed: the checkpoint file they were
// meant to replace is still whole.
func Open(dir string, log zerolog.Logger) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create checkpoint directory %q: %w", dir, err)
	}
	s := &Store{dir: dir, path: filepath.Join(dir, FileName), log: log, entries: make(map[key]Entry),
		byIno: make(map[inoKey][]key), byFP: make(map[fpKey][]key), fpLens: make(map[int]int)}

	leftovers, _ := filepath.Glob(filepath.Join(dir, FileName+".tmp-*"))
	for _, p := range leftovers {
		err := os.RemoveAll(p)
		s.log.Warn().Str("path", p).AnErr("remove_error", err).
			Msg("removed a temporary checkpoint file left by an interrupted write; the previous checkpoint file is used")
	}

	data, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.log.Info().Str("path", s.path).Msg("no checkpoint file yet: starting without checkpoints")
		return s, nil
	case err != nil:
		s.setAside(fmt.Errorf("cannot read checkpoint file: %w", err))
		return s, nil
	}
	entries, err := decode(data)
	if err != nil {
		s.setAside(err)
		return s, nil
	}
	for _, e := range entries {
		s.put(e)
	}
	s.log.Info().Str("path", s.path).Int("entries", len(entries)).Msg("loaded checkpoints")
	return s, nil
}

// setAside moves the unusable checkpoint file out of the way and says so.
func (s *Store) setAside(reason error) {
	aside := s.path + ".corrupt-" + time.Now().UTC().Format("20060102T150405.000000000Z")
	if err := os.Rename(s.path, aside); err != nil {
		s.log.Error().Str("path", s.path).Err(reason).AnErr("rename_error", err).
			Msg("checkpoint file is unusable and could not be moved aside; starting without checkpoints, " +
				"so files are read again from the configured start position (logs may be duplicated or skipped). " +
				"Remove or repair the file")
		return
	}
	s.log.Error().Str("path", s.path).Str("moved_to", aside).Err(reason).
		Msg("checkpoint file is unusable; moved it aside and starting without checkpoints, " +
			"so files are read again from the configured start position (logs may be duplicated or skipped)")
}

// Get returns the entry of the file identified by id: same device and inode,
// and the same fingerprint (an entry whose file has been overwritten on a
// reused inode does not match). See Lookup for files that grew past a short
// fingerprint.
func (s *Store) Get(id FileID) (Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.byIno[inoKey{id.Dev, id.Ino}] {
		if e := s.entries[k]; e.ID == id {
			return e, true
		}
	}
	return Entry{}, false
}

// onInode returns the entries of the device and inode, newest first.
func (s *Store) onInode(dev, ino uint64) []Entry {
	s.mu.Lock()
	ks := s.byIno[inoKey{dev, ino}]
	out := make([]Entry, 0, len(ks))
	for _, k := range ks {
		out = append(out, s.entries[k])
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Entry) int { return b.Updated.Compare(a.Updated) })
	return out
}

// Lookup returns the entry of the open file f, identified as id by Identify:
// the entry of the same device and inode whose fingerprint matches f. An entry
// recorded while the file was shorter than FingerprintBytes matches if f still
// starts with the bytes it fingerprinted (the file grew); one with a longer
// fingerprint than f has now does not (f was truncated, or is another file on
// a reused inode). Lookup reads at most FingerprintBytes of f with pread; the
// file offset does not move. The caller still checks that Offset is not past
// f's size.
func (s *Store) Lookup(f *os.File, id FileID) (Entry, bool, error) {
	for _, e := range s.onInode(id.Dev, id.Ino) {
		switch {
		case e.ID.FingerprintLen > id.FingerprintLen:
			continue
		case e.ID.FingerprintLen == id.FingerprintLen:
			if e.ID.Fingerprint == id.Fingerprint {
				return e, true, nil
			}
			continue
		}
		fp, n, err := fingerprintFile(f, e.ID.FingerprintLen)
		if err != nil {
			return Entry{}, false, err
		}
		if n == e.ID.FingerprintLen && fp == e.ID.Fingerprint {
			return e, true, nil
		}
	}
	return Entry{}, false, nil
}

// OnInode returns the entries of the device and inode, newest first: the
// contents it held as far as checkpoints know (each under its own id seed).
func (s *Store) OnInode(dev, ino uint64) []Entry { return s.onInode(dev, ino) }

// ByInode returns the newest entry of the device and inode, whatever its
// fingerprint: to tell a file that is new from one that replaced a known file
// on the same inode (truncated and rewritten, or a reused inode), which must
// be read from its beginning whatever the start position for new files, and
// whose records need other ids.
func (s *Store) ByInode(dev, ino uint64) (Entry, bool) {
	es := s.onInode(dev, ino)
	if len(es) == 0 {
		return Entry{}, false
	}
	return es[0], true
}

// FindByFingerprint returns the entries whose fingerprint is fp over fpLen
// bytes, whatever their device and inode, ordered by path: a file that was
// copied (copytruncate rotation) or whose device number changed across a
// reboot. fpLen 0 (empty files) matches nothing. A rename keeps the inode, so
// Get finds renamed files.
func (s *Store) FindByFingerprint(fp uint64, fpLen int) []Entry {
	if fpLen == 0 {
		return nil
	}
	s.mu.Lock()
	var out []Entry
	for _, k := range s.byFP[fpKey{fpLen, fp}] {
		out = append(out, s.entries[k])
	}
	s.mu.Unlock()
	sortEntries(out)
	return out
}

// MatchHead returns an entry whose fingerprint is that of the first bytes of
// head (a content's first bytes, e.g. of a compressed rotated file, whose
// device and inode say nothing about it): fingerprinted over the entry's
// FingerprintLen, at most len(head). Empty head matches nothing.
func (s *Store) MatchHead(head []byte) (Entry, bool) {
	if len(head) == 0 {
		return Entry{}, false
	}
	prefix := PrefixFingerprints(head)
	s.mu.Lock()
	defer s.mu.Unlock()
	for n := range s.fpLens {
		if n == 0 || n >= len(prefix) {
			continue
		}
		if ks := s.byFP[fpKey{n, prefix[n]}]; len(ks) > 0 {
			return s.entries[ks[0]], true
		}
	}
	return Entry{}, false
}

// PrefixFingerprints returns the fingerprints of every prefix of head (at
// most FingerprintBytes of it): element n is the fingerprint of head[:n].
// One pass over head, so that matching head against many entries costs one
// comparison per entry rather than one hash of up to FingerprintBytes.
func PrefixFingerprints(head []byte) []uint64 {
	head = head[:min(len(head), FingerprintBytes)]
	out := make([]uint64, len(head)+1)
	h := uint64(14695981039346656037)
	for i, c := range head {
		h ^= uint64(c)
		h *= 1099511628211
		if h == 0 {
			out[i+1] = 1
		} else {
			out[i+1] = h
		}
	}
	return out
}

// All returns a copy of every entry, ordered by path.
func (s *Store) All() []Entry {
	s.mu.Lock()
	out := make([]Entry, 0, len(s.entries))
	for _, e := range s.entries {
		out = append(out, e)
	}
	s.mu.Unlock()
	sortEntries(out)
	return out
}

func sortEntries(es []Entry) {
	slices.SortFunc(es, func(a, b Entry) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		if a.ID.Dev != b.ID.Dev {
			return cmpU(a.ID.Dev, b.ID.Dev)
		}
		if a.ID.Ino != b.ID.Ino {
			return cmpU(a.ID.Ino, b.ID.Ino)
		}
		return cmpU(a.IDSeed(), b.IDSeed())
	})
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Set records e in memory, replacing the entry of the same device, inode and
// id seed (the same content, whose fingerprint may have grown). Another
// content on the same inode (another seed) keeps its own entry. A zero
// Updated is set to the current time. Flush makes it durable.
func (s *Store) Set(e Entry) {
	if e.Updated.IsZero() {
		e.Updated = time.Now()
	}
	e.Updated = e.Updated.UTC().Round(0)
	s.mu.Lock()
	s.put(e)
	s.gen++
	s.mu.Unlock()
}

// Delete removes the entries of id's device and inode whose fingerprint is
// id's, so that deleting a removed file's entry does not drop the entry of a
// newer file on the same inode.
func (s *Store) Delete(id FileID) {
	s.mu.Lock()
	var drop []key
	for _, k := range s.byIno[inoKey{id.Dev, id.Ino}] {
		if s.entries[k].ID == id {
			drop = append(drop, k)
		}
	}
	for _, k := range drop {
		s.remove(k)
		s.gen++
	}
	s.mu.Unlock()
}

// Flush writes the entries to the checkpoint file if they changed since the
// last successful Flush: to a temporary file in the same directory, fsynced,
// renamed over the checkpoint file, then the directory fsynced. A crash at any
// point leaves either the old or the new file, whole. Flush blocks for the
// disk writes; concurrent calls run one after the other, and Set and Get are
// not blocked meanwhile.
func (s *Store) Flush() error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()

	s.mu.Lock()
	gen := s.gen
	if gen == s.saved {
		s.mu.Unlock()
		return nil
	}
	entries := make([]Entry, 0, len(s.entries))
	for _, e := range s.entries {
		entries = append(entries, e)
	}
	s.mu.Unlock()

	sortEntries(entries)
	if err := writeAtomic(s.dir, s.path, encode(entries)); err != nil {
		return err
	}
	s.mu.Lock()
	s.saved = gen
	s.mu.Unlock()
	return nil
}

// Run flushes every interval until ctx is done, then flushes once more and
// returns. It blocks; run it in its own goroutine and wait for it at shutdown,
// after the sources stopped Setting. Flush errors are logged at error level
// (each attempt) and retried at the next tick.
func (s *Store) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := s.Flush(); err != nil {
				s.log.Error().Err(err).Msg("final checkpoint flush failed: files will be read again from the last saved checkpoint (logs may be duplicated)")
			}
			return
		case <-t.C:
			if err := s.Flush(); err != nil {
				s.log.Error().Err(err).Msg("checkpoint flush failed; retrying at the next interval. Check that the checkpoint directory is writable and not full")
			}
		}
	}
}

// writeAtomic replaces path with data: temp file, fsync, rename, fsync dir.
func writeAtomic(dir, path string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, FileName+".tmp-*")
	if err != nil {
		return fmt.Errorf("cannot write checkpoint %q: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("cannot write checkpoint %q: %w", path, err)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	// The rename is durable only once the directory is synced.
	return d.Sync()
}

// fileFormat is the JSON layout of the checkpoint file.
type fileFormat struct {
	Version int         `json:"version"`
	Entries []fileEntry `json:"entries"`
}

type fileEntry struct {
	Path string `json:"path"`
	Dev  uint64 `json:"dev"`
	Ino  uint64 `json:"ino"`
	// Fingerprint is 16 hex digits: JSON numbers above 2^53 lose precision
	// in many tools (jq).
	Fingerprint    string    `json:"fingerprint"`
	FingerprintLen int       `json:"fingerprint_len"`
	Offset         int64     `json:"offset"`
	Updated        time.Time `json:"updated"`
	Seed           uint64    `json:"id_seed,omitempty"`
}

// encode writes the checkpoint file: the JSON of fileFormat, indented with
// tabs as json.MarshalIndent does (the same bytes). It is written by hand
// (appends into one buffer) rather than by encoding/json: a file input
// writes it whenever it opens a file, with one entry per rotated file on
// disk, and reflection-based encoding of thousands of entries was the
// shipper's largest CPU cost under frequent rotation.
func encode(entries []Entry) []byte {
	b := make([]byte, 0, 64+len(entries)*240)
	b = append(b, "{\n\t\"version\": "...)
	b = strconv.AppendInt(b, formatVersion, 10)
	b = append(b, ",\n\t\"entries\": ["...)
	for i, e := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n\t\t{\n\t\t\t\"path\": "...)
		b = appendJSONString(b, e.Path)
		b = append(b, ",\n\t\t\t\"dev\": "...)
		b = strconv.AppendUint(b, e.ID.Dev, 10)
		b = append(b, ",\n\t\t\t\"ino\": "...)
		b = strconv.AppendUint(b, e.ID.Ino, 10)
		b = append(b, ",\n\t\t\t\"fingerprint\": \""...)
		b = appendHex16(b, e.ID.Fingerprint)
		b = append(b, "\",\n\t\t\t\"fingerprint_len\": "...)
		b = strconv.AppendInt(b, int64(e.ID.FingerprintLen), 10)
		b = append(b, ",\n\t\t\t\"offset\": "...)
		b = strconv.AppendInt(b, e.Offset, 10)
		b = append(b, ",\n\t\t\t\"updated\": \""...)
		b = e.Updated.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
		if e.Seed != 0 {
			b = append(b, ",\n\t\t\t\"id_seed\": "...)
			b = strconv.AppendUint(b, e.Seed, 10)
		}
		b = append(b, "\n\t\t}"...)
	}
	if len(entries) > 0 {
		b = append(b, "\n\t"...)
	}
	b = append(b, "]\n}\n"...)
	return b
}

// appendHex16 appends v as 16 lowercase hex digits.
func appendHex16(b []byte, v uint64) []byte {
	const digits = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, digits[(v>>uint(shift))&0xf])
	}
	return b
}

// appendJSONString appends s as a JSON string. Plain printable ASCII is
// copied; anything else goes through encoding/json (which also escapes
// HTML characters and replaces invalid UTF-8), as before.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// decode parses and validates a checkpoint file. Unknown fields, trailing
// data, another version, or an invalid entry make the whole file unusable:
// a file this code wrote has none of them.
func decode(data []byte) ([]Entry, error) {
	var ff fileFormat
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ff); err != nil {
		return nil, fmt.Errorf("cannot parse checkpoint file: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("cannot parse checkpoint file: data after the JSON object")
	}
	if ff.Version != formatVersion && ff.Version != 1 {
		return nil, fmt.Errorf("unsupported checkpoint file version %d (this build reads version %d)", ff.Version, formatVersion)
	}
	entries := make([]Entry, 0, len(ff.Entries))
	seen := make(map[key]bool, len(ff.Entries))
	for i, fe := range ff.Entries {
		fp, err := strconv.ParseUint(fe.Fingerprint, 16, 64)
		switch {
		case err != nil || len(fe.Fingerprint) != 16:
			return nil, fmt.Errorf("checkpoint entry %d (%q): bad fingerprint %q", i, fe.Path, fe.Fingerprint)
		case fe.FingerprintLen < 0 || fe.FingerprintLen > FingerprintBytes || (fe.FingerprintLen == 0) != (fp == 0):
			return nil, fmt.Errorf("checkpoint entry %d (%q): bad fingerprint length %d", i, fe.Path, fe.FingerprintLen)
		case fe.Offset < 0:
			return nil, fmt.Errorf("checkpoint entry %d (%q): negative offset %d", i, fe.Path, fe.Offset)
		case seen[key{fe.Dev, fe.Ino, seedOr(fe.Seed, fe.Ino)}]:
			return nil, fmt.Errorf("checkpoint entry %d (%q): device %d inode %d id seed %d listed twice", i, fe.Path, fe.Dev, fe.Ino, fe.Seed)
		}
		seen[key{fe.Dev, fe.Ino, seedOr(fe.Seed, fe.Ino)}] = true
		entries = append(entries, Entry{
			ID:      FileID{Dev: fe.Dev, Ino: fe.Ino, Fingerprint: fp, FingerprintLen: fe.FingerprintLen},
			Path:    fe.Path,
			Offset:  fe.Offset,
			Updated: fe.Updated,
			Seed:    fe.Seed,
		})
	}
	return entries, nil
}

// Fingerprint returns the fingerprint of a file whose first bytes are b
// (at most FingerprintBytes of them are used): for content that is not a
// plain file, such as a rotated file that was compressed.
func Fingerprint(b []byte) (fp uint64, n int) {
	b = b[:min(len(b), FingerprintBytes)]
	return fingerprint(b), len(b)
}

// fingerprint hashes b with 64-bit FNV-1a; 0 is kept for "no bytes".
func fingerprint(b []byte) uint64 {
	if len(b) == 0 {
		return 0
	}
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	if h == 0 {
		h = 1
	}
	return h
}

// fingerprintFile hashes the first min(n, size) bytes of f with pread,
// returning how many bytes it hashed.
func fingerprintFile(f *os.File, n int) (uint64, int, error) {
	var buf [FingerprintBytes]byte
	m, err := f.ReadAt(buf[:min(n, FingerprintBytes)], 0)
	if err != nil && err != io.EOF {
		return 0, 0, fmt.Errorf("cannot fingerprint %q: %w", f.Name(), err)
	}
	return fingerprint(buf[:m]), m, nil
}
