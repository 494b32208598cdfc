// Package kafka consumes Kafka topics in a consumer group and ships the
// records to Elasticsearch through the pipeline.
//
// # Delivery
//
// Records are queued into the pipeline like the lines of any other source
// and an offset is committed only once every record of its partition before
// it was delivered (indexed, found already indexed, or dead-lettered): the
// pipeline acknowledges batches in order, so the committed offset of a
// partition is always the end of a contiguous run of delivered records.
// Offsets are committed every CommitInterval, when a partition is revoked
// and at shutdown.
//
// Every document gets an id that the same record always gets again: the id
// a shipper's Kafka output put in the HeaderID header, else one made of the
// topic, the partition and the offset. A record read again (after a crash, or
// by the new owner of a partition after a rebalance) is then answered 409 by
// Elasticsearch and counted as delivered, not indexed twice.
//
// # Records
//
// A record with a HeaderIndex header whose value is a JSON object on one
// line is a document a shipper's Kafka output wrote: it goes to Elasticsearch
// as it is, into the data stream the header names (within the limits of
// Config.Streams). Any other record is a log line, parsed like the lines of
// the other inputs, with kafka.topic and kafka.partition added and the record's offset as
// event.sequence.
//
// # Rebalances and backpressure
//
// Polling and the group's partition callbacks never run at the same time
// (kgo.BlockRebalanceOnPoll): a partition is revoked between two polls, once
// the records taken from it are queued, or while the queueing of a poll's
// records waits for room in the pipeline (an outage of Elasticsearch must
// not keep the group from moving partitions); the records of a partition
// revoked then that were not queued yet are left to its new owner. The
// revoke waits, up to RevokeTimeout, for the queued records to be
// delivered, commits, and hands the partition back; records still in flight
// after that are delivered anyway, but their offsets are no longer committed
// by this consumer (the new owner reads them again: 409). A newly assigned
// partition resumes at the group's committed offset.
//
// When the pipeline's budget is spent the source stops polling and pauses
// fetching. Beside the budget, the Kafka client holds at most two fetch
// responses: one fetch is in flight or buffered at a time, and the next
// one starts once the records of the last are all polled, while they are
// being queued. The size asked of Kafka follows what the responses take
// once decoded (decompressed, a record struct per record), so each takes
// about FetchMaxBytes of memory whatever the producers' compression.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"shipper/internal/datastream"
	"shipper/internal/encode"
	"shipper/internal/parse"
	"shipper/internal/pipeline"
)

// Config configures the source.
type Config struct {
	Brokers []string
	// Topics are topic names, or with TopicsRegex regular expressions
	// matched against every topic's name (topics created later included,
	// such as the per-dataset topics of a Kafka output).
	Topics      []string
	TopicsRegex bool
	Group       string
	// CommitInterval is how often delivered offsets are committed.
	CommitInterval time.Duration
	// RevokeTimeout bounds the wait of a revoked partition for its records
	// in flight; RebalanceTimeout is the group's rebalance timeout.
	RevokeTimeout, RebalanceTimeout time.Duration
	// SessionTimeout is the group's session timeout (0: the client's
	// default, 45s).
	SessionTimeout time.Duration
	// FetchMaxBytes caps what one fetch response takes once decoded
	// (fetchSizer); the client holds at most two (default 2 MiB).
	FetchMaxBytes int
	// LagInterval is how often the consumer lag is read; 0: never.
	LagInterval time.Duration
	// MaxPollRecords caps the records taken from the client per poll
	// (default 10000).
	MaxPollRecords int

	// Dataset and Namespace name the default data stream.
	Dataset, Namespace string
	// Streams limits the data streams records may choose (nil: any).
	Streams *encode.Streams
	// Static holds pre-encoded JSON members added to every document parsed
	// from a log line (agent, host); input.type is added here.
	Static []byte
	// Stage, when not nil, processes the documents parsed from log lines
	// (see encode.Stage); a shipper's documents are indexed as they are,
	// processed by the shipper that produced them.
	Stage encode.Stage

	// ClientOptions are added to the Kafka client's (tests).
	ClientOptions []kgo.Opt
}

