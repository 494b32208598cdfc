package kafka

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"shipper/internal/encode"
	"shipper/internal/event"
)

// These tests run against kfake, franz-go's in-process broker, for the error
// paths a real broker does not produce on demand. Delivery on the real broker
// (restarts, kills, every line exactly once) is proven by the integration
// tests of cmd/shipper.

// testBatch builds a batch of docs as encode would: item i of source hi goes
// to index, the batch's default target, with id (hi, i). A doc written
// "<data stream> <document>" goes to that stream instead.
func testBatch(index string, hi uint64, docs ...string) (*event.Batch, *atomic.Int32) {
	b := &event.Batch{Index: index}
	for i, d := range docs {
		start := len(b.Body)
		target := index
		if ds, doc, ok := strings.Cut(d, " "); ok && strings.HasPrefix(ds, "logs-") {
			target, d = ds, doc
		}
		b.Body = encode.AppendCreateIn(b.Body, target, b.Index, encode.AppendID(nil, hi, uint64(i)))
		doc := len(b.Body)
		b.Body = append(append(b.Body, d...), '\n')
		b.AddItem(start, doc)
	}
	var done atomic.Int32
	b.SetDone(func(*event.Batch) { done.Add(1) })
	return b, &done
}

func newCluster(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func newSink(t *testing.T, c *kfake.Cluster, cfg Config) *Sink {
	t.Helper()
	cfg.Brokers = c.ListenAddrs()
	if cfg.Topic.parts == nil {
		cfg.Topic, _ = ParseTopic("logs")
	}
	if cfg.DeadLetterTopic == "" {
		cfg.DeadLetterTopic = "dead"
	}
	cfg.RetryInitial, cfg.RetryMax = 10*time.Millisecond, 100*time.Millisecond
	s, err := New(cfg, zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// run runs the sink over batches until they are all settled and in is closed.
func run(t *testing.T, s *Sink, batches ...*event.Batch) {
	t.Helper()
	in := make(chan *event.Batch, len(batches))
	for _, b := range batches {
		in <- b
	}
	close(in)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.Run(ctx, in); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// consume reads every record of topics (until n are read).
func consume(t *testing.T, c *kfake.Cluster, n int, topics ...string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records from %v: %v", len(out), n, topics, err)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

func hdr(r *kgo.Record, k string) string { return string(header(r, k)) }

func TestRecordsCarryDocumentIDAndIndex(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(3, "logs"))
	s := newSink(t, c, Config{})
	b1, done1 := testBatch("logs-app-default", 1, `{"message":"a"}`, `{"message":"b"}`, `logs-db-prod {"message":"d"}`)
	b2, done2 := testBatch("logs-web-prod", 2, `{"message":"c"}`)
	run(t, s, b1, b2)
	if done1.Load() != 1 || done2.Load() != 1 {
		t.Fatalf("Done called %d and %d times, want once each", done1.Load(), done2.Load())
	}
	recs := consume(t, c, 4, "logs")
	byValue := map[string]*kgo.Record{}
	for _, r := range recs {
		byValue[string(r.Value)] = r
	}
	f := func(value, index string, hi, lo uint64) {
		t.Helper()
		r := byValue[value]
		if r == nil {
			t.Fatalf("no record %s among %d", value, len(recs))
		}
		if got, want := hdr(r, HeaderID), string(encode.AppendID(nil, hi, lo)); got != want {
			t.Errorf("record %s: id header %q, want %q", value, got, want)
		}
		if got := hdr(r, HeaderIndex); got != index {
			t.Errorf("record %s: index header %q, want %q", value, got, index)
		}
		if got, want := string(r.Key), string(appendSourceKey(nil, encode.AppendID(nil, hi, lo))); got != want {
			t.Errorf("record %s: key %q, want %q", value, got, want)
		}
	}
	f(`{"message":"a"}`, "logs-app-default", 1, 0)
	f(`{"message":"b"}`, "logs-app-default", 1, 1)
	f(`{"message":"c"}`, "logs-web-prod", 2, 0)
	f(`{"message":"d"}`, "logs-db-prod", 1, 2) // named in its action line
	// Same source, same key, same partition.
	if byValue[`{"message":"a"}`].Partition != byValue[`{"message":"b"}`].Partition {
		t.Errorf("records of one source in partitions %d and %d", byValue[`{"message":"a"}`].Partition, byValue[`{"message":"b"}`].Partition)
	}
	if st := s.Stats(); st.Produced != 4 || st.DeadLettered != 0 || st.Lost != 0 {
		t.Errorf("stats %+v, want 4 produced", st)
	}
}

func TestTopicPerDatasetAndStreamKey(t *testing.T) {
	c := newCluster(t, kfake.AllowAutoTopicCreation())
	tp, err := ParseTopic("logs-{dataset}")
	if err != nil {
		t.Fatal(err)
	}
	s := newSink(t, c, Config{Topic: tp, Key: KeyStream})
	b1, _ := testBatch("logs-app-default", 1, `{"n":1}`)
	b2, _ := testBatch("logs-web-default", 1, `{"n":2}`)
	run(t, s, b1, b2)
	for _, tc := range []struct{ topic, value, key string }{{"logs-app", `{"n":1}`, "logs-app-default"}, {"logs-web", `{"n":2}`, "logs-web-default"}} {
		recs := consume(t, c, 1, tc.topic)
		if string(recs[0].Value) != tc.value || string(recs[0].Key) != tc.key {
			t.Errorf("topic %s: record %s key %q, want %s key %q", tc.topic, recs[0].Value, recs[0].Key, tc.value, tc.key)
		}
	}
}

func TestTooLargeGoesToDeadLetterTopic(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(1, "logs", "dead"))
	s := newSink(t, c, Config{MaxRecordBytes: 100_000})
	big := `{"message":"` + strings.Repeat("x", 200_000) + `"}`
	b, done := testBatch("logs-app-default", 1, `{"message":"small"}`, big, `{"message":"after"}`)
	run(t, s, b)
	if done.Load() != 1 {
		t.Fatalf("Done called %d times, want once", done.Load())
	}
	if st := s.Stats(); st.Produced != 2 || st.DeadLettered != 1 || st.Lost != 0 {
		t.Fatalf("stats %+v, want 2 produced and 1 dead-lettered", st)
	}
	recs := consume(t, c, 1, "dead")
	r := recs[0]
	if got, want := hdr(r, HeaderID), string(encode.AppendID(nil, 1, 1)); got != want {
		t.Errorf("dead letter id %q, want %q", got, want)
	}
	if hdr(r, HeaderTopic) != "logs" || !strings.Contains(hdr(r, HeaderError), "MESSAGE_TOO_LARGE") {
		t.Errorf("dead letter headers topic=%q error=%q", hdr(r, HeaderTopic), hdr(r, HeaderError))
	}
	if hdr(r, HeaderOriginalSize) != fmt.Sprint(len(big)) || len(r.Value) != maxDeadValue {
		t.Errorf("dead letter value %d bytes, original_size %q; want %d and %d", len(r.Value), hdr(r, HeaderOriginalSize), maxDeadValue, len(big))
	}
	if got := consume(t, c, 2, "logs"); len(got) != 2 {
		t.Errorf("%d records in logs, want 2", len(got))
	}
}

// A topic that does not exist (and is not auto-created) fails the records
// in the client; the sink waits and produces them again until the topic is
// there. Nothing is acknowledged before.
func TestMissingTopicIsWaitedFor(t *testing.T) {
	c := newCluster(t)
	s := newSink(t, c, Config{})
	b, done := testBatch("logs-app-default", 1, `{"n":1}`, `{"n":2}`)
	in := make(chan *event.Batch, 1)
	in <- b
	close(in)
	errc := make(chan error, 1)
	go func() { errc <- s.Run(context.Background(), in) }()

	deadline := time.Now().Add(time.Minute)
	for s.Stats().Failures == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no failure recorded within a minute; stats %+v", s.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if done.Load() != 0 {
		t.Fatal("batch acknowledged while its topic does not exist")
	}
	if h := s.Health(); h.UnreachableSince.IsZero() || !strings.Contains(h.LastError, "UNKNOWN_TOPIC") {
		t.Errorf("health %+v: want unreachable with the unknown topic", h)
	}
	createTopic(t, c, "logs")
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("not delivered two minutes after the topic was created; stats %+v", s.Stats())
	}
	if done.Load() != 1 {
		t.Fatalf("Done called %d times", done.Load())
	}
	if st := s.Stats(); st.Produced != 2 || st.Retried < 2 {
		t.Fatalf("stats %+v: want 2 produced after at least 2 retries", st)
	}
	if got := consume(t, c, 2, "logs"); len(got) != 2 {
		t.Fatalf("%d records", len(got))
	}
}

func createTopic(t *testing.T, c *kfake.Cluster, topic string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, 1, 1
	req.Topics = append(req.Topics, rt)
	if _, err := req.RequestWith(context.Background(), cl); err != nil {
		t.Fatal(err)
	}
}

// The hard stop (ctx cancelled) leaves a batch Kafka never acknowledged
// unacknowledged: its source will read it again.
func TestHardStopLeavesUnacknowledged(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(1, "logs"))
	// Every produce request goes unanswered.
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return nil, nil, true // handled: no response
	})
	s := newSink(t, c, Config{})
	b, done := testBatch("logs-app-default", 1, `{"n":1}`)
	in := make(chan *event.Batch, 1)
	in <- b
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx, in) }()
	deadline := time.Now().Add(time.Minute)
	for s.Health().OldestBatch.IsZero() {
		if time.Now().After(deadline) {
			t.Fatal("the batch was never handed to the client")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Run returned nil after the hard stop")
		}
	case <-time.After(time.Minute):
		t.Fatal("Run did not return within a minute of the hard stop")
	}
	if done.Load() != 0 {
		t.Fatal("a batch Kafka never acknowledged was acknowledged")
	}
}

func TestEmptyBatch(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(1, "logs"))
	s := newSink(t, c, Config{})
	b, done := testBatch("logs-app-default", 1)
	run(t, s, b)
	if done.Load() != 1 {
		t.Fatalf("Done called %d times", done.Load())
	}
}

// A dead letter refused for good too (here: still too large after the cut
// to 64 KiB) is counted lost and logged, and the batch is still settled:
// never silently dropped, never a batch stuck forever.
func TestDeadLetterRefusedIsLostAndLogged(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(1, "logs", "dead"))
	s := newSink(t, c, Config{MaxRecordBytes: 10_000})
	big := `{"message":"` + strings.Repeat("y", 100_000) + `"}`
	b, done := testBatch("logs-app-default", 1, `{"message":"ok"}`, big)
	run(t, s, b)
	if done.Load() != 1 {
		t.Fatalf("Done called %d times, want once", done.Load())
	}
	if st := s.Stats(); st.Produced != 1 || st.DeadLettered != 0 || st.Lost != 1 {
		t.Fatalf("stats %+v, want 1 produced and 1 lost", st)
	}
}
