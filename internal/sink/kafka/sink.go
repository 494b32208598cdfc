// Package kafka is the Kafka output: it produces the documents the shipper
// would have sent to Elasticsearch as Kafka records (the document as value,
// its id and data stream name in headers), with acks=all and the idempotent
// producer, and acknowledges a batch only when Kafka has acknowledged every
// record of it, or the record was written to the dead-letter topic.
//
// The client is franz-go (github.com/twmb/franz-go/pkg/kgo): pure Go, keeps
// the idempotent producer's sequence numbers right across retries and broker
// restarts, and retries without limit by default, which is what the delivery
// contract asks: a broker that is down slows reading through the byte budget,
// it never drops.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"shipper/internal/backoff"
	"shipper/internal/event"
	"shipper/internal/sink/reach"
)

// Config configures the sink.
type Config struct {
	// Brokers are the seed brokers, host:port.
	Brokers []string
	// Topic is where records go: a name or a template (see ParseTopic).
	Topic Topic
	// Key chooses the record key (see KeyMode).
	Key KeyMode
	// DeadLetterTopic receives records Kafka refuses for good (too large,
	// invalid), with the reason in a header.
	DeadLetterTopic string
	// ClientID names the producer to the brokers; "" means "shipper".
	ClientID string
	// MaxRecordBytes is the largest record batch the producer sends; a
	// single record larger than that is dead-lettered. It must not exceed
	// the broker's message.max.bytes (default 1 MiB). 0: 1,000,000.
	MaxRecordBytes int
	// BufferBytes bounds the bytes the client holds (buffered and in
	// flight); 0: unlimited (the pipeline's budget bounds them anyway).
	BufferBytes int
	// Compression of record batches: none, gzip, snappy, lz4 or zstd.
	Compression string
	// RequestTimeout is how long a broker may take to answer a produce
	// request (acks=all waits for the in-sync replicas).
	RequestTimeout time.Duration
	// RetryInitial and RetryMax bound the wait before records the client
	// gave up on (topic missing, not authorized) are produced again.
	RetryInitial, RetryMax time.Duration
}

// Stats are cumulative counters.
type Stats struct {
	Produced     uint64 // records acknowledged by Kafka
	DeadLettered uint64 // records written to the dead-letter topic instead
	Lost         uint64 // dead-letter writes refused too: logged with the document
	Retried      uint64 // records produced again after the client failed them
	Batches      uint64 // record batches (one topic-partition each) written
	Failures     uint64 // records the client failed (each retried or dead-lettered)
	BytesSent    uint64 // record batch bytes written (after compression)
	BytesRaw     uint64 // record batch bytes before compression
	// BackoffWait is the time spent waiting before records were produced
	// again.
	BackoffWait time.Duration
}

// Health is what the sink knows of the brokers from its own requests.
type Health struct {
	// LastSuccess is when a record batch was last acknowledged (zero:
	// never).
	LastSuccess time.Time
	// UnreachableSince is when connecting to a broker or producing started
	// failing, zero when the last attempt did not. LastError says how.
	UnreachableSince time.Time
	LastError        string
	// OldestBatch is when the oldest batch still waiting for Kafka's
	// acknowledgement was handed to the client (zero: none waits).
	OldestBatch time.Time
}

// Sink produces batches into Kafka.
type Sink struct {
	cfg Config
	cl  *kgo.Client
	log zerolog.Logger

	produced, deadLettered, lost, retried, batches, failures, bytesSent, bytesRaw atomic.Uint64
	backoffWait                                                                   atomic.Int64

	reach reach.Tracker // see Health

	// stopped is set when Run's context ends: failed records are then
	// left, not retried, and their batches never acknowledged.
	stopped atomic.Bool

	flightMu sync.Mutex
	active   map[*flight]struct{} // batches handed to the client, not settled
	free     []*flight
	settled  chan struct{} // signalled when active shrinks
	retryq   []*flight     // flights with failed records, for the retrier
	retryc   chan struct{} // signalled when retryq grows

	topics map[string]string // data stream name -> topic; Run's goroutine only
}