// Stats are cumulative counters.
type Stats struct {
	Records, Bytes uint64
	// Documents were a shipper's documents, sent as they were; the others
	// were parsed as log lines (JSON, Malformed... count those).
	Documents                                    uint64
	JSON, Malformed, InvalidUTF8, Blank, Changed uint64
	DatasetRejected, InvalidIndex, InvalidID     uint64
	Commits, CommitFailures, CommittedRecords    uint64
	Assigned, Revoked, Lost, RevokeTimeouts      uint64
	FetchErrors, Paused                          uint64
	Unqueued                                     uint64
	// FetchBytes is the fetch size asked of Kafka now; FetchDecodedMax
	// the most one fetch response took once decoded (see
	// Config.FetchMaxBytes).
	FetchBytes, FetchDecodedMax int64
}

// PartitionLag is the consumer lag of one owned partition: records past the
// group's committed offset.
type PartitionLag struct {
	Topic     string
	Partition int32
	Lag       int64
}

// Source consumes the topics. Call Run once, then Drain.
type Source struct {
	cfg  Config
	pipe *pipeline.Pipeline
	pr   *pipeline.Producer
	cl   *kgo.Client
	adm  *kadm.Client
	log  zerolog.Logger
	tr   *tracker
	enc  recordEncoder
	// sizer adapts the fetch size to the decoded size of responses.
	sizer *fetchSizer

	commitMu sync.Mutex // serialises commits, so none goes backwards
	closing  chan struct{}
	closeOne sync.Once
	bgCancel context.CancelFunc
	bgWG     sync.WaitGroup

	lagMu sync.Mutex
	lag   []PartitionLag

	records, bytes, documents, json, malformed, invalidUTF8, blank, changed atomic.Uint64
	rejected, invalidIndex, invalidID                                       atomic.Uint64
	commits, commitFailures, committedRecords                               atomic.Uint64
	assigned, revoked, lost, revokeTimeouts, fetchErrors, paused            atomic.Uint64
	unqueued                                                                atomic.Uint64
	lastErrLog                                                              atomic.Int64

	entries []ackEntry // scratch of push
}

