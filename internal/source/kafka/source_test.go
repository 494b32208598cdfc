package kafka

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"shipper/internal/event"
	"shipper/internal/pipeline"
)

// These tests run the source against kfake, franz-go's in-process Kafka:
// fast and deterministic enough for the unit tests. The integration tests
// (kafka_integration_test.go) run the same paths against a real broker and
// a real Elasticsearch.

func newCluster(t *testing.T, partitions int32, topics ...string) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// produce writes lines "<prefix>-<i>" for i in [from, to) round-robin over
// the topic's partitions.
func produce(t *testing.T, brokers []string, topic, prefix string, from, to int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, 0, to-from)
	for i := from; i < to; i++ {
		recs = append(recs, &kgo.Record{Value: []byte(fmt.Sprintf("%s-%06d", prefix, i))})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// fakeSink consumes a pipeline's batches and records the documents by id.
// While held, batches are kept undelivered.
type fakeSink struct {
	mu   sync.Mutex
	docs map[string]int // id -> deliveries
	msgs map[string]int // message -> deliveries
	held []*event.Batch
	hold atomic.Bool
}

func newFakeSink() *fakeSink {
	return &fakeSink{docs: make(map[string]int), msgs: make(map[string]int)}
}

func (f *fakeSink) run(pipe *pipeline.Pipeline) {
	for b := range pipe.Batches() {
		f.mu.Lock()
		if f.hold.Load() {
			f.held = append(f.held, b)
			f.mu.Unlock()
			continue
		}
		f.deliverLocked(b)
		f.mu.Unlock()
	}
}

func (f *fakeSink) deliverLocked(b *event.Batch) {
	for i := 0; i < b.Len(); i++ {
		var action struct {
			Create struct {
				ID string `json:"_id"`
			} `json:"create"`
		}
		var doc struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(b.Action(i), &action)
		_ = json.Unmarshal(b.Document(i), &doc)
		f.docs[action.Create.ID]++
		f.msgs[doc.Message]++
	}
	b.Done()
}

// release delivers the held batches and stops holding.
func (f *fakeSink) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hold.Store(false)
	for _, b := range f.held {
		f.deliverLocked(b)
	}
	f.held = nil
}

// distinct returns how many distinct messages were delivered and how many
// deliveries were repeats.
func (f *fakeSink) distinct() (n, repeats int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.msgs {
		n++
		repeats += c - 1
	}
	return n, repeats
}

type consumer struct {
	src    *Source
	pipe   *pipeline.Pipeline
	sink   *fakeSink
	cancel context.CancelFunc
	runErr chan error
}

func startConsumer(t *testing.T, brokers []string, topic, group string, sink *fakeSink, cfg Config) *consumer {
	t.Helper()
	pipe := pipeline.New(pipeline.Config{MaxBytes: 4 << 20, BatchBytes: 256 << 10, FlushInterval: 50 * time.Millisecond})
	cfg.Brokers, cfg.Topics, cfg.Group = brokers, []string{topic}, group
	cfg.Dataset, cfg.Namespace = "generic", "default"
	if cfg.CommitInterval == 0 {
		cfg.CommitInterval = 100 * time.Millisecond
	}
	if cfg.RevokeTimeout == 0 {
		cfg.RevokeTimeout = 30 * time.Second
	}
	cfg.ClientOptions = append(cfg.ClientOptions, kgo.FetchMaxWait(100*time.Millisecond))
	src, err := New(cfg, pipe, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel))
	if err != nil {
		t.Fatal(err)
	}
	go sink.run(pipe)
	ctx, cancel := context.WithCancel(context.Background())
	c := &consumer{src: src, pipe: pipe, sink: sink, cancel: cancel, runErr: make(chan error, 1)}
	go func() { c.runErr <- src.Run(ctx, context.Background()) }()
	return c
}

// stop ends Run, drains and closes the pipeline.
func (c *consumer) stop(t *testing.T) {
	t.Helper()
	c.cancel()
	select {
	case <-c.runErr:
	case <-time.After(2 * time.Minute):
		t.Fatal("Run did not return within 2 minutes of the cancellation")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.src.Drain(ctx); err != nil {
		t.Errorf("Drain: %v", err)
	}
	c.pipe.Close()
}

// waitFor polls cond until it holds, failing after limit with what().
func waitFor(t *testing.T, limit time.Duration, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s: %s", limit, what())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// committed returns the group's committed offsets summed over the topic's
// partitions, and the sum of the partitions' end offsets.
func committed(t *testing.T, brokers []string, topic, group string) (commit, end int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets: %v", err)
	}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.Err == nil {
			commit += o.At
		}
	})
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	ends.Each(func(o kadm.ListedOffset) { end += o.Offset })
	return commit, end
}