// New builds the client; it does not contact the brokers (franz-go connects
// on first use).
func New(cfg Config, log zerolog.Logger) (*Sink, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("no Kafka broker configured")
	}
	if cfg.Topic.parts == nil {
		return nil, errors.New("no Kafka topic configured")
	}
	if cfg.Key == "" {
		cfg.Key = KeySource
	}
	if cfg.DeadLetterTopic == "" {
		return nil, errors.New("no Kafka dead-letter topic configured")
	}
	if err := checkTopicChars(cfg.DeadLetterTopic); err != nil {
		return nil, fmt.Errorf("Kafka dead-letter topic %q: %v", cfg.DeadLetterTopic, err)
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "shipper"
	}
	if cfg.MaxRecordBytes <= 0 {
		cfg.MaxRecordBytes = 1_000_000
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if cfg.RetryInitial <= 0 {
		cfg.RetryInitial = 250 * time.Millisecond
	}
	if cfg.RetryMax < cfg.RetryInitial {
		cfg.RetryMax = cfg.RetryInitial
	}
	codec, err := parseCompression(cfg.Compression)
	if err != nil {
		return nil, err
	}
	s := &Sink{
		cfg: cfg, log: log,
		active:  make(map[*flight]struct{}),
		settled: make(chan struct{}, 1),
		retryc:  make(chan struct{}, 1),
		topics:  make(map[string]string),
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(cfg.ClientID),
		kgo.WithHooks(hooks{s}),
		// acks=all: a record counts as delivered once every in-sync
		// replica has it. The idempotent producer is franz-go's default
		// (and needs acks=all): a retried batch is written once.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchMaxBytes(int32(cfg.MaxRecordBytes)),
		kgo.ProduceRequestTimeout(cfg.RequestTimeout),
		kgo.ProducerBatchCompression(codec),
		// Records wait in the client as long as the pipeline lets them:
		// the byte budget bounds them, not a record count.
		kgo.MaxBufferedRecords(1 << 20),
		// The broker decides (auto.create.topics.enable), as with the
		// Java producer; without this franz-go never asks it to create.
		kgo.AllowAutoTopicCreation(),
		// No RecordRetries and no RecordDeliveryTimeout: the client retries
		// a record until Kafka takes it (a broker down for an hour is
		// waited out, as with Elasticsearch).
	}
	if cfg.BufferBytes > 0 {
		opts = append(opts, kgo.MaxBufferedBytes(cfg.BufferBytes))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot create the Kafka client for %v: %w", cfg.Brokers, err)
	}
	s.cl = cl
	return s, nil
}

func parseCompression(s string) (kgo.CompressionCodec, error) {
	switch s {
	case "", "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.NoCompression(), fmt.Errorf("unknown Kafka compression %q: want none, gzip, snappy, lz4 or zstd", s)
}

// Ping asks a broker for its metadata: nil when one answered.
func (s *Sink) Ping(ctx context.Context) error {
	if err := s.cl.Ping(ctx); err != nil {
		return fmt.Errorf("cannot reach a Kafka broker of %v: %w", s.cfg.Brokers, err)
	}
	return nil
}

// Close closes the client of a sink that is not Run (Run closes it when it
// returns).
func (s *Sink) Close() { s.cl.Close() }

// Stats returns a snapshot of the counters.
func (s *Sink) Stats() Stats {
	return Stats{
		Produced: s.produced.Load(), DeadLettered: s.deadLettered.Load(), Lost: s.lost.Load(),
		Retried: s.retried.Load(), Batches: s.batches.Load(), Failures: s.failures.Load(),
		BytesSent: s.bytesSent.Load(), BytesRaw: s.bytesRaw.Load(), BackoffWait: time.Duration(s.backoffWait.Load()),
	}
}

// Buffered returns the records the client holds (not acknowledged yet).
func (s *Sink) Buffered() int64 { return s.cl.BufferedProduceRecords() }

// Health returns what the sink knows of the brokers now. Safe for concurrent
// use.
func (s *Sink) Health() Health {
	var h Health
	h.LastSuccess, h.UnreachableSince, h.LastError = s.reach.State()
	s.flightMu.Lock()
	for f := range s.active {
		if h.OldestBatch.IsZero() || f.start.Before(h.OldestBatch) {
			h.OldestBatch = f.start
		}
	}
	s.flightMu.Unlock()
	return h
}

// hooks turn the client's events into health and counters.
type hooks struct{ s *Sink }

var (
	_ kgo.HookBrokerConnect       = hooks{}
	_ kgo.HookProduceBatchWritten = hooks{}
)

// OnBrokerConnect marks the brokers unreachable while connections fail.
func (h hooks) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err != nil {
		h.s.reach.Failed(fmt.Sprintf("cannot connect to Kafka broker %s: %v", net.JoinHostPort(meta.Host, strconv.Itoa(int(meta.Port))), err))
	}
}