// New returns a source feeding pipe. The Kafka client starts joining the
// group at once; records are taken only by Run.
func New(cfg Config, pipe *pipeline.Pipeline, log zerolog.Logger) (*Source, error) {
	if cfg.MaxPollRecords <= 0 {
		cfg.MaxPollRecords = 10000
	}
	if cfg.CommitInterval <= 0 {
		cfg.CommitInterval = time.Second
	}
	if cfg.RevokeTimeout <= 0 {
		cfg.RevokeTimeout = 20 * time.Second
	}
	if cfg.RebalanceTimeout <= cfg.RevokeTimeout {
		cfg.RebalanceTimeout = cfg.RevokeTimeout + 30*time.Second
	}
	if cfg.FetchMaxBytes <= 0 {
		cfg.FetchMaxBytes = 2 << 20
	}
	index, err := datastream.IndexName(cfg.Dataset, cfg.Namespace)
	if err != nil {
		return nil, err
	}
	static := []byte(`"input.type":"kafka"`)
	if len(cfg.Static) > 0 {
		static = append(append(static, ','), cfg.Static...)
	}
	enc := encode.New(parse.New(static), index, cfg.Namespace)
	enc.Streams = cfg.Streams
	enc.Stage = cfg.Stage
	s := &Source{
		cfg: cfg, pipe: pipe, log: log, tr: newTracker(), closing: make(chan struct{}),
		enc: recordEncoder{enc: enc, index: index, namespace: cfg.Namespace, streams: cfg.Streams},
	}
	s.pr = pipe.NewProducer(s.tr.acked)
	s.sizer = newFetchSizer(cfg.FetchMaxBytes)
	fetchBytes := s.sizer.asked
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("shipper"),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.RebalanceTimeout(cfg.RebalanceTimeout),
		kgo.OnPartitionsAssigned(s.onAssigned),
		kgo.OnPartitionsRevoked(s.onRevoked),
		kgo.OnPartitionsLost(s.onLost),
		// The size asked follows the decoded size of what is read
		// (fetchSizer); a response may carry one batch above it.
		kgo.FetchMaxBytes(fetchBytes),
		kgo.FetchMaxPartitionBytes(partitionBytes(fetchBytes)),
		// A response may be one batch larger than asked: read what the
		// earlier 8 MiB default read, so no topic that was consumed
		// gets stuck on a batch (max.message.bytes) above the setting.
		kgo.BrokerMaxReadBytes(int32(max(cfg.FetchMaxBytes, 8<<20)) + 1<<20),
		// One fetch in flight or buffered at a time, whatever the number
		// of brokers: the client holds at most two responses, the one
		// whose records Run is queueing and the next one. A broker with
		// nothing new holds the fetch up to FetchMaxWait while another
		// may have records: kept short for that.
		kgo.MaxConcurrentFetches(1),
		kgo.FetchMaxWait(250 * time.Millisecond),
		kgo.WithHooks(s.sizer),
		kgo.WithLogger(kgoLogger{log}),
	}
	if cfg.SessionTimeout > 0 {
		opts = append(opts, kgo.SessionTimeout(cfg.SessionTimeout))
	}
	if cfg.TopicsRegex {
		opts = append(opts, kgo.ConsumeRegex())
	}
	opts = append(opts, cfg.ClientOptions...)
	s.cl, err = kgo.NewClient(opts...)
	if err != nil {
		s.pr.Close()
		return nil, fmt.Errorf("cannot create the Kafka client for brokers %v: %w", cfg.Brokers, err)
	}
	s.sizer.cl.Store(s.cl)
	s.adm = kadm.NewClient(s.cl)
	return s, nil
}

// Stats returns a snapshot of the counters.
func (s *Source) Stats() Stats {
	asked, largest := s.sizer.stats()
	return Stats{
		Records: s.records.Load(), Bytes: s.bytes.Load(), Documents: s.documents.Load(),
		JSON: s.json.Load(), Malformed: s.malformed.Load(), InvalidUTF8: s.invalidUTF8.Load(),
		Blank: s.blank.Load(), Changed: s.changed.Load(),
		DatasetRejected: s.rejected.Load(), InvalidIndex: s.invalidIndex.Load(), InvalidID: s.invalidID.Load(),
		Commits: s.commits.Load(), CommitFailures: s.commitFailures.Load(), CommittedRecords: s.committedRecords.Load(),
		Assigned: s.assigned.Load(), Revoked: s.revoked.Load(), Lost: s.lost.Load(), RevokeTimeouts: s.revokeTimeouts.Load(),
		FetchErrors: s.fetchErrors.Load(), Paused: s.paused.Load(), Unqueued: s.unqueued.Load(),
		FetchBytes: int64(asked), FetchDecodedMax: largest,
	}
}

// Lag returns the consumer lag of the partitions this consumer owned at the
// last reading (every LagInterval), sorted by topic and partition.
func (s *Source) Lag() []PartitionLag {
	s.lagMu.Lock()
	defer s.lagMu.Unlock()
	return append([]PartitionLag(nil), s.lag...)
}

