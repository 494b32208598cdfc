package file

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"shipper/internal/checkpoint"
	"shipper/internal/datastream"
	"shipper/internal/encode"
	"shipper/internal/lograte"
	"shipper/internal/parse"
	"shipper/internal/pipeline"
)

// Defaults of Config.
const (
	DefaultPollInterval       = 250 * time.Millisecond
	DefaultRescanInterval     = time.Second
	DefaultMaxOpenFiles       = 1024
	DefaultCloseInactive      = 5 * time.Minute
	DefaultRotateWait         = 5 * time.Second
	DefaultCheckpointInterval = 5 * time.Second
	DefaultMultilineTimeout   = 2 * time.Second
)

// PodIdentity names a pod; see Config.Pod.
type PodIdentity struct {
	Namespace, Name, UID string
}

// Label is one extra member "labels.<Key>":"<Value>" of every document.
type Label struct{ Key, Value string }

// Config configures a Source.
type Config struct {
	// Paths are the glob patterns (filepath.Match syntax) of the files to
	// follow, e.g. /var/log/containers/*.log. Symbolic links are followed.
	Paths []string
	// Exclude are glob patterns of files to leave alone. A pattern with a
	// '/' is matched against the whole path, one without against the file
	// name.
	Exclude []string
	// Format of the files; FormatAuto detects it per file.
	Format Format
	// StartAtEnd: a file found by the first scan of a run that has no
	// checkpoint is read from its end (its last complete line) instead of
	// its beginning. Files appearing later, and files that replaced a known
	// one, are always read from their beginning.
	StartAtEnd bool
	// MaxRecordBytes caps a record (DefaultMaxRecordBytes); longer ones are
	// truncated and flagged.
	MaxRecordBytes int
	// Multiline, when not nil, joins continuation lines (see Multiline).
	// Its Timeout defaults to DefaultMultilineTimeout.
	Multiline *MultilineConfig
	// StateDir holds the checkpoint file.
	StateDir string
	// CheckpointInterval is how often checkpoints are written.
	CheckpointInterval time.Duration
	// PollInterval is how often a file at its end is checked for growth,
	// rotation and truncation. Idle files back off to 4x this.
	PollInterval time.Duration
	// RescanInterval is how often Paths are expanded to find new files.
	RescanInterval time.Duration
	// MaxOpenFiles caps the files open at once for following; further files
	// wait for a free slot. A rotated file being read to its end keeps its
	// slot, and the file that replaced it may take one beyond the cap.
	MaxOpenFiles int
	// CloseInactive closes a file that has not grown for this long; it is
	// reopened when it grows.
	CloseInactive time.Duration
	// RotateWait keeps a renamed file open this long after it last grew, for
	// a writer that has not reopened its log yet. A deleted file is closed
	// as soon as it is read to its end.
	RotateWait time.Duration
	// ReadBytes is the read buffer size per open file (DefaultBufSize).
	ReadBytes int
	// BufferBytes caps the buffers of all files together
	// (DefaultBufferBytes); see Budget for what it covers and what happens
	// when it is spent.
	BufferBytes int64

	// Dataset and Namespace name the target data stream; a record's own
	// data_stream.dataset overrides Dataset.
	Dataset, Namespace string
	// Streams limits the datasets records may choose (nil: any).
	Streams *encode.Streams
	// Stage processes each document before it is queued (the
	// processing stage); nil: none. Used by this source only.
	Stage encode.Stage
	// Static holds pre-encoded JSON members added to every document (agent,
	// host); input.type, the node name and the labels are added here.
	Static []byte
	// NodeName is written as kubernetes.node.name when not empty.
	NodeName string
	// Pod is the pod the shipper runs in, in sidecar mode. A file whose path
	// names no pod (its pod directory mounted elsewhere, e.g.
	// /var/log/pod/<container>/0.log) gets the pod's namespace, name and UID,
	// and the name of its parent directory as kubernetes.container.name.
	Pod PodIdentity
	// Labels are written as labels.<key>.
	Labels []Label
}