func TestSourceDeliversAndCommits(t *testing.T) {
	brokers := newCluster(t, 3, "logs")
	const n = 3000
	produce(t, brokers, "logs", "line", 0, n)
	sink := newFakeSink()
	c := startConsumer(t, brokers, "logs", "g", sink, Config{})
	waitFor(t, 2*time.Minute, func() string { d, _ := sink.distinct(); return fmt.Sprintf("%d of %d lines delivered", d, n) },
		func() bool { d, _ := sink.distinct(); return d == n })
	c.stop(t)
	d, repeats := sink.distinct()
	if d != n || repeats != 0 {
		t.Errorf("delivered: got %d distinct lines and %d repeats, want %d and 0", d, repeats, n)
	}
	if commit, end := committed(t, brokers, "logs", "g"); commit != end || end != n {
		t.Errorf("committed offsets: got %d of end %d, want %d", commit, end, n)
	}
	if st := c.src.Stats(); st.Records != n || st.Commits == 0 {
		t.Errorf("stats: got %d records and %d commits, want %d and some", st.Records, st.Commits, n)
	}
}

// TestSourceCommitsOnlyDelivered holds every batch in the sink: nothing may
// be committed until they are delivered, however often commits are tried.
func TestSourceCommitsOnlyDelivered(t *testing.T) {
	brokers := newCluster(t, 2, "logs")
	const n = 500
	produce(t, brokers, "logs", "line", 0, n)
	sink := newFakeSink()
	sink.hold.Store(true)
	c := startConsumer(t, brokers, "logs", "g", sink, Config{})
	waitFor(t, 2*time.Minute, func() string { return fmt.Sprintf("%d of %d records taken", c.src.Stats().Records, n) },
		func() bool { return c.src.Stats().Records == n })
	// Seal the batch being filled and try to commit: nothing is delivered.
	if err := c.src.pr.Flush(); err != nil {
		t.Fatal(err)
	}
	c.src.commit(context.Background())
	if commit, _ := committed(t, brokers, "logs", "g"); commit != 0 {
		t.Fatalf("committed offsets sum to %d with nothing delivered, want 0", commit)
	}
	sink.release()
	waitFor(t, 2*time.Minute, func() string {
		commit, end := committed(t, brokers, "logs", "g")
		return fmt.Sprintf("committed %d of %d", commit, end)
	},
		func() bool { commit, end := committed(t, brokers, "logs", "g"); return commit == end && end == n })
	c.stop(t)
}

// TestSourceRebalance adds a second consumer to the group while records
// flow: the partitions it takes over are handed back once their records are
// delivered and committed, so nothing is lost and nothing is read twice.
func TestSourceRebalance(t *testing.T) {
	brokers := newCluster(t, 4, "logs")
	const n = 4000
	produce(t, brokers, "logs", "line", 0, n/2)
	sink := newFakeSink()
	a := startConsumer(t, brokers, "logs", "g", sink, Config{})
	waitFor(t, 2*time.Minute, func() string {
		d, _ := sink.distinct()
		return fmt.Sprintf("%d lines delivered by the first consumer", d)
	},
		func() bool { d, _ := sink.distinct(); return d >= n/4 })
	b := startConsumer(t, brokers, "logs", "g", sink, Config{})
	waitFor(t, 2*time.Minute, func() string { return "the second consumer got no partition" },
		func() bool { return b.src.Stats().Assigned > 0 })
	produce(t, brokers, "logs", "line", n/2, n)
	waitFor(t, 2*time.Minute, func() string { d, _ := sink.distinct(); return fmt.Sprintf("%d of %d lines delivered", d, n) },
		func() bool { d, _ := sink.distinct(); return d == n })
	a.stop(t)
	b.stop(t)
	d, repeats := sink.distinct()
	if d != n || repeats != 0 {
		t.Errorf("delivered: got %d distinct lines and %d repeats, want %d and 0", d, repeats, n)
	}
	if st := a.src.Stats(); st.Revoked == 0 {
		t.Errorf("the first consumer had no partition revoked: %+v", st)
	}
	if commit, end := committed(t, brokers, "logs", "g"); commit != end || end != n {
		t.Errorf("committed offsets: got %d of end %d, want %d", commit, end, n)
	}
}