// Run polls records and queues them until ctx is cancelled; it returns
// ctx's error. Records polled before the cancellation are queued: waits for
// pipeline budget give up only when queueCtx is done (the shutdown
// deadline). queueCtx also ends the waits of revoked partitions.
func (s *Source) Run(ctx, queueCtx context.Context) error {
	bg, cancel := context.WithCancel(context.Background())
	s.bgCancel = cancel
	stopClosing := context.AfterFunc(queueCtx, s.markClosing)
	defer stopClosing()
	s.bgWG.Add(1)
	go s.committer(bg)
	if s.cfg.LagInterval > 0 {
		s.bgWG.Add(1)
		go s.lagReader(bg)
	}
	for {
		if err := s.waitRoom(ctx); err != nil {
			return err
		}
		fetches := s.cl.PollRecords(ctx, s.cfg.MaxPollRecords)
		if fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			s.fetchErrors.Add(1)
			s.logError(err, "cannot fetch from Kafka; the client retries", topic, p)
		})
		// Records polled are queued even when ctx ended meanwhile: a
		// partition's offset must never be committed past records taken
		// and dropped.
		err := s.push(queueCtx, fetches)
		s.cl.AllowRebalance()
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// waitRoom returns once the pipeline has room for another batch, pausing
// fetching meanwhile. Our own batch being filled holds budget too, so it is
// sealed first: it is delivered even when nothing else comes. The group
// may rebalance meanwhile (see stillOwned): nothing is held that a revoke
// would need, and a partition paused here that another consumer takes is
// resumed in vain.
func (s *Source) waitRoom(ctx context.Context) error {
	if s.room() {
		return nil
	}
	if err := s.pr.Flush(); err != nil {
		return err
	}
	// The owned partitions, not the topics: with TopicsRegex the topics
	// are patterns.
	owned := make(map[string][]int32)
	for _, tp := range s.tr.owned() {
		owned[tp.topic] = append(owned[tp.topic], tp.partition)
	}
	if len(owned) > 0 {
		s.cl.PauseFetchPartitions(owned)
		defer s.cl.ResumeFetchPartitions(owned)
	}
	s.paused.Add(1)
	s.cl.AllowRebalance()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !s.room() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// room reports whether the pipeline can take another batch.
func (s *Source) room() bool {
	st := s.pipe.Stats()
	return st.MaxBytes-st.UsedBytes >= pipeline.BatchReserve(s.pipe.Config().BatchBytes)
}

// push queues the records of fetches. Records of partitions not owned are
// skipped (their new owner reads them); every chunk queued between Begin
// and End carries one mark naming each partition's next offset.
func (s *Source) push(ctx context.Context, fetches kgo.Fetches) error {
	var parts []pushPart
	fetches.EachTopic(func(ft kgo.FetchTopic) {
		for i := range ft.Partitions {
			p := &ft.Partitions[i]
			if len(p.Records) == 0 {
				continue
			}
			st := s.tr.lookup(ft.Topic, p.Partition)
			if st == nil {
				continue
			}
			if !st.idSet {
				st.idHi, st.idSet = partIDHi(ft.Topic, p.Partition, ft.TopicID), true
			}
			parts = append(parts, pushPart{st, p.Records})
		}
	})
	if len(parts) == 0 {
		return nil
	}
	now := time.Now().UnixNano()
	s.enc.enc.Parser.SetIngested(now)
	var counts parse.Counts
	var n, size, docs, rejected, invalidIdx, invalidID uint64
	defer func() {
		s.records.Add(n)
		s.bytes.Add(size)
		s.documents.Add(docs)
		s.rejected.Add(rejected)
		s.invalidIndex.Add(invalidIdx)
		s.invalidID.Add(invalidID)
		s.json.Add(counts.JSON)
		s.malformed.Add(counts.Malformed)
		s.invalidUTF8.Add(counts.InvalidUTF8)
		s.blank.Add(counts.Blank)
		s.changed.Add(counts.Changed)
	}()

	pi, ri := 0, 0 // next record: parts[pi].recs[ri]
	for pi < len(parts) {
		b, err := s.pr.Begin(ctx)
		if errors.Is(err, pipeline.ErrFull) {
			// Under drop_newest: Kafka keeps the records, so wait
			// rather than drop.
			if err := s.waitRoom(ctx); err != nil {
				return s.unqueue(parts[pi:], ri, err)
			}
			parts, ri = s.stillOwned(parts, pi, ri)
			continue
		}
		if err != nil {
			return s.unqueue(parts[pi:], ri, err)
		}
		// entries name, per partition, the end of its records in the
		// batch b; they become one mark on b before b is sealed.
		entries := s.entries[:0]
		var last *kgo.Record // the last record of parts[pi] in b
		seal := func() {
			if last != nil {
				entries = append(entries, ackEntry{st: parts[pi].st, next: last.Offset + 1, epoch: last.LeaderEpoch})
				last = nil
			}
			if len(entries) > 0 {
				b.Marks = append(b.Marks, s.tr.mark(entries))
				entries = entries[:0]
			}
		}
		var stopErr error
	chunk:
		for ; pi < len(parts); pi, ri = pi+1, 0 {
			p := &parts[pi]
			for ; ri < len(p.recs); ri++ {
				r := p.recs[ri]
				if s.pr.Full(b) {
					seal()
					if !s.room() {
						// The next batch would wait for budget: wait
						// with fetching paused (End seals b), or the
						// client goes on buffering fetches meanwhile.
						stopErr = pipeline.ErrFull
						break chunk
					}
					if b, err = s.pr.Next(ctx); err != nil {
						stopErr = err
						break chunk
					}
				}
				rec := record{Value: r.Value, Offset: r.Offset, IDHi: p.st.idHi, Fields: p.st.fields, FieldsID: p.st.fieldsID}
				if !r.Timestamp.IsZero() {
					rec.Timestamp = r.Timestamp.UnixNano()
				}
				for i := range r.Headers {
					switch r.Headers[i].Key {
					case HeaderID:
						rec.ID = r.Headers[i].Value
					case HeaderIndex:
						rec.Index = r.Headers[i].Value
					}
				}
				res := s.enc.append(b, &rec)
				n++
				size += uint64(len(r.Value))
				if res.Document {
					docs++
				} else {
					counts.Add(res.Flags)
				}
				if res.Refused {
					rejected++
				}
				if res.InvalidIndex {
					invalidIdx++
				}
				if res.BadID {
					invalidID++
				}
				last = r
			}
			if last != nil {
				entries = append(entries, ackEntry{st: p.st, next: last.Offset + 1, epoch: last.LeaderEpoch})
				last = nil
			}
		}
		if stopErr == nil {
			seal()
		}
		s.entries = entries[:0]
		s.pr.End()
		if stopErr != nil {
			if errors.Is(stopErr, pipeline.ErrFull) {
				if err := s.waitRoom(ctx); err != nil {
					return s.unqueue(parts[pi:], ri, err)
				}
				parts, ri = s.stillOwned(parts, pi, ri)
				continue
			}
			return s.unqueue(parts[pi:], ri, stopErr)
		}
	}
	return nil
}

// pushPart is the records of one owned partition in a poll.
type pushPart struct {
	st   *partState
	recs []*kgo.Record
}

// stillOwned drops from parts[pi:] the partitions this consumer no longer
// owns, and returns the parts left and the index of the next record of
// parts[pi]. push waits for room with rebalances allowed (the records it
// queued so far are sealed into batches and marked; a group whose member
// waits for an outage to end must still be able to move partitions): a
// rebalance meanwhile may have given some to another consumer, which reads
// their records again from the committed offsets. What this one read of
// them and did not queue is counted as unqueued.
func (s *Source) stillOwned(parts []pushPart, pi, ri int) ([]pushPart, int) {
	kept := parts[:pi]
	for k := pi; k < len(parts); k++ {
		p := parts[k]
		if s.tr.lookup(p.st.tp.topic, p.st.tp.partition) == p.st {
			kept = append(kept, p)
			continue
		}
		n := len(p.recs)
		if k == pi {
			n -= ri
			ri = 0
		}
		s.unqueued.Add(uint64(n))
	}
	return kept, ri
}

// unqueue counts the records from parts[0].recs[ri] on as read and never
// queued, and returns err.
func (s *Source) unqueue(parts []pushPart, ri int, err error) error {
	var n uint64
	for i, p := range parts {
		if i == 0 {
			n += uint64(len(p.recs) - ri)
		} else {
			n += uint64(len(p.recs))
		}
	}
	s.unqueued.Add(n)
	return err
}

// markClosing ends the waits of revoked partitions: used at the shutdown
// deadline and when the client leaves the group at the end.
func (s *Source) markClosing() { s.closeOne.Do(func() { close(s.closing) }) }

// onAssigned starts tracking newly assigned partitions; fetching resumes at
// the group's committed offsets.
func (s *Source) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	s.tr.assign(assigned)
	n := count(assigned)
	s.assigned.Add(uint64(n))
	s.log.Info().Int("partitions", n).Str("assigned", describe(assigned)).Msg("Kafka partitions assigned")
}