func (c *Config) setDefaults() {
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.RescanInterval <= 0 {
		c.RescanInterval = DefaultRescanInterval
	}
	if c.MaxOpenFiles <= 0 {
		c.MaxOpenFiles = DefaultMaxOpenFiles
	}
	if c.CloseInactive <= 0 {
		c.CloseInactive = DefaultCloseInactive
	}
	if c.RotateWait <= 0 {
		c.RotateWait = DefaultRotateWait
	}
	if c.CheckpointInterval <= 0 {
		c.CheckpointInterval = DefaultCheckpointInterval
	}
	if c.MaxRecordBytes <= 0 {
		c.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if c.ReadBytes <= 0 {
		c.ReadBytes = DefaultBufSize
	}
	if c.BufferBytes <= 0 {
		c.BufferBytes = DefaultBufferBytes
	}
	if c.Multiline != nil {
		m := *c.Multiline
		if m.Timeout <= 0 {
			m.Timeout = DefaultMultilineTimeout
		}
		c.Multiline = &m
	}
}

// Stats are cumulative counters.
type Stats struct {
	Records, Lines, Bytes uint64
	// Per record: parse outcomes and framing problems.
	JSON, MalformedJSON, InvalidUTF8, Truncated uint64
	// Blank records (empty or whitespace only) are counted, not shipped;
	// Changed records had members renamed or merged, see parse.Counts.
	Blank, Changed uint64
	// Malformed: lines that did not parse in the file's format (kept whole).
	Malformed uint64
	// Incomplete: records ended by a rotation, deletion or truncation rather
	// than by their own end.
	Incomplete uint64
	// Files opened, and what happened to them.
	Opened, Rotated, Deleted, Truncations, Recovered, CopiesRead, ReadErrors uint64
	// CaughtUp counts rotated files found unopened when a rotation was
	// noticed (the reader was more than one rotation behind).
	CaughtUp uint64
	// TruncatedNoCopy counts truncations for which no copy of the old
	// content was found: what was written after the last read is lost.
	TruncatedNoCopy uint64
	// Acked records and the files open now.
	Acked    uint64
	OpenNow  int64
	Tracked  int64
	Rewinds  uint64
	Backoffs uint64
	// BufferBytes and BufferPeak are the bytes of file buffers taken from
	// Config.BufferBytes now and at most; BudgetWaits counts reads put off
	// because it was spent.
	BufferBytes, BufferPeak int64
	BudgetWaits             uint64
}

// Source follows log files and ships their records. Create it with New, call
// Run once, then Drain.
type Source struct {
	cfg   Config
	pr    *pipeline.Producer
	store *checkpoint.Store
	log   zerolog.Logger
	// enc is shared by every harvester: it is only used between pr.Begin and
	// pr.End, which serialize them.
	enc   *encode.Encoder
	mem   *Budget          // the buffers of all files
	epoch time.Time        // for the monotonic clock of the multiline timeouts
	warn  *lograte.Limiter // one line per reason every 10s
	// noMatch says, at start and then every minute, that the paths match
	// no file.
	noMatch *lograte.Limiter

	// Set by Run before any harvester starts; read-only afterwards.
	ctx, queueCtx context.Context

	mu     sync.Mutex
	slots  []*fileState // by mark slot; nil when free
	free   []uint32
	owners map[fileKey]*fileState // which state writes the checkpoint of a device and inode
	paths  map[string]*pathState
	open   int // file descriptors held for reading
	gen    uint64

	started time.Time // when Run started; read-only afterwards

	// pruneMissing: the checkpoints the last prune did not find on disk.
	// Owned by the goroutine that calls prune (Run's).
	pruneMissing map[entryKey]bool

	wg sync.WaitGroup // harvesters

	records, lines, bytes, json, malformedJSON, invalidUTF8, truncated atomic.Uint64
	blank, changed                                                     atomic.Uint64
	malformed, incomplete, opened, rotated, deleted, truncations       atomic.Uint64
	recovered, copiesRead, readErrors, truncatedNoCopy, acked, rewinds atomic.Uint64
	backoffs, caughtUp, budgetWaits                                    atomic.Uint64
}

// New validates cfg, opens the checkpoint store in cfg.StateDir (a corrupt
// checkpoint file is logged at error level, set aside, and the source starts
// without checkpoints) and returns a source that feeds pipe.
func New(cfg Config, pipe *pipeline.Pipeline, log zerolog.Logger) (*Source, error) {
	cfg.setDefaults()
	if len(cfg.Paths) == 0 {
		return nil, errors.New("no file paths to follow")
	}
	for _, p := range append(append([]string(nil), cfg.Paths...), cfg.Exclude...) {
		if _, err := filepath.Match(p, ""); err != nil {
			return nil, fmt.Errorf("bad glob pattern %q: %w", p, err)
		}
	}
	if cfg.StateDir == "" {
		return nil, errors.New("no state directory for the file checkpoints")
	}
	index, err := datastream.IndexName(cfg.Dataset, cfg.Namespace)
	if err != nil {
		return nil, err
	}
	store, err := checkpoint.Open(cfg.StateDir, log)
	if err != nil {
		return nil, err
	}
	s := &Source{
		cfg:    cfg,
		store:  store,
		log:    log,
		enc:    encode.New(parse.New(staticMembers(&cfg)), index, cfg.Namespace),
		mem:    NewBudget(cfg.BufferBytes),
		epoch:  time.Now(),
		owners: make(map[fileKey]*fileState),
		paths:  make(map[string]*pathState),
	}
	s.enc.Streams = cfg.Streams
	s.enc.Stage = cfg.Stage
	s.warn = lograte.New(10*time.Second, 1)
	s.noMatch = lograte.New(time.Minute, 1)
	s.pr = pipe.NewProducer(s.onAck)
	return s, nil
}

// Stats returns a snapshot of the counters.
func (s *Source) Stats() Stats {
	s.mu.Lock()
	open, tracked := s.open, len(s.slots)-len(s.free)
	s.mu.Unlock()
	bufNow, bufPeak := s.mem.Used()
	return Stats{
		Records: s.records.Load(), Lines: s.lines.Load(), Bytes: s.bytes.Load(),
		JSON: s.json.Load(), MalformedJSON: s.malformedJSON.Load(), InvalidUTF8: s.invalidUTF8.Load(),
		Truncated: s.truncated.Load(), Malformed: s.malformed.Load(), Incomplete: s.incomplete.Load(),
		Blank: s.blank.Load(), Changed: s.changed.Load(),
		Opened: s.opened.Load(), Rotated: s.rotated.Load(), Deleted: s.deleted.Load(),
		Truncations: s.truncations.Load(), Recovered: s.recovered.Load(), CopiesRead: s.copiesRead.Load(),
		ReadErrors: s.readErrors.Load(), TruncatedNoCopy: s.truncatedNoCopy.Load(), Acked: s.acked.Load(),
		OpenNow: int64(open), Tracked: int64(tracked), Rewinds: s.rewinds.Load(), Backoffs: s.backoffs.Load(),
		CaughtUp: s.caughtUp.Load(), BudgetWaits: s.budgetWaits.Load(),
		BufferBytes: bufNow, BufferPeak: bufPeak,
	}
}

// Checkpoints returns the checkpoint store, for inspection.
func (s *Source) Checkpoints() *checkpoint.Store { return s.store }

// Run discovers and follows files until ctx is cancelled, then closes them
// and returns ctx's error. Records read before the cancellation are queued;
// waits for pipeline budget give up only when queueCtx is done. Checkpoints
// are written every CheckpointInterval meanwhile. Call Drain after Run.
func (s *Source) Run(ctx, queueCtx context.Context) error {
	s.ctx, s.queueCtx = ctx, queueCtx
	s.started = time.Now()
	storeDone := make(chan struct{})
	go func() {
		defer close(storeDone)
		s.store.Run(ctx, s.cfg.CheckpointInterval)
	}()
	s.log.Info().Strs("paths", s.cfg.Paths).Strs("exclude", s.cfg.Exclude).Str("format", s.cfg.Format.String()).
		Bool("start_at_end", s.cfg.StartAtEnd).Str("state_dir", s.cfg.StateDir).Msg("following files")
	s.scan(true)
	t := time.NewTicker(s.cfg.RescanInterval)
	defer t.Stop()
	lastPrune := time.Now()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-t.C:
			s.scan(false)
			if time.Since(lastPrune) >= pruneEvery {
				s.prune()
				lastPrune = time.Now()
			}
		}
	}
	s.wg.Wait()
	<-storeDone
	return ctx.Err()
}