// TestSourceRevokeTimeout holds the first consumer's deliveries while a
// second one joins: the revoke gives up after RevokeTimeout, the new owner
// reads the records again (same document ids: 409 in Elasticsearch), and
// the first consumer's late deliveries commit nothing for the partitions it
// no longer owns.
func TestSourceRevokeTimeout(t *testing.T) {
	brokers := newCluster(t, 2, "logs")
	const n = 1000
	produce(t, brokers, "logs", "line", 0, n)
	sinkA, sinkB := newFakeSink(), newFakeSink()
	sinkA.hold.Store(true)
	a := startConsumer(t, brokers, "logs", "g", sinkA, Config{RevokeTimeout: time.Second})
	waitFor(t, 2*time.Minute, func() string { return fmt.Sprintf("%d of %d records taken", a.src.Stats().Records, n) },
		func() bool { return a.src.Stats().Records == n })
	b := startConsumer(t, brokers, "logs", "g", sinkB, Config{})
	waitFor(t, 2*time.Minute, func() string { return "no revoke timed out" },
		func() bool { return a.src.Stats().RevokeTimeouts > 0 })
	waitFor(t, 2*time.Minute, func() string { d, _ := sinkB.distinct(); return fmt.Sprintf("second consumer delivered %d", d) },
		func() bool {
			d, _ := sinkB.distinct()
			return d > 0 && b.src.tr.undelivered() == 0 && len(b.src.tr.toCommit()) == 0
		})
	sinkA.release()
	a.stop(t)
	b.stop(t)
	seen := map[string]bool{}
	for _, s := range []*fakeSink{sinkA, sinkB} {
		for m := range s.msgs {
			seen[m] = true
		}
	}
	if len(seen) != n {
		t.Errorf("delivered: got %d distinct lines, want %d", len(seen), n)
	}
	// The records read again carry the same ids: Elasticsearch answers
	// 409 for the second copy.
	sameID := 0
	for id := range sinkB.docs {
		if sinkA.docs[id] > 0 {
			sameID++
		}
	}
	if sameID == 0 {
		t.Errorf("no record was delivered by both consumers under the same id (first %d, second %d documents)", len(sinkA.docs), len(sinkB.docs))
	}
	if commit, end := committed(t, brokers, "logs", "g"); commit != end {
		t.Errorf("committed offsets: got %d of end %d", commit, end)
	}
}

// TestSourceTopicsRegex consumes every topic whose name matches, as the
// consumers of a Kafka output with a topic per dataset do.
func TestSourceTopicsRegex(t *testing.T) {
	brokers := newCluster(t, 2, "logs-app", "logs-web", "other")
	produce(t, brokers, "logs-app", "app", 0, 300)
	produce(t, brokers, "logs-web", "web", 0, 200)
	produce(t, brokers, "other", "other", 0, 100)
	sink := newFakeSink()
	c := startConsumer(t, brokers, "logs-.*", "g", sink, Config{TopicsRegex: true})
	waitFor(t, 2*time.Minute, func() string { d, _ := sink.distinct(); return fmt.Sprintf("%d of 500 lines delivered", d) },
		func() bool { d, _ := sink.distinct(); return d == 500 })
	c.stop(t)
	sink.mu.Lock()
	defer sink.mu.Unlock()
	for m := range sink.msgs {
		if strings.HasPrefix(m, "other-") {
			t.Fatalf("delivered %q from a topic the pattern does not match", m)
		}
	}
}

// TestSourcePausesWhenFull: a pipeline whose budget is taken by batches the
// sink holds makes the source stop polling and pause fetching; once the
// batches are delivered it goes on, and every record arrives once.
func TestSourcePausesWhenFull(t *testing.T) {
	brokers := newCluster(t, 2, "logs")
	const n = 20000
	produce(t, brokers, "logs", "line-with-some-padding-to-fill-batches-faster", 0, n)
	sink := newFakeSink()
	sink.hold.Store(true)
	c := startConsumer(t, brokers, "logs", "g", sink, Config{})
	waitFor(t, 2*time.Minute, func() string { return fmt.Sprintf("no pause; %d records taken", c.src.Stats().Records) },
		func() bool { return c.src.Stats().Paused > 0 })
	if got := c.src.Stats().Records; got >= n {
		t.Fatalf("all %d records taken with the pipeline full, want the source stopped", got)
	}
	sink.release()
	waitFor(t, 2*time.Minute, func() string { d, _ := sink.distinct(); return fmt.Sprintf("%d of %d lines delivered", d, n) },
		func() bool { d, _ := sink.distinct(); return d == n })
	c.stop(t)
	if _, repeats := sink.distinct(); repeats != 0 {
		t.Errorf("%d lines delivered twice", repeats)
	}
}