// onRevoked hands partitions back: it waits (bounded) for the records taken
// from them to be delivered, then commits their offsets.
func (s *Source) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	states := s.tr.states(revoked)
	if len(states) == 0 {
		return
	}
	n := count(revoked)
	s.revoked.Add(uint64(n))
	// Records of the partitions may wait in the batch being filled.
	_ = s.pr.Flush()
	start := time.Now()
	all := s.tr.waitDelivered(ctx, s.closing, s.cfg.RevokeTimeout, states)
	if !all {
		s.revokeTimeouts.Add(1)
	}
	s.commitMu.Lock()
	points := s.tr.release(states)
	s.commitLocked(ctx, points)
	s.commitMu.Unlock()
	e := s.log.Info()
	if !all {
		e = s.log.Warn()
	}
	e.Int("partitions", n).Str("revoked", describe(revoked)).Bool("all_delivered", all).
		Dur("wait", time.Since(start)).Msg("Kafka partitions revoked")
}

// onLost forgets partitions taken away without a revoke (this consumer was
// removed from the group): their offsets can no longer be committed.
func (s *Source) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	states := s.tr.states(lost)
	s.commitMu.Lock()
	s.tr.release(states)
	s.commitMu.Unlock()
	n := count(lost)
	s.lost.Add(uint64(n))
	if n > 0 {
		s.log.Warn().Int("partitions", n).Str("lost", describe(lost)).
			Msg("Kafka partitions lost (this consumer was dropped from the group, e.g. it could not rejoin within --kafka-rebalance-timeout): their records in flight are read again by the new owner")
	}
}