// OnProduceBatchWritten counts an acknowledged record batch.
func (h hooks) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.ProduceBatchMetrics) {
	h.s.batches.Add(1)
	h.s.bytesSent.Add(uint64(m.CompressedBytes))
	h.s.bytesRaw.Add(uint64(m.UncompressedBytes))
	h.s.reach.Reached(true)
}

// flight is one batch handed to the client: its records point into the
// batch body (values and header values) and into keys.
type flight struct {
	s       *Sink
	b       *event.Batch
	start   time.Time
	recs    []kgo.Record
	hdrs    []kgo.RecordHeader
	keys    []byte
	def     []byte                   // b.Index, which records' headers may point into
	promise func(*kgo.Record, error) // f.done, bound once

	pending atomic.Int64
	mu      sync.Mutex
	failed  []failure
}

// failure is a record the client failed.
type failure struct {
	r    *kgo.Record
	err  error
	dead bool // r is a dead-letter record
}

func (s *Sink) getFlight() *flight {
	s.flightMu.Lock()
	defer s.flightMu.Unlock()
	if n := len(s.free); n > 0 {
		f := s.free[n-1]
		s.free = s.free[:n-1]
		return f
	}
	f := &flight{s: s}
	f.promise = f.done
	return f
}

// Run produces the batches from in until in is closed and every batch is
// settled (Batch.Done called), then closes the client. When ctx ends first
// that is the hard stop: batches not settled are left unacknowledged, and
// Run returns ctx's error.
func (s *Sink) Run(ctx context.Context, in <-chan *event.Batch) error {
	defer s.cl.Close()
	retrier := make(chan struct{})
	go func() {
		defer close(retrier)
		s.retrier(ctx)
	}()
	defer func() { <-retrier }()
	stop := func() error {
		s.stopped.Store(true)
		return ctx.Err()
	}
	for {
		select {
		case b, ok := <-in:
			if !ok {
				return s.drain(ctx, stop)
			}
			s.produceBatch(ctx, b)
			if ctx.Err() != nil {
				return stop()
			}
		case <-ctx.Done():
			return stop()
		}
	}
}

// drain waits until every batch is settled.
func (s *Sink) drain(ctx context.Context, stop func() error) error {
	for {
		s.flightMu.Lock()
		n := len(s.active)
		s.flightMu.Unlock()
		if n == 0 {
			s.stopped.Store(true) // ends the retrier
			select {
			case s.retryc <- struct{}{}:
			default:
			}
			return nil
		}
		select {
		case <-s.settled:
		case <-ctx.Done():
			return stop()
		}
	}
}

// produceBatch hands every item of b to the client. Produce blocks while the
// client's buffer is full (BufferBytes).
func (s *Sink) produceBatch(ctx context.Context, b *event.Batch) {
	f := s.getFlight()
	f.b, f.start = b, time.Now().Truncate(time.Millisecond)
	f.def = append(f.def[:0], b.Index...)
	n := b.Len()
	if n == 0 {
		s.putFlight(f)
		b.Done()
		return
	}
	if cap(f.recs) < n {
		f.recs = make([]kgo.Record, n)
		f.hdrs = make([]kgo.RecordHeader, 2*n)
	}
	f.recs, f.hdrs = f.recs[:n], f.hdrs[:2*n]
	f.keys = f.keys[:0]
	if s.cfg.Key == KeySource && cap(f.keys) < n*sourceKeyLen {
		f.keys = make([]byte, 0, n*sourceKeyLen)
	}
	s.flightMu.Lock()
	s.active[f] = struct{}{}
	s.flightMu.Unlock()
	// One count for the loop itself, so that records acknowledged while
	// the loop runs cannot settle the batch early.
	f.pending.Store(int64(n) + 1)
	for i := 0; i < n; i++ {
		r := &f.recs[i]
		*r = kgo.Record{}
		index, id, err := parseAction(b.Action(i), f.def)
		doc := b.Document(i)
		doc = doc[:len(doc)-1] // the '\n' of the bulk body
		if err != nil {
			// A batch not built by encode: a broken invariant of the
			// sources, reported and dead-lettered rather than dropped.
			index, id = nil, nil
		}
		r.Topic = s.topicFor(index)
		switch s.cfg.Key {
		case KeySource:
			k := len(f.keys)
			if cap(f.keys)-k < len(id) {
				// An id of another length than encode's: keep the key
				// of its own, the earlier keys must not move.
				r.Key = appendSourceKey(nil, id)
			} else {
				f.keys = appendSourceKey(f.keys, id)
				r.Key = f.keys[k:len(f.keys):len(f.keys)]
			}
		case KeyStream:
			r.Key = index
		}
		h := f.hdrs[2*i : 2*i+2 : 2*i+2]
		h[0] = kgo.RecordHeader{Key: HeaderID, Value: id}
		h[1] = kgo.RecordHeader{Key: HeaderIndex, Value: index}
		r.Headers = h
		r.Value = doc
		// One clock reading per batch instead of one per record (the
		// client stamps records that have none).
		r.Timestamp = f.start
		if err != nil {
			f.fail(r, fmt.Errorf("%w: item %d: %v", errBadAction, i, err), false)
			continue
		}
		s.cl.Produce(ctx, r, f.promise)
	}
	f.release()
}

