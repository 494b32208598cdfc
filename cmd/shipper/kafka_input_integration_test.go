//go:build integration

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"shipper/internal/testutil/estest"
	"shipper/internal/testutil/faultproxy"
	"shipper/internal/testutil/kafkatest"
)

// The Kafka input against a real broker (scripts/kafka.sh) and a real
// Elasticsearch: numbered lines are produced into a topic, consuming
// shippers of one group ship them, and every line must be in Elasticsearch
// exactly once, whatever happens to the consumers or to Elasticsearch.
// Short forms run inside `make test`; SHIPPER_CHAOS=full (make chaos) writes
// more lines and keeps Elasticsearch away for a minute.

// kafkaTopic creates a topic of its own with partitions partitions.
func kafkaTopic(t *testing.T, brokers []string, partitions int32) string {
	t.Helper()
	topic := kafkatest.Unique("kafkain-")
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	return topic
}

// kafkaProducer writes chaosLine(i) for i in [from, to) into topic, round-robin
// over its partitions, in chunks of chunk lines every pause. Done is closed
// when every line is acknowledged by the broker (acks=all).
type kafkaProducer struct {
	done    chan struct{}
	err     error
	written atomic.Int64
	took    time.Duration
}

func produceLines(t *testing.T, brokers []string, topic string, from, to, chunk int, pause time.Duration) *kafkaProducer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	p := &kafkaProducer{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		defer cl.Close()
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		for i := from; i < to; i += chunk {
			recs := make([]*kgo.Record, 0, chunk)
			for j := i; j < i+chunk && j < to; j++ {
				recs = append(recs, &kgo.Record{Value: []byte(chaosLine(j))})
			}
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				p.err = fmt.Errorf("produce: %w", err)
				return
			}
			p.written.Add(int64(len(recs)))
			if pause > 0 {
				time.Sleep(pause) // the pace of the writers, not a synchronisation
			}
		}
		p.took = time.Since(start)
	}()
	return p
}

// kafkaShipper is one consuming shipper process.
type kafkaShipper struct {
	cmd    *exec.Cmd
	logs   *logLines
	addr   string
	done   chan error
	exited bool
}

func startConsumerShipper(t *testing.T, esURL string, brokers []string, topic, group, dataset string, extra ...string) *kafkaShipper {
	t.Helper()
	args := []string{"--input=kafka", "--kafka-brokers=" + strings.Join(brokers, ","), "--kafka-topics=" + topic,
		"--kafka-group=" + group, "--kafka-commit-interval=200ms", "--kafka-session-timeout=6s",
		"--kafka-revoke-timeout=5s", "--kafka-rebalance-timeout=15s", "--kafka-lag-interval=1s",
		"--elasticsearch-url=" + esURL, "--dataset=" + dataset, "--http-address=127.0.0.1:0",
		"--flush-interval=200ms", "--batch-bytes=64KiB", "--shutdown-timeout=60s", "--retry-max=2s"}
	cmd := exec.Command(shipperBinary(t, false), append(args, extra...)...)
	stderr := logsOf(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &kafkaShipper{cmd: cmd, logs: stderr, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if !s.exited {
			_ = cmd.Process.Kill()
			<-s.done
		}
	})
	s.wait(t, "the status address", func() bool {
		if l := s.logs.find("serving /healthz, /readyz and /metrics"); l != nil {
			s.addr, _ = l["address"].(string)
		}
		return s.addr != ""
	})
	return s
}

// wait polls cond for up to 5 minutes; the shipper exiting meanwhile fails.
func (s *kafkaShipper) wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Minute); !cond(); {
		select {
		case err := <-s.done:
			s.exited = true
			t.Fatalf("shipper exited (%v) while waiting for %s\n%s", err, what, s.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 5 minutes\n%s", what, s.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metric returns the value of a series of /metrics, -1 when absent.
func (s *kafkaShipper) metric(name string) float64 {
	res, err := http.Get("http://" + s.addr + "/metrics")
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
			var v float64
			fmt.Sscan(f[1], &v)
			return v
		}
	}
	return -1
}

// kill ends the process with SIGKILL: nothing is committed or left.
func (s *kafkaShipper) kill(t *testing.T) {
	t.Helper()
	_ = s.cmd.Process.Kill()
	<-s.done
	s.exited = true
}

// stop sends SIGTERM and returns the exit code and the final summary.
func (s *kafkaShipper) stop(t *testing.T) (int, map[string]any) {
	t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case err = <-s.done:
		s.exited = true
	case <-time.After(3 * time.Minute):
		t.Fatalf("shipper did not exit 3 minutes after SIGTERM\n%s", s.logs)
	}
	<-s.logs.done
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	}
	return code, s.logs.find("shipper stopped")
}