// committer commits delivered offsets every CommitInterval until ctx ends.
func (s *Source) committer(ctx context.Context) {
	defer s.bgWG.Done()
	t := time.NewTicker(s.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.commit(ctx)
		}
	}
}

// commit commits every owned partition's delivered offset that is past its
// committed one.
func (s *Source) commit(ctx context.Context) {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	s.commitLocked(ctx, s.tr.toCommit())
}

// commitLocked commits points; s.commitMu must be held. A failed commit is
// retried with the next one (offsets only move forward) or, for released
// partitions, left to the new owner, which reads the records again.
func (s *Source) commitLocked(ctx context.Context, points []commitPoint) {
	if len(points) == 0 {
		return
	}
	offsets := make(map[string]map[int32]kgo.EpochOffset)
	for _, c := range points {
		m := offsets[c.st.tp.topic]
		if m == nil {
			m = make(map[int32]kgo.EpochOffset)
			offsets[c.st.tp.topic] = m
		}
		m[c.st.tp.partition] = kgo.EpochOffset{Epoch: c.epoch, Offset: c.offset}
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var failed error
	s.cl.CommitOffsetsSync(cctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			failed = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if perr := kerr.ErrorForCode(p.ErrorCode); perr != nil && failed == nil {
					failed = fmt.Errorf("partition %s/%d: %w", t.Topic, p.Partition, perr)
				}
			}
		}
	})
	if failed != nil {
		s.commitFailures.Add(1)
		s.logError(failed, "cannot commit Kafka offsets; retried with the next commit", "", -1)
		return
	}
	s.commits.Add(1)
	var moved int64
	for _, c := range points {
		if prev := c.st.committed; prev >= 0 {
			moved += c.offset - prev
		}
	}
	if moved > 0 {
		s.committedRecords.Add(uint64(moved))
	}
	s.tr.committed(points)
}