// Drain queues the batch being filled, waits until everything queued is
// acknowledged or ctx is done, and writes the checkpoints. Call it once,
// after Run returned.
func (s *Source) Drain(ctx context.Context) error {
	err := s.pr.Close()
	if err == nil {
		err = s.pr.Wait(ctx)
	}
	if ferr := s.store.Flush(); ferr != nil {
		s.log.Error().Err(ferr).Msg("final checkpoint write failed: files will be read again from the last saved checkpoint (duplicates are answered 409 by Elasticsearch)")
		if err == nil {
			err = ferr
		}
	}
	return err
}

// fileKey is a device and inode.
type fileKey struct{ dev, ino uint64 }

func keyOf(id checkpoint.FileID) fileKey { return fileKey{id.Dev, id.Ino} }

// fileState is what the source knows of one file (one device and inode with
// one content): its identity, the id space of its records, and the
// acknowledgements of its marks. It outlives the open file: a file closed for
// inactivity keeps its state.
type fileState struct {
	slot uint32
	key  fileKey
	path string // the discovered path: checkpoint Entry.Path

	// Guarded by mu: the reading goroutine changes id, onAck reads it.
	mu       sync.Mutex
	id       checkpoint.FileID
	inflight int   // marks not yet acknowledged
	acked    int64 // last acknowledged commit offset
	start    int64 // the checkpoint offset it started from
	done     bool  // no more marks will come
	forget   bool  // delete the checkpoint entry once done and acknowledged

	// seed is the id seed of the content (checkpoint.Entry.Seed): the
	// inode the content was first written to, mixed once per generation
	// rewritten in place. Set at creation, read-only afterwards.
	seed uint64

	// Owned by the goroutine reading the file.
	hi   uint64 // the record id space (see recordIDBase)
	hiOK bool
}