// waitAllIndexed waits until index holds n documents.
func waitAllIndexed(t *testing.T, index string, n int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	got := 0
	for {
		estest.Refresh(t, index)
		if got = estest.Count(t, index, ""); got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d documents after %s, want %d", index, got, limit, n)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// checkExactlyOnce asserts that every line 0..n-1 is in index once.
func checkExactlyOnce(t *testing.T, index string, n int) {
	t.Helper()
	estest.Refresh(t, index)
	seen, other := allMessages(t, index)
	missing, dup := 0, 0
	for i := 0; i < n; i++ {
		switch c := seen[i]; {
		case c == 0:
			missing++
		case c > 1:
			dup += c - 1
		}
	}
	if missing != 0 || dup != 0 || len(seen) != n || len(other) != 0 {
		t.Errorf("%d lines produced: %d missing, %d duplicated, %d distinct, %d unexpected documents", n, missing, dup, len(seen), len(other))
	}
}

// checkCommitted asserts that the group committed every partition's end.
func checkCommitted(t *testing.T, brokers []string, topic, group string) {
	t.Helper()
	if total, parts := groupLag(t, brokers, topic, group); total != 0 {
		t.Errorf("group %s: lag %d after every consumer stopped (%s), want 0 (all delivered records committed)", group, total, parts)
	}
}

// waitCommitted waits until the group committed every partition's end: once
// the partitions of a killed consumer went to another (at the session
// timeout), the records it delivered without committing are read again,
// answered 409 and committed.
func waitCommitted(t *testing.T, brokers []string, topic, group string, limit time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		total, parts := groupLag(t, brokers, topic, group)
		if total == 0 {
			t.Logf("group %s committed every partition's end after %s", group, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > limit {
			t.Fatalf("group %s: lag %d after %s (%s), want 0", group, total, limit, parts)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// groupLag returns the group's lag on topic, in total and per partition.
func groupLag(t *testing.T, brokers []string, topic, group string) (int64, string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lags, err := adm.Lag(ctx, group)
	if err != nil {
		t.Fatalf("group lag: %v", err)
	}
	total := int64(0)
	var parts []string
	lags.Each(func(l kadm.DescribedGroupLag) {
		for _, p := range l.Lag.Sorted() {
			if p.Topic == topic {
				total += p.Lag
				parts = append(parts, fmt.Sprintf("partition %d: committed %d, end %d", p.Partition, p.Commit.At, p.End.Offset))
			}
		}
	})
	return total, strings.Join(parts, "; ")
}

func kafkaChaosLines() int {
	if chaosFull() {
		return 100000
	}
	return 6000
}

// TestChaosKafkaConsumersKilled: two consumers in one group; a second one
// joins in the middle (a rebalance), the first is SIGKILLed (its partitions
// wait for the session timeout, then move) and started again (another
// rebalance). Every line is in Elasticsearch exactly once: records read
// again were answered 409.
func TestChaosKafkaConsumersKilled(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	esURL := estest.URL(t)
	topic := kafkaTopic(t, brokers, 4)
	group := kafkatest.Unique("shipper-")
	dataset := estest.Unique("kafkain")
	index := "logs-" + dataset + "-default"
	n := kafkaChaosLines()
	prod := produceLines(t, brokers, topic, 0, n, n/75, 200*time.Millisecond)

	a := startConsumerShipper(t, esURL, brokers, topic, group, dataset)
	a.wait(t, "first documents delivered by the first consumer", func() bool { return a.metric("shipper_records_acked_total") > 0 })
	b := startConsumerShipper(t, esURL, brokers, topic, group, dataset)
	b.wait(t, "a rebalance giving the second consumer partitions", func() bool { return b.metric("shipper_kafka_partitions_assigned_total") > 0 })
	b.wait(t, "documents delivered by the second consumer", func() bool { return b.metric("shipper_records_acked_total") > 0 })
	a.kill(t)
	t.Logf("first consumer killed with %d of %d lines produced", prod.written.Load(), n)
	a = startConsumerShipper(t, esURL, brokers, topic, group, dataset)
	a.wait(t, "the restarted consumer getting partitions", func() bool { return a.metric("shipper_kafka_partitions_assigned_total") > 0 })

	<-prod.done
	if prod.err != nil {
		t.Fatal(prod.err)
	}
	waitAllIndexed(t, index, n, 5*time.Minute)
	codeA, sumA := a.stop(t)
	codeB, sumB := b.stop(t)
	if codeA != 0 || codeB != 0 {
		t.Errorf("exit codes %d and %d, want 0 and 0\n%s\n%s", codeA, codeB, a.logs, b.logs)
	}
	t.Logf("restarted consumer: indexed %d, duplicates (409) %d; second consumer: indexed %d, duplicates %d",
		num(sumA, "indexed"), num(sumA, "duplicates"), num(sumB, "indexed"), num(sumB, "duplicates"))
	checkExactlyOnce(t, index, n)
	checkCommitted(t, brokers, topic, group)
}

// TestChaosKafkaElasticsearchDown: Elasticsearch refuses connections for a
// while (a minute in the full form) as lines keep coming into Kafka. The
// writers never wait for Elasticsearch; the consumers' lag grows, they
// catch up once it is back, and nothing is lost or doubled.
func TestChaosKafkaElasticsearchDown(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	proxy, err := faultproxy.New(estest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	topic := kafkaTopic(t, brokers, 4)
	group := kafkatest.Unique("shipper-")
	dataset := estest.Unique("kafkain")
	index := "logs-" + dataset + "-default"
	n := kafkaChaosLines()
	outage := 5 * time.Second
	if chaosFull() {
		outage = time.Minute
	}

	a := startConsumerShipper(t, proxy.URL(), brokers, topic, group, dataset)
	b := startConsumerShipper(t, proxy.URL(), brokers, topic, group, dataset)
	// Half the lines before the outage, the other half during it.
	prod := produceLines(t, brokers, topic, 0, n/2, n/20, 0)
	<-prod.done
	if prod.err != nil {
		t.Fatal(prod.err)
	}
	a.wait(t, "first documents delivered", func() bool {
		return a.metric("shipper_records_acked_total")+b.metric("shipper_records_acked_total") > 0
	})
	if err := proxy.Set(faultproxy.Fault{Refuse: true}); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	prod = produceLines(t, brokers, topic, n/2, n, n/20, 0)
	<-prod.done
	if prod.err != nil {
		t.Fatal(prod.err)
	}
	if time.Since(down) >= outage {
		t.Logf("the writers took %s, longer than the outage of %s: the outage is over before they finished", time.Since(down), outage)
	}
	// The lag grows while Elasticsearch is away.
	a.wait(t, "consumer lag reported during the outage", func() bool {
		return a.metric("shipper_kafka_consumer_lag_sum")+b.metric("shipper_kafka_consumer_lag_sum") > 0
	})
	for time.Since(down) < outage {
		time.Sleep(100 * time.Millisecond) // the length of the outage, not a synchronisation
	}
	if err := proxy.Set(faultproxy.Fault{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("Elasticsearch refused for %s; writers wrote %d lines meanwhile in %s", time.Since(down).Round(time.Millisecond), n-n/2, prod.took.Round(time.Millisecond))
	waitAllIndexed(t, index, n, 5*time.Minute)
	a.wait(t, "the lag back to 0", func() bool {
		return a.metric("shipper_kafka_consumer_lag_sum") == 0 && b.metric("shipper_kafka_consumer_lag_sum") == 0
	})
	codeA, _ := a.stop(t)
	codeB, _ := b.stop(t)
	if codeA != 0 || codeB != 0 {
		t.Errorf("exit codes %d and %d, want 0 and 0\n%s\n%s", codeA, codeB, a.logs, b.logs)
	}
	checkExactlyOnce(t, index, n)
	checkCommitted(t, brokers, topic, group)
}

// TestChaosKafkaRebalanceElasticsearchDown: two consumers in one group
// hold records they cannot deliver, Elasticsearch refusing connections;
// one of them is stopped (SIGTERM, its shutdown deadline passes with its
// records undelivered, their offsets not committed) and the other takes
// its partitions over while Elasticsearch is still away, reading those
// records again from the committed offsets. Once Elasticsearch is back
// every line is in it exactly once: what was read twice carries the same
// ids and is answered 409, and the group's lag ends at 0.
func TestChaosKafkaRebalanceElasticsearchDown(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	proxy, err := faultproxy.New(estest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	topic := kafkaTopic(t, brokers, 4)
	group := kafkatest.Unique("shipper-")
	dataset := estest.Unique("kafkain")
	index := "logs-" + dataset + "-default"
	n := kafkaChaosLines()

	a := startConsumerShipper(t, proxy.URL(), brokers, topic, group, dataset, "--shutdown-timeout=3s")
	b := startConsumerShipper(t, proxy.URL(), brokers, topic, group, dataset)
	b.wait(t, "partitions for both consumers", func() bool {
		return a.metric("shipper_kafka_partitions_assigned_total") > 0 && b.metric("shipper_kafka_partitions_assigned_total") > 0
	})
	prod := produceLines(t, brokers, topic, 0, n/2, n/20, 0)
	<-prod.done
	if prod.err != nil {
		t.Fatal(prod.err)
	}
	a.wait(t, "documents delivered by both consumers", func() bool {
		return a.metric("shipper_records_acked_total") > 0 && b.metric("shipper_records_acked_total") > 0
	})
	if err := proxy.Set(faultproxy.Fault{Refuse: true}); err != nil {
		t.Fatal(err)
	}
	prod = produceLines(t, brokers, topic, n/2, n, n/20, 0)
	<-prod.done
	if prod.err != nil {
		t.Fatal(prod.err)
	}
	a.wait(t, "records waiting for Elasticsearch in both consumers", func() bool {
		return a.metric("shipper_records_undelivered") > 0 && b.metric("shipper_records_undelivered") > 0
	})
	assignedB := b.metric("shipper_kafka_partitions_assigned_total")
	codeA, sumA := a.stop(t)
	if codeA != exitUndelivered || num(sumA, "records_undelivered") <= 0 {
		t.Errorf("stopped consumer: exit code %d and %d records undelivered, want %d and some (Elasticsearch was down)\n%s",
			codeA, num(sumA, "records_undelivered"), exitUndelivered, a.logs)
	}
	b.wait(t, "the remaining consumer taking the stopped one's partitions", func() bool {
		return b.metric("shipper_kafka_partitions_assigned_total") > assignedB
	})
	if err := proxy.Set(faultproxy.Fault{}); err != nil {
		t.Fatal(err)
	}
	waitAllIndexed(t, index, n, 5*time.Minute)
	b.wait(t, "the lag back to 0", func() bool { return b.metric("shipper_kafka_consumer_lag_sum") == 0 })
	codeB, sumB := b.stop(t)
	if codeB != exitDelivered {
		t.Errorf("remaining consumer: exit code %d, want %d\n%s", codeB, exitDelivered, b.logs)
	}
	t.Logf("stopped consumer: indexed %d, %d undelivered; remaining consumer: indexed %d, duplicates (409) %d",
		num(sumA, "indexed"), num(sumA, "records_undelivered"), num(sumB, "indexed"), num(sumB, "duplicates"))
	// A line is indexed once; every other attempt at it is a 409. Some
	// were indexed by a request whose answer was cut when Elasticsearch
	// went away, counted by neither consumer, and met 409 later.
	indexed := num(sumA, "indexed") + num(sumB, "indexed")
	settled := indexed + num(sumA, "duplicates") + num(sumB, "duplicates")
	if indexed > int64(n) || settled < int64(n) {
		t.Errorf("indexed %d and indexed or found already indexed %d, want at most and at least %d", indexed, settled, n)
	}
	checkExactlyOnce(t, index, n)
	checkCommitted(t, brokers, topic, group)
}

// startEdgeShipper starts a shipper writing to Kafka (--output=kafka) with
// the given input arguments.
func startEdgeShipper(t *testing.T, brokers []string, topic, dataset string, args ...string) *kafkaShipper {
	t.Helper()
	args = append([]string{"--output=kafka", "--kafka-brokers=" + strings.Join(brokers, ","), "--kafka-topic=" + topic,
		"--dataset=" + dataset, "--http-address=127.0.0.1:0", "--flush-interval=200ms", "--batch-bytes=64KiB",
		"--shutdown-timeout=60s"}, args...)
	cmd := exec.Command(shipperBinary(t, false), args...)
	stderr := logsOf(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &kafkaShipper{cmd: cmd, logs: stderr, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if !s.exited {
			_ = cmd.Process.Kill()
			<-s.done
		}
	})
	s.wait(t, "the status address", func() bool {
		if l := s.logs.find("serving /healthz, /readyz and /metrics"); l != nil {
			s.addr, _ = l["address"].(string)
		}
		return s.addr != ""
	})
	return s
}

// TestChaosKafkaEndToEnd: a file and a Fluent Forward client feed two
// edge shippers writing to Kafka; two consumers (one killed and restarted
// in the middle) index the topic. Every line is in Elasticsearch exactly
// once, as the document the edge made of it (its input.type, no kafka.*
// fields: not wrapped a second time).
func TestChaosKafkaEndToEnd(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	esURL := estest.URL(t)
	topic := kafkaTopic(t, brokers, 4)
	group := kafkatest.Unique("shipper-")
	dataset := estest.Unique("kafkae2e")
	index := "logs-" + dataset + "-default"
	// Lines [0, half) go through the file, [half, n) through Forward.
	n := kafkaChaosLines() / 3
	half := n / 2
	if chaosFull() {
		n, half = 31000, 30000
	}
	start := time.Now()

	// The file edge: lines 0..half-1, appended while everything runs.
	dir := t.TempDir()
	path := dir + "/app.log"
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fileEdge := startEdgeShipper(t, brokers, topic, dataset, "--input=file", "--file-paths="+dir+"/*.log",
		"--file-format=plain", "--state-dir="+t.TempDir())
	// The Forward edge: lines half..n-1.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	fwdEdge := startEdgeShipper(t, brokers, topic, dataset, "--input=forward", "--forward-address=127.0.0.1:"+strconv.Itoa(port))
	fwdEdge.wait(t, "the Forward input listening", func() bool { return fwdEdge.logs.find("Fluent Forward input listening") != nil })

	a := startConsumerShipper(t, esURL, brokers, topic, group, dataset)
	b := startConsumerShipper(t, esURL, brokers, topic, group, dataset)

	// The client waits for each record's ack (sent once Kafka has the
	// record): about a hundred records a second, so the Forward part is
	// kept short and the file carries the rest.
	logger, err := fluent.New(fluent.Config{FluentHost: "127.0.0.1", FluentPort: port, RequestAck: true,
		BufferLimit: 8 << 20, RetryWait: 500, MaxRetry: math.MaxInt32, ReadTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer logger.Close()
	killed := false
	for i := 0; i < half; i++ {
		if _, err := f.WriteString(chaosLine(i) + "\n"); err != nil {
			t.Fatal(err)
		}
		if i < n-half {
			if err := logger.Post("app", map[string]string{"log": chaosLine(half + i)}); err != nil {
				t.Fatalf("forward post %d: %v", i, err)
			}
		}
		if i == half/2 && !killed {
			a.wait(t, "documents delivered by the first consumer", func() bool { return a.metric("shipper_records_acked_total") > 0 })
			a.kill(t)
			killed = true
			a = startConsumerShipper(t, esURL, brokers, topic, group, dataset)
		}
	}
	t.Logf("%d lines written in %s (a consumer killed and restarted meanwhile)", n, time.Since(start).Round(time.Millisecond))
	waitAllIndexed(t, index, n, 5*time.Minute)
	t.Logf("all indexed after %s", time.Since(start).Round(time.Millisecond))
	// The killed consumer's last deliveries were not committed; its
	// partitions move at the session timeout, which may come after the
	// last line is indexed. Stopping the group before that would leave
	// them to the next start.
	waitCommitted(t, brokers, topic, group, 2*time.Minute)
	for _, s := range []*kafkaShipper{fileEdge, fwdEdge, a, b} {
		if code, _ := s.stop(t); code != 0 {
			t.Errorf("exit code %d, want 0\n%s", code, s.logs)
		}
	}
	checkExactlyOnce(t, index, n)
	checkCommitted(t, brokers, topic, group)
	for _, q := range []struct {
		query string
		want  int
	}{
		{`{"term":{"input.type":"file"}}`, half},
		{`{"term":{"input.type":"forward"}}`, n - half},
		{`{"exists":{"field":"kafka.topic"}}`, 0},
	} {
		if got := estest.Count(t, index, q.query); got != q.want {
			t.Errorf("%s: %d documents, want %d", q.query, got, q.want)
		}
	}
}