// lagReader reads the group's lag every LagInterval and keeps that of the
// partitions this consumer owns.
func (s *Source) lagReader(ctx context.Context) {
	defer s.bgWG.Done()
	t := time.NewTicker(s.cfg.LagInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.readLag(ctx)
		}
	}
}

func (s *Source) readLag(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.LagInterval)
	defer cancel()
	lags, err := s.adm.Lag(cctx, s.cfg.Group)
	if err != nil {
		s.logError(err, "cannot read the Kafka consumer lag", "", -1)
		return
	}
	g, ok := lags[s.cfg.Group]
	if !ok || g.Error() != nil {
		if ok {
			s.logError(g.Error(), "cannot read the Kafka consumer lag", "", -1)
		}
		return
	}
	var out []PartitionLag
	for _, tp := range s.tr.owned() {
		l, ok := g.Lag.Lookup(tp.topic, tp.partition)
		if !ok || l.Err != nil || l.Lag < 0 {
			continue
		}
		out = append(out, PartitionLag{Topic: tp.topic, Partition: tp.partition, Lag: l.Lag})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	s.lagMu.Lock()
	s.lag = out
	s.lagMu.Unlock()
}

// Drain queues what is being filled, waits until everything queued is
// delivered or ctx is done, commits the delivered offsets and leaves the
// group. Call it once, after Run returned.
func (s *Source) Drain(ctx context.Context) error {
	err := s.pr.Close()
	if err == nil {
		err = s.pr.Wait(ctx)
	}
	if s.bgCancel != nil {
		s.bgCancel()
	}
	s.bgWG.Wait()
	// Commit what was delivered, even past the deadline: it is quick and
	// spares the next owner reading it again.
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	s.commit(cctx)
	cancel()
	// Leaving the group revokes every partition: nothing is left to wait
	// for, or the deadline passed.
	s.markClosing()
	done := make(chan struct{})
	go func() {
		s.cl.CloseAllowingRebalance()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		s.log.Warn().Msg("leaving the Kafka group takes longer than 15s; exiting anyway (the group notices at its session timeout)")
	}
	if err == nil && s.tr.undelivered() > 0 {
		err = errors.New("records taken from Kafka were left undelivered")
	}
	return err
}

// Close releases the Kafka client without committing; for a source whose
// Run was never called.
func (s *Source) Close() {
	s.markClosing()
	s.pr.Close()
	s.cl.Close()
}

// logError logs err at most every 10 s.
func (s *Source) logError(err error, msg, topic string, partition int32) {
	now := time.Now().UnixNano()
	if last := s.lastErrLog.Load(); now-last < int64(10*time.Second) || !s.lastErrLog.CompareAndSwap(last, now) {
		return
	}
	e := s.log.Warn().Err(err)
	if topic != "" {
		e = e.Str("topic", topic).Int32("partition", partition)
	}
	e.Msg(msg)
}

func count(m map[string][]int32) int {
	n := 0
	for _, ps := range m {
		n += len(ps)
	}
	return n
}

// describe renders partitions as "topic:0,1,2 other:3", sorted.
func describe(m map[string][]int32) string {
	topics := make([]string, 0, len(m))
	for t := range m {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	out := ""
	for _, t := range topics {
		ps := append([]int32(nil), m[t]...)
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		if out != "" {
			out += " "
		}
		out += t + ":"
		for i, p := range ps {
			if i > 0 {
				out += ","
			}
			out += fmt.Sprint(p)
		}
	}
	return out
}

// kgoLogger passes the Kafka client's warnings and errors to the shipper's
// log.
type kgoLogger struct{ log zerolog.Logger }

func (l kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (l kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	e := l.log.Warn()
	if level == kgo.LogLevelError {
		e = l.log.Error()
	}
	for i := 0; i+1 < len(keyvals); i += 2 {
		if k, ok := keyvals[i].(string); ok {
			e = e.Interface(k, keyvals[i+1])
		}
	}
	e.Str("component", "kafka-client").Msg(msg)
}