// topicFor returns the topic of documents bound for index.
func (s *Sink) topicFor(index []byte) string {
	if s.cfg.Topic.Static() {
		return s.cfg.Topic.parts[0]
	}
	if t, ok := s.topics[string(index)]; ok {
		return t
	}
	t := s.cfg.Topic.For(string(index))
	if len(s.topics) < 10_000 { // the datasets are bounded (--max-datasets); this is a guard
		s.topics[string(index)] = t
	}
	return t
}

// done is the promise of every record of the flight; the client calls it
// once per record, from its own goroutine, and must not be kept waiting.
func (f *flight) done(r *kgo.Record, err error) {
	s := f.s
	if err != nil {
		f.fail(r, err, r.Topic == s.cfg.DeadLetterTopic && len(r.Headers) > 2)
		return
	}
	if r.Topic == s.cfg.DeadLetterTopic && len(r.Headers) > 2 {
		s.deadLettered.Add(1)
	} else {
		s.produced.Add(1)
	}
	f.release()
}

// fail records a failed record and releases its count.
func (f *flight) fail(r *kgo.Record, err error, dead bool) {
	if !f.s.stopped.Load() {
		f.mu.Lock()
		f.failed = append(f.failed, failure{r: r, err: err, dead: dead})
		f.mu.Unlock()
	}
	f.release()
}

// release drops one pending count; the last one settles the flight, or
// hands it to the retrier when records failed.
func (f *flight) release() {
	if f.pending.Add(-1) != 0 {
		return
	}
	s := f.s
	f.mu.Lock()
	nfailed := len(f.failed)
	f.mu.Unlock()
	if s.stopped.Load() {
		return // hard stop: never acknowledged
	}
	if nfailed > 0 {
		s.flightMu.Lock()
		s.retryq = append(s.retryq, f)
		s.flightMu.Unlock()
		select {
		case s.retryc <- struct{}{}:
		default:
		}
		return
	}
	b := f.b
	s.putFlight(f)
	b.Done()
}

// putFlight forgets the flight's views into the batch and keeps it for
// reuse.
func (s *Sink) putFlight(f *flight) {
	clear(f.recs)
	clear(f.hdrs)
	f.b = nil
	f.failed = f.failed[:0]
	s.flightMu.Lock()
	delete(s.active, f)
	if len(s.free) < 64 {
		s.free = append(s.free, f)
	}
	s.flightMu.Unlock()
	select {
	case s.settled <- struct{}{}:
	default:
	}
}

// retrier produces again what the client failed: after a backoff for what
// may succeed later (topic missing, not authorized, retries exhausted), to
// the dead-letter topic for what never can (too large, invalid).
func (s *Sink) retrier(ctx context.Context) {
	bo := backoff.Backoff{Initial: s.cfg.RetryInitial, Max: s.cfg.RetryMax}
	for {
		select {
		case <-s.retryc:
		case <-ctx.Done():
			return
		}
		for {
			if s.stopped.Load() {
				return
			}
			s.flightMu.Lock()
			q := s.retryq
			s.retryq = nil
			s.flightMu.Unlock()
			if len(q) == 0 {
				break
			}
			again := map[string]int{} // topic -> records to produce again
			var lastErr error
			for _, f := range q {
				if err := s.classify(f, again); err != nil {
					lastErr = err
				}
			}
			if len(again) > 0 {
				d := bo.Failed(0)
				for topic, n := range again {
					msg := "Kafka records failed; will produce them again"
					if errors.Is(lastErr, kerr.UnknownTopicOrPartition) {
						msg = "Kafka topic does not exist and the broker does not create it (create it); records wait"
					}
					s.log.Warn().Err(lastErr).Str("topic", topic).Int("records", n).Dur("retry_in_ms", d).Msg(msg)
				}
				t0 := time.Now()
				if backoff.Sleep(ctx, d) != nil {
					return
				}
				s.backoffWait.Add(int64(time.Since(t0)))
			} else {
				bo.Reset()
			}
			for _, f := range q {
				s.reproduce(ctx, f)
			}
		}
	}
}