// nextSeed returns the id seed of the generation that follows one with seed
// on the same inode (a file truncated and rewritten, or a reused inode): the
// same offsets with other content must get other record ids.
func nextSeed(seed uint64) uint64 {
	h := seed ^ 0x9e3779b97f4a7c15
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	if h == 0 {
		h = 1
	}
	return h
}

// delivered returns the offset up to which st's records are delivered: its
// last acknowledged mark, or the offset it started at.
func (st *fileState) delivered() int64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	return max(st.acked, st.start)
}

// Mark layout: the file's slot in the high bits, the commit offset in the
// low ones. Marks come back in the order they were added (per file, in file
// order), so the last one of a file in an acknowledgement is its newest
// delivered offset.
const (
	markOffsetBits = 44 // 16 TiB
	maxMarkOffset  = 1<<markOffsetBits - 1
	maxSlots       = 1 << (64 - markOffsetBits)
)

// newState registers a file state with a mark slot. When own is set, or no
// other state owns its device and inode, it becomes the one that writes their
// checkpoint.
func (s *Source) newState(id checkpoint.FileID, path string, seed uint64, own bool) *fileState {
	st := &fileState{key: keyOf(id), path: path, id: id, seed: seed, acked: -1}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.free); n > 0 {
		st.slot = s.free[n-1]
		s.free = s.free[:n-1]
		s.slots[st.slot] = st
	} else {
		if len(s.slots) >= maxSlots {
			panic("file: more than 2^20 files tracked at once")
		}
		st.slot = uint32(len(s.slots))
		s.slots = append(s.slots, st)
	}
	if _, taken := s.owners[st.key]; own || !taken {
		s.owners[st.key] = st
	}
	return st
}

