package kafka

import (
	"context"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestFetchSizerKeepsResponsesWithinLimit feeds the sizer batches of one
// shape and checks that a response of the size it asks for, made of such
// batches, decodes to no more than the limit once the sizer has seen one
// batch, for compressed and uncompressed batches, small and large records.
func TestFetchSizerKeepsResponsesWithinLimit(t *testing.T) {
	const limit = 2 << 20
	f := func(name string, m kgo.FetchBatchMetrics) {
		t.Helper()
		z := newFetchSizer(limit)
		wire, decoded := decodedCost(m)
		if first := max(1, int64(z.asked)/wire) * decoded; first > limit && int64(z.asked) > wire {
			t.Errorf("%s: the first response would decode to %d bytes, above the %d limit", name, first, limit)
		}
		for i := 0; i < 200; i++ {
			z.observe(m)
			asked, _ := z.stats()
			batches := max(1, int64(asked)/wire) // a response holds at least one batch
			if got := batches * decoded; got > limit && batches > 1 {
				t.Fatalf("%s: after %d batches the sizer asks for %d bytes: %d batches decoding to %d bytes, above the %d limit",
					name, i+1, asked, batches, got, limit)
			}
		}
		// Having seen only this shape for long, it asks for what keeps
		// the limit, not much less.
		asked, _ := z.stats()
		if got := (int64(asked)/wire + 1) * decoded; got < limit/2 && int64(asked) < limit {
			t.Errorf("%s: the sizer settled on %d bytes, which decode to %d, under half the %d limit", name, asked, got, limit)
		}
	}
	// Snappy batches of 400-byte log lines (ratio of 2.5).
	f("snappy", kgo.FetchBatchMetrics{NumRecords: 100, UncompressedBytes: 100 * 420, CompressedBytes: 100 * 420 * 2 / 5, CompressionType: 2})
	// A shipper's documents, uncompressed.
	f("none", kgo.FetchBatchMetrics{NumRecords: 50, UncompressedBytes: 50 * 760, CompressedBytes: 50 * 760})
	// Small, very compressible records: the record structs dominate.
	f("zstd-small", kgo.FetchBatchMetrics{NumRecords: 1000, UncompressedBytes: 1000 * 60, CompressedBytes: 1000 * 3, CompressionType: 4})
	// One huge record: a response is that batch, whatever the size asked.
	f("one-large", kgo.FetchBatchMetrics{NumRecords: 1, UncompressedBytes: 8 << 20, CompressedBytes: 8 << 20})
}

// TestFetchSizerFollowsTheRatio: the size asked falls at once when batches
// decode to more than before and rises back slowly.
func TestFetchSizerFollowsTheRatio(t *testing.T) {
	z := newFetchSizer(2 << 20)
	plain := kgo.FetchBatchMetrics{NumRecords: 50, UncompressedBytes: 50 * 760, CompressedBytes: 50 * 760}
	dense := kgo.FetchBatchMetrics{NumRecords: 1000, UncompressedBytes: 1000 * 60, CompressedBytes: 1000 * 3, CompressionType: 4}
	for range 500 {
		z.observe(plain)
	}
	high, _ := z.stats()
	n, changed := z.observe(dense)
	if !changed || n >= high {
		t.Fatalf("after a denser batch the sizer asks for %d bytes (changed %v), want less than %d", n, changed, high)
	}
	w, d := decodedCost(dense)
	if got := float64(n) * float64(d) / float64(w); got > 2<<20 {
		t.Errorf("after a denser batch a response would decode to %.0f bytes, above the limit", got)
	}
	z.observe(plain)
	if n2, _ := z.stats(); n2 > n+n/4 {
		t.Errorf("one plain batch after a dense one raised the size asked from %d to %d at once", n, n2)
	}
}

// TestSourceFetchedBytesWithinLimit consumes a backlog of gzip batches,
// which decode to several times their size on the wire, with the pipeline
// full for a while: the most one fetch response took once decoded, as the
// client's batch metrics count it, stays within FetchMaxBytes, and the
// size asked of Kafka was lowered below it to get there.
func TestSourceFetchedBytesWithinLimit(t *testing.T) {
	brokers := newCluster(t, 4, "logs")
	const n = 30000
	{
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic("logs"),
			kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
			kgo.ProducerBatchCompression(kgo.GzipCompression()), kgo.ProducerBatchMaxBytes(16<<10))
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewSource(1))
		recs := make([]*kgo.Record, 0, n)
		for i := 0; i < n; i++ {
			v := fmt.Sprintf(`{"level":"info","msg":"request served","path":"/api/v1/items/%d","status":200,"trace":"%016x","n":%06d}`,
				rng.Intn(1000), rng.Uint64(), i)
			recs = append(recs, &kgo.Record{Value: []byte(v)})
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err = cl.ProduceSync(ctx, recs...).FirstErr()
		cancel()
		cl.Close()
		if err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	const limit = 256 << 10
	sink := newFakeSink()
	sink.hold.Store(true)
	c := startConsumer(t, brokers, "logs", "g", sink, Config{FetchMaxBytes: limit})
	waitFor(t, 2*time.Minute, func() string { return fmt.Sprintf("no pause; %d records taken", c.src.Stats().Records) },
		func() bool { return c.src.Stats().Paused > 0 })
	sink.release()
	waitFor(t, 2*time.Minute, func() string { d, _ := sink.distinct(); return fmt.Sprintf("%d of %d lines delivered", d, n) },
		func() bool { d, _ := sink.distinct(); return d == n })
	c.stop(t)
	// Two responses at most (the one being queued and the next): what
	// config.Config.InputBufferBytes counts.
	if got := c.src.cl.OptValue(kgo.MaxConcurrentFetches); got != 1 {
		t.Errorf("the client allows %v fetches in flight or buffered, want 1", got)
	}
	st := c.src.Stats()
	if st.FetchDecodedMax <= 0 || st.FetchDecodedMax > limit {
		t.Errorf("largest fetch response decoded to %d bytes, want within the %d limit (and some)", st.FetchDecodedMax, limit)
	}
	if st.FetchBytes >= limit/2 {
		t.Errorf("the fetch size asked is %d bytes, want well below the %d limit for batches that decode to several times their size", st.FetchBytes, limit)
	}
	t.Logf("fetch size asked %d bytes, largest response %d bytes decoded (limit %d)", st.FetchBytes, st.FetchDecodedMax, limit)
}