// classify turns the flight's permanent failures into dead-letter records
// and counts in again, per topic, the failures to retry after a wait; it
// returns the error of the last of those.
func (s *Sink) classify(f *flight, again map[string]int) (last error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.failed {
		fl := &f.failed[i]
		s.failures.Add(1)
		switch {
		case fl.dead && permanent(fl.err):
			// The dead letter itself is refused for good: the document
			// is logged, not silently dropped.
			s.lost.Add(1)
			s.log.Error().Err(fl.err).Str("topic", s.cfg.DeadLetterTopic).Bytes("id", header(fl.r, HeaderID)).
				Bytes("reason", header(fl.r, HeaderError)).Str("document", excerpt(fl.r.Value)).
				Msg("document lost: Kafka refused it and its dead letter")
			fl.r = nil
		case permanent(fl.err):
			fl.r = s.deadLetter(fl.r, fl.err)
			fl.dead = true
		default:
			s.reach.Failed(fmt.Sprintf("producing to topic %q: %v", fl.r.Topic, fl.err))
			again[fl.r.Topic]++
			last = fl.err
		}
	}
	return last
}

// reproduce hands the flight's failed records to the client again.
func (s *Sink) reproduce(ctx context.Context, f *flight) {
	f.mu.Lock()
	failed := append([]failure(nil), f.failed...)
	f.failed = f.failed[:0]
	f.pending.Store(int64(len(failed)) + 1)
	f.mu.Unlock()
	for _, fl := range failed {
		if fl.r == nil {
			f.release() // lost, logged
			continue
		}
		if !fl.dead {
			s.retried.Add(1)
		}
		fl.r.Partition, fl.r.Offset = 0, 0
		s.cl.Produce(ctx, fl.r, f.promise)
	}
	f.release()
}

// permanent reports whether producing the record again cannot succeed.
func permanent(err error) bool {
	return errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge) ||
		errors.Is(err, kerr.InvalidRecord) || errors.Is(err, kerr.CorruptMessage) ||
		errors.Is(err, kerr.InvalidTopicException) || errors.Is(err, kerr.InvalidRequiredAcks) ||
		errors.Is(err, errBadAction)
}

var errBadAction = errors.New("bad bulk action")

// maxDeadValue is the most of a document a dead-letter record keeps.
const maxDeadValue = 64 << 10

// deadLetter returns the dead-letter record of r, refused with err.
func (s *Sink) deadLetter(r *kgo.Record, err error) *kgo.Record {
	value := r.Value
	hdrs := []kgo.RecordHeader{
		{Key: HeaderID, Value: header(r, HeaderID)},
		{Key: HeaderIndex, Value: header(r, HeaderIndex)},
		{Key: HeaderTopic, Value: []byte(r.Topic)},
		{Key: HeaderError, Value: []byte(err.Error())},
	}
	if len(value) > maxDeadValue {
		hdrs = append(hdrs, kgo.RecordHeader{Key: HeaderOriginalSize, Value: strconv.AppendInt(nil, int64(len(value)), 10)})
		value = cutUTF8(value, maxDeadValue)
	}
	s.log.Warn().Err(err).Str("topic", r.Topic).Bytes("id", header(r, HeaderID)).Int("bytes", len(r.Value)).
		Str("dead_letter_topic", s.cfg.DeadLetterTopic).Msg("Kafka refused a record for good: writing it to the dead-letter topic")
	return &kgo.Record{Topic: s.cfg.DeadLetterTopic, Key: r.Key, Value: value, Headers: hdrs}
}

func header(r *kgo.Record, key string) []byte {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value
		}
	}
	return nil
}

// cutUTF8 returns at most n bytes of b, not splitting a UTF-8 sequence.
func cutUTF8(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	b = b[:n]
	for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
		if r, size := utf8.DecodeLastRune(b); r != utf8.RuneError || size != 1 {
			break
		}
		b = b[:len(b)-1]
	}
	return b
}

func excerpt(b []byte) string {
	if len(b) > 2000 {
		return string(cutUTF8(b, 2000)) + "…"
	}
	return string(b)
}