// track registers a new file state that owns its checkpoint and records the
// checkpoint (offset, seed) in the store. It is in memory only: call persist
// before any record of the file is shipped.
func (s *Source) track(id checkpoint.FileID, path string, seed uint64, offset int64) *fileState {
	st := s.newState(id, path, seed, true)
	st.start = offset
	s.store.Set(checkpoint.Entry{ID: id, Path: path, Offset: offset, Seed: seed})
	return st
}

// persist writes the checkpoints to disk now: a file gets its checkpoint
// on disk before its first record is shipped, so that a restart after a
// kill finds it wherever it was renamed or copied to, and gives its records
// the same ids. It blocks for the write (two fsyncs); called once per file
// opened, not per line. A failed write is logged; reading goes on (the
// periodic write retries).
func (s *Source) persist() {
	if err := s.store.Flush(); err != nil {
		if e := s.warnf("checkpoint_write_failed"); e != nil {
			e.Err(err).Msg("cannot write the checkpoint of a newly opened file: if the shipper is killed before the next checkpoint write, " +
				"its lines may be read again or, when it is rotated meanwhile, missed. Check that --state-dir is writable and not full")
		}
	}
}

// firstBytes records and persists the fingerprint of a file that was empty
// when its checkpoint was written (a new file, or one just truncated), before
// any of its records is shipped: an empty fingerprint matches any content, so
// after a kill it would let another content on the inode pass for this one
// (and this one's copy pass for an unknown file, read again under other ids).
func (s *Source) firstBytes(st *fileState) {
	s.mu.Lock()
	owner := s.owners[st.key] == st
	s.mu.Unlock()
	if !owner {
		return
	}
	st.mu.Lock()
	id := st.id
	st.mu.Unlock()
	s.store.Set(checkpoint.Entry{ID: id, Path: st.path, Offset: st.delivered(), Seed: st.seed})
	s.persist()
}

// seedFor returns the id seed of a content found without a checkpoint: its
// inode, or, when checkpoints of other contents on the same inode exist
// (rewritten in place, or a reused inode), the next generation's seed after
// the newest of them; in both cases one that no other content of the inode
// has (see unusedSeed).
func (s *Source) seedFor(id checkpoint.FileID) uint64 {
	if e, ok := s.store.ByInode(id.Dev, id.Ino); ok {
		return s.unusedSeed(keyOf(id), nextSeed(e.IDSeed()))
	}
	return s.unusedSeed(keyOf(id), id.Ino)
}

// unusedSeed returns seed, or the first generation after it (nextSeed),
// that no checkpoint and no state of the device and inode k has. The newest
// checkpoint of an inode is not always its latest generation (a reader of an
// older content's compressed copy acknowledges after the newer content's last
// write), so "the next seed after the newest" may be a seed in use: the new
// content's checkpoint, stored under (device, inode, seed), would then
// replace the other content's, whose copies a restart would take for
// unknown files and read again under other ids.
func (s *Source) unusedSeed(k fileKey, seed uint64) uint64 {
	used := make(map[uint64]bool)
	for _, e := range s.store.OnInode(k.dev, k.ino) {
		used[e.IDSeed()] = true
	}
	s.mu.Lock()
	for _, st := range s.slots {
		if st != nil && st.key == k {
			used[st.seed] = true
		}
	}
	s.mu.Unlock()
	for i := 0; used[seed] && i <= len(used); i++ {
		seed = nextSeed(seed)
	}
	return seed
}

// moveState makes st the state of the file identified by to, which holds
// st's content from now on (a copytruncate copy): st's marks still in flight
// move the copy's checkpoint, which starts at what st has delivered, not at
// what it has read.
func (s *Source) moveState(st *fileState, to checkpoint.FileID) {
	delivered := st.delivered()
	st.mu.Lock()
	from := st.id
	st.id = to
	st.mu.Unlock()
	s.mu.Lock()
	owner := s.owners[st.key] == st
	if owner {
		delete(s.owners, st.key)
	}
	st.key = keyOf(to)
	s.owners[st.key] = st
	s.mu.Unlock()
	if owner {
		s.store.Delete(from)
	}
	s.store.Set(checkpoint.Entry{ID: to, Path: st.path, Offset: delivered, Seed: st.seed})
}

