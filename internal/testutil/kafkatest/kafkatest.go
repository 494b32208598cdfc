// Package kafkatest is the harness of the integration tests that talk to a
// real Kafka broker. Those tests carry the build tag `integration` and read the
// broker list from KAFKA_BROKERS; `make test-integration` starts a throw-away
// single-node broker (KRaft, loopback) with scripts/kafka.sh and sets it.
//
// Tests that need a broker of their own (to stop or kill it) call Start, which
// runs scripts/kafka.sh with a private state file.
package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// EnvBrokers is the environment variable holding the comma-separated broker
// addresses (host:port).
const EnvBrokers = "KAFKA_BROKERS"

// inCI reports whether we run in CI, where a missing broker is an error.
func inCI() bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv("CI")))
	return v != "" && v != "false" && v != "0"
}

// Brokers returns the addresses in KAFKA_BROKERS. When it is unset the test is
// skipped, or fails when CI is set: there a missing broker is a broken
// harness, not a reason to skip.
func Brokers(t testing.TB) []string {
	t.Helper()
	v := strings.TrimSpace(os.Getenv(EnvBrokers))
	if v == "" {
		msg := EnvBrokers + " is not set: run `make test-integration`, which starts a real Kafka broker " +
			"(scripts/kafka.sh run -- go test -tags integration ...)"
		if inCI() {
			t.Fatal(msg + " [CI is set: failing instead of skipping]")
		}
		t.Skip(msg)
	}
	var out []string
	for _, b := range strings.Split(v, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// Unique returns prefix followed by 8 random hex digits: topic names that no
// other test (or package running in parallel against the same broker) uses.
func Unique(prefix string) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b[:])
}

// Broker is a broker of the test's own, started by Start.
type Broker struct {
	// Brokers is the address list to connect to.
	Brokers []string
	t       testing.TB
	script  string
	state   string
}

// Start starts a private single-node broker with scripts/kafka.sh (a state
// file in t.TempDir()) and stops it when the test ends. It is skipped (or
// fails in CI) like Brokers when KAFKA_BROKERS is unset: that variable says
// the harness can run a broker here. A start takes ~10-20 s.
func Start(t testing.TB) *Broker {
	t.Helper()
	Brokers(t)
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "..", "scripts", "kafka.sh")
	b := &Broker{t: t, script: script, state: filepath.Join(t.TempDir(), "kafka.state")}
	b.Brokers = []string{b.run("start")}
	t.Cleanup(func() { b.run("stop") })
	return b
}

// Restart stops the broker (SIGKILL when kill is set, else SIGTERM) and starts
// it again on the same port with the same data; it returns once the broker
// serves again.
func (b *Broker) Restart(kill bool) {
	b.t.Helper()
	if kill {
		b.run("restart", "--kill")
	} else {
		b.run("restart")
	}
}

func (b *Broker) run(args ...string) string {
	b.t.Helper()
	cmd := exec.Command(b.script, args...)
	cmd.Env = append(os.Environ(), "SHIPPER_KAFKA_STATE="+b.state)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		b.t.Fatalf("kafka.sh %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	b.t.Logf("kafka.sh %s: %s", strings.Join(args, " "), strings.TrimSpace(stderr.String()))
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "export "+EnvBrokers+"="))
}

// ReadAll returns every record of topic up to the end of each partition at
// the time of the call (the high watermark: what acks=all acknowledged), in
// partition then offset order. A topic that does not exist yet has no
// records.
func ReadAll(t testing.TB, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	meta, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	ends, err := endOffsets(ctx, meta, topic)
	meta.Close()
	if err != nil {
		t.Fatalf("end offsets of topic %s: %v", topic, err)
	}
	want := map[int32]kgo.Offset{}
	var total int64
	for p, end := range ends {
		if end > 0 {
			want[p] = kgo.NewOffset().AtStart()
			total += end
		}
	}
	if total == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: want}),
		kgo.FetchMaxBytes(64<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	byPart := map[int32][]*kgo.Record{}
	done := func() bool {
		for p, end := range ends {
			if n := len(byPart[p]); end > 0 && (n == 0 || byPart[p][n-1].Offset < end-1) {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading topic %s up to %v: %v", topic, ends, ctx.Err())
		}
		fs.EachError(func(_ string, p int32, err error) { t.Logf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < ends[r.Partition] {
				byPart[r.Partition] = append(byPart[r.Partition], r)
			}
		})
	}
	var out []*kgo.Record
	for p := int32(0); p < int32(len(ends)); p++ {
		out = append(out, byPart[p]...)
	}
	return out
}

// endOffsets returns the high watermark of every partition of topic; none
// when the topic does not exist.
func endOffsets(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	mreq := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	mreq.Topics = append(mreq.Topics, mt)
	mresp, err := mreq.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if len(mresp.Topics) != 1 {
		return nil, fmt.Errorf("metadata for %d topics", len(mresp.Topics))
	}
	if err := kerr.ErrorForCode(mresp.Topics[0].ErrorCode); err != nil {
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			return nil, nil
		}
		return nil, err
	}
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for _, p := range mresp.Topics[0].Partitions {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = p.Partition, -1 // latest
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	ends := map[int32]int64{}
	for _, tp := range resp.Topics {
		for _, p := range tp.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return nil, fmt.Errorf("partition %d: %w", p.Partition, err)
			}
			ends[p.Partition] = p.Offset
		}
	}
	return ends, nil
}

// Header returns the value of the record header key (nil when absent).
func Header(r *kgo.Record, key string) []byte {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value
		}
	}
	return nil
}

// Count returns the number of records in topic: the sum of its partitions'
// high watermarks (the topic is never compacted or trimmed in tests).
func Count(t testing.TB, brokers []string, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := endOffsets(ctx, cl, topic)
	if err != nil {
		t.Fatalf("end offsets of topic %s: %v", topic, err)
	}
	var n int64
	for _, e := range ends {
		n += e
	}
	return n
}