// mark returns the mark for offset off of st and counts it in flight; the
// caller appends it to the batch. ok is false for an offset beyond the mark
// range (the checkpoint then stays behind, which only costs a re-read).
func (st *fileState) mark(off int64) (uint64, bool) {
	if off < 0 || off > maxMarkOffset {
		return 0, false
	}
	st.mu.Lock()
	st.inflight++
	st.mu.Unlock()
	return uint64(st.slot)<<markOffsetBits | uint64(off), true
}

// finish says st gets no more marks. forget deletes its checkpoint entry once
// its marks are acknowledged (a deleted file, a rotated file read to its end).
func (s *Source) finish(st *fileState, forget bool) {
	st.mu.Lock()
	st.done = true
	st.forget = forget
	idle := st.inflight == 0
	st.mu.Unlock()
	if idle {
		s.release(st)
	}
}

// release frees st's slot once it is done and idle.
func (s *Source) release(st *fileState) {
	st.mu.Lock()
	forget, id := st.forget, st.id
	st.mu.Unlock()
	s.mu.Lock()
	owner := s.owners[st.key] == st
	if owner {
		delete(s.owners, st.key)
	}
	if s.slots[st.slot] == st {
		s.slots[st.slot] = nil
		s.free = append(s.free, st.slot)
	}
	s.mu.Unlock()
	if forget && owner {
		s.store.Delete(id)
	}
}

// FileStat is the delivery position of one file the source follows.
type FileStat struct {
	Path  string
	Inode uint64
	Acked int64 // offset up to which its records are delivered; -1 before the first
}

// Files returns the files the source follows now. A file is no longer
// listed once the source lets go of it (deleted and read to its end, or
// closed for inactivity), so per-file metrics built from it disappear with
// the file. Safe to call concurrently with Run.
func (s *Source) Files() []FileStat {
	s.mu.Lock()
	states := make([]*fileState, 0, len(s.slots))
	for _, st := range s.slots {
		if st != nil {
			states = append(states, st)
		}
	}
	s.mu.Unlock()
	out := make([]FileStat, 0, len(states))
	for _, st := range states {
		st.mu.Lock()
		out = append(out, FileStat{Path: st.path, Inode: st.key.ino, Acked: st.acked})
		st.mu.Unlock()
	}
	return out
}

// onAck moves checkpoints: it is the producer's acknowledgement callback,
// called in batch order from a sink goroutine.
func (s *Source) onAck(marks []uint64, items int) {
	s.acked.Add(uint64(items))
	for i, m := range marks {
		// Only the last mark of a file in this batch needs a Set; earlier
		// ones just count down.
		slot := uint32(m >> markOffsetBits)
		off := int64(m & maxMarkOffset)
		last := true
		for _, n := range marks[i+1:] {
			if uint32(n>>markOffsetBits) == slot {
				last = false
				break
			}
		}
		s.mu.Lock()
		st := s.slots[slot]
		owner := st != nil && s.owners[st.key] == st
		s.mu.Unlock()
		if st == nil {
			s.log.Error().Uint32("slot", slot).Msg("acknowledgement for an unknown file: checkpoint not moved")
			continue
		}
		st.mu.Lock()
		st.inflight--
		if off > st.acked {
			st.acked = off
		}
		id, idle := st.id, st.done && st.inflight == 0
		st.mu.Unlock()
		if owner && last {
			s.store.Set(checkpoint.Entry{ID: id, Path: st.path, Offset: off, Seed: st.seed})
		}
		if idle {
			s.release(st)
		}
	}
}

// warnf logs a warning for reason, at most once per period.
func (s *Source) warnf(reason string) *zerolog.Event {
	return s.warn.Warn(s.log, reason)
}
